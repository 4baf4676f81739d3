"""ArgoCD history → the deploys of the last 24 h, each with its delay to the onset and who made it;
what runs now is marked CURRENT. The deploy closest before the onset comes first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Deploy

RECENT = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class DeployDigest:
    evidence_id: str
    deploy: Deploy
    before_onset: timedelta | None  # onset - deployed_at (negative: after the onset)

    @property
    def near_onset(self) -> bool:
        return self.before_onset is not None and timedelta(minutes=-2) <= self.before_onset <= timedelta(hours=2)

    def line(self, *, fmt_time: Callable[[datetime], str]) -> str:
        d = self.deploy
        revision = " + ".join(d.revisions) if d.revisions else d.revision
        text = (f"[{self.evidence_id}] app {d.app} history_id {d.history_id}: {d.name} revision {revision} "
                f"deployed {fmt_time(d.deployed_at)}")
        if d.initiated_by:
            text += f" by {d.initiated_by}"
        if self.before_onset is not None:
            text += f", {_gap(self.before_onset)} the onset"
        return text + (" (CURRENT)" if d.current else " (previous)")


def digest_deploys(deploys: list[tuple[str, Deploy]], *, onset: datetime | None,
                   now: datetime) -> list[DeployDigest]:
    """Recent deploys (plus the one before the oldest recent one, the rollback target), the one
    closest before the onset first, then newest first."""
    ordered = sorted(deploys, key=lambda pair: pair[1].deployed_at)
    recent = [i for i, (_, d) in enumerate(ordered) if now - d.deployed_at <= RECENT or d.current]
    keep = set(recent) | ({recent[0] - 1} if recent and recent[0] > 0 else set())
    if not keep and ordered:
        keep = {len(ordered) - 1}
    items = [DeployDigest(ordered[i][0], ordered[i][1], onset - ordered[i][1].deployed_at if onset else None)
             for i in sorted(keep)]
    return sorted(items, key=lambda x: (not x.near_onset, -x.deploy.deployed_at.timestamp()))


def _gap(delta: timedelta) -> str:
    seconds = abs(delta.total_seconds())
    amount = f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
    return f"{amount} before" if delta >= timedelta(0) else f"{amount} after"
