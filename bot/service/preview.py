"""What an action would change, said before anyone approves it: for a rollback, the deploy it goes
back to, the exact change in images and configuration (from the manifests the collector read), and
what happens to ArgoCD's auto-sync first. Configuration values are redacted like any evidence;
Secret keys are named, never valued."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.deploy_history import current_deploy, find_rollback_target
from bot.digest.redact import redact_text
from bot.manifests import describe_changes
from bot.models import Action, ActionKind, Deploy

MAX_LINES = 8


def change_preview(action: Action, history: Sequence[Deploy], *, suspend_auto_sync: bool) -> list[str]:
    """Lines for the approval request; empty for actions without a preview."""
    if action.kind is not ActionKind.ROLLBACK or not history:
        return []
    app = action.target.app or action.target.service
    target = find_rollback_target(history, wanted=str(action.params.get("to_revision", "")),
                                  history_id=action.params.get("history_id"), app=app)
    current = current_deploy([d for d in history if d.app == app])
    if isinstance(target, str) or current is None:
        return []
    by = {None: "", "automated": " by auto-sync"}.get(target.initiated_by, f" by {target.initiated_by}")
    lines = [f"Goes back from {current.ref} to {target.ref}, deployed {target.deployed_at:%Y-%m-%d %H:%M} UTC{by}."]
    lines.append(_changes_line(target, current, history))
    if current.auto_sync is not None:
        settings = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(current.auto_sync.items()) if k != "enabled")
        was = f" ({settings})" if settings else ""
        lines.append(f"Auto-sync is on{was}: Sitrep turns it off first, then rolls back; turn it back on once "
                     "git has the fix." if suspend_auto_sync else
                     f"Auto-sync is on{was}: ArgoCD refuses the rollback until someone turns it off.")
    return [redact_text(line) for line in lines][:MAX_LINES]


def _changes_line(target: Deploy, current: Deploy, history: Sequence[Deploy]) -> str:
    ordered = sorted((d for d in history if d.app == current.app), key=lambda d: (d.deployed_at, d.history_id))
    before_current = ordered[ordered.index(current) - 1] if current in ordered and ordered.index(current) else None
    if before_current is None or before_current.history_id != target.history_id:
        return (f"This rollback changes: unknown — Sitrep compared only {current.name} with the deploy "
                "before it; more than one deploy would be undone.")
    if current.changes is None:
        why = current.changes_note or "the manifests were not read"
        return f"This rollback changes: unknown — the manifests could not be read ({why})."
    undone = [change.reversed() for change in current.changes]
    return "This rollback changes: " + describe_changes(undone, limit=6) + "."
