"""Did the fix work? After an execution, re-query the symptom a few times and say "recovered" or
"still failing — next option: …" in the thread, and on the timeline.

The symptom is the service's p99 latency and error ratio from Prometheus: the last value is compared
with the baseline (the median of the hour before the incident, or of the window's first half).
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

import structlog

from bot.collectors.base import Collector
from bot.markdown import PLAIN, describe_action
from bot.models import Action, InvestigationRequest, MetricSeries, SourceName, SourceStatus, TimelineEventType
from bot.store.incidents import IncidentStore

log = structlog.get_logger(__name__)

#: the series that tell whether users still suffer
SYMPTOMS = ("p99_latency", "error_ratio")
#: a symptom counts as recovered within this factor of its baseline (plus a small absolute floor)
RECOVERED_FACTOR = 1.5
WORSE_FACTOR = 1.2


class VerdictState(StrEnum):
    RECOVERED = "recovered"
    STILL_FAILING = "still_failing"
    WORSE = "worse"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    state: VerdictState
    detail: str  # "p99_latency 8.2 s → 210 ms (baseline 200 ms)"
    next_option: str | None = None


class VerificationNotifier(Protocol):
    async def verification_result(self, *, incident_id: int, proposal_id: int, verdict: Verdict,
                                  final: bool) -> None: ...


def judge(series: Sequence[MetricSeries], *, at_execution: Mapping[str, float] | None = None) -> Verdict:
    """Compare the latest value of each symptom with its baseline."""
    findings: list[tuple[VerdictState, str]] = []
    for s in series:
        if s.name not in SYMPTOMS:
            continue
        values = [v for _, v in s.points if math.isfinite(v)]
        if len(values) < 4:
            continue
        baseline = statistics.median(values[: len(values) // 2])
        latest = values[-1]
        floor = 0.05 if s.name == "p99_latency" else 0.005
        detail = f"{s.name} now {_fmt(s.name, latest)} (baseline {_fmt(s.name, baseline)})"
        before = (at_execution or {}).get(s.name)
        if latest <= baseline * RECOVERED_FACTOR + floor:
            findings.append((VerdictState.RECOVERED, detail))
        elif before is not None and latest > before * WORSE_FACTOR:
            findings.append((VerdictState.WORSE, detail + f", {_fmt(s.name, before)} at execution"))
        else:
            findings.append((VerdictState.STILL_FAILING, detail))
    if not findings:
        return Verdict(VerdictState.UNKNOWN, "no p99 latency or error ratio data to compare")
    for state in (VerdictState.WORSE, VerdictState.STILL_FAILING):
        if any(f[0] is state for f in findings):
            return Verdict(state, "; ".join(d for _, d in findings))
    return Verdict(VerdictState.RECOVERED, "; ".join(d for _, d in findings))


def _fmt(name: str, value: float) -> str:
    if name == "error_ratio":
        return f"{value * 100:.1f}%"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


class Verifier:
    def __init__(
        self,
        *,
        collectors: Mapping[SourceName, Collector | None],
        incidents: IncidentStore,
        notifier: VerificationNotifier | None = None,
        delays: Sequence[float] = (60.0, 180.0, 300.0),
        window: timedelta = timedelta(minutes=60),
    ) -> None:
        self._prometheus = collectors.get(SourceName.PROMETHEUS)
        self._incidents = incidents
        self.notifier = notifier
        self._delays = tuple(delays)
        self._window = window

    async def check(self, action: Action) -> Verdict:
        if self._prometheus is None:
            return Verdict(VerdictState.UNKNOWN, "Prometheus is not configured (set PROMETHEUS_URL)")
        request = InvestigationRequest.for_last(action.target.service, since=self._window,
                                                namespace=action.target.namespace)
        result = await self._prometheus.collect(request)
        if result.status is not SourceStatus.OK:
            return Verdict(VerdictState.UNKNOWN, result.describe())
        series = [e.payload for e in result.evidence if isinstance(e.payload, MetricSeries)]
        return judge(series)

    async def run(self, *, incident_id: int, proposal_id: int, action: Action,
                  next_options: Sequence[Action] = ()) -> Verdict:
        """Check after each delay; stop at the first recovery. Posts the final verdict."""
        await self._event(incident_id, TimelineEventType.VERIFICATION_SCHEDULED, proposal_id=proposal_id,
                          delays_s=list(self._delays))
        verdict = Verdict(VerdictState.UNKNOWN, "not checked")
        for i, delay in enumerate(self._delays):
            await asyncio.sleep(delay)
            verdict = await self.check(action)
            final = verdict.state is VerdictState.RECOVERED or i == len(self._delays) - 1
            if final and verdict.state is not VerdictState.RECOVERED and next_options:
                verdict = Verdict(verdict.state, verdict.detail,
                                  next_option=describe_action(next_options[0], style=PLAIN))
            await self._event(incident_id, TimelineEventType.VERIFICATION_RESULT, proposal_id=proposal_id,
                              state=verdict.state.value, detail=verdict.detail, final=final,
                              next_option=verdict.next_option)
            if final:
                if self.notifier is not None:
                    await self.notifier.verification_result(incident_id=incident_id, proposal_id=proposal_id,
                                                            verdict=verdict, final=True)
                break
        log.info("verification_finished", incident_id=incident_id, proposal_id=proposal_id,
                 state=verdict.state.value)
        return verdict

    async def _event(self, incident_id: int, type: TimelineEventType, **data: object) -> None:
        await asyncio.to_thread(self._incidents.add_event, incident_id, type, data=dict(data))
