"""Was the brief right? Feedback from the people who read it, and the figures it adds up to."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.models import Brief, Confidence, TimelineEventType, utcnow
from bot.policy.context import as_utc
from bot.store.incidents import IncidentStore
from bot.store.tables import BriefRow, FeedbackRow, TimelineEventRow


@dataclass(frozen=True, slots=True)
class Stats:
    briefs: int
    rated: int
    correct: int
    high_rated: int
    high_wrong: int
    brief_seconds: list[float]
    cost_usd: float

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.rated if self.rated else None

    @property
    def false_high_rate(self) -> float | None:
        return self.high_wrong / self.high_rated if self.high_rated else None

    def percentile(self, q: float) -> float | None:
        if not self.brief_seconds:
            return None
        ordered = sorted(self.brief_seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def describe(self) -> str:
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{value * 100:.0f}%"

        def secs(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} s"

        return "\n".join([
            f"Briefs: {self.briefs} · rated: {self.rated}",
            f"Root cause correct: {pct(self.accuracy)} ({self.correct}/{self.rated})",
            f"HIGH confidence but wrong: {pct(self.false_high_rate)} ({self.high_wrong}/{self.high_rated})",
            f"Time to brief: p50 {secs(self.percentile(0.5))} · p90 {secs(self.percentile(0.9))}",
            f"Model cost: ${self.cost_usd:.4f}",
        ])


class FeedbackService:
    def __init__(self, store: IncidentStore) -> None:
        self._store = store
        self._engine: Engine = store.engine

    async def record(self, incident_id: int, *, user: str, correct: bool, actual_cause: str | None = None) -> None:
        await asyncio.to_thread(self._record, incident_id, user, correct, actual_cause)
        await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.FEEDBACK_GIVEN, actor=user,
                                data={"correct": correct, "actual_cause": actual_cause})

    def _record(self, incident_id: int, user: str, correct: bool, actual_cause: str | None) -> None:
        self._store.get(incident_id)  # raises IncidentNotFoundError
        with Session(self._engine) as session:
            row = session.exec(select(FeedbackRow).where(FeedbackRow.incident_id == incident_id)
                               .where(FeedbackRow.user_id == user)).first()
            row = row or FeedbackRow(incident_id=incident_id, user_id=user, correct=correct)
            row.correct, row.actual_cause, row.at = correct, actual_cause, utcnow()
            session.add(row)
            session.commit()

    async def stats(self) -> Stats:
        return await asyncio.to_thread(self._stats)

    def _stats(self) -> Stats:
        with Session(self._engine) as session:
            briefs = {row.incident_id: Brief.model_validate_json(row.body) for row in session.exec(
                select(BriefRow).order_by(BriefRow.id))}  # type: ignore[arg-type]
            feedback = list(session.exec(select(FeedbackRow)))
            events = list(session.exec(select(TimelineEventRow).where(TimelineEventRow.type.in_(  # type: ignore[attr-defined]
                ["INVESTIGATION_STARTED", "BRIEF_POSTED"])).order_by(TimelineEventRow.id)))  # type: ignore[arg-type]
        verdicts: dict[int, list[bool]] = {}
        for row in feedback:
            verdicts.setdefault(row.incident_id, []).append(row.correct)
        rated = {i: statistics.mode(v) for i, v in verdicts.items()}  # the majority per incident
        high = [i for i in rated if i in briefs and briefs[i].root_cause.confidence is Confidence.HIGH]
        started: dict[int, float] = {}
        seconds = []
        for event in events:
            at = as_utc(event.at).timestamp()
            if event.type == "INVESTIGATION_STARTED":
                started.setdefault(event.incident_id, at)
            elif event.incident_id in started:
                seconds.append(at - started.pop(event.incident_id))
        return Stats(briefs=len(briefs), rated=len(rated), correct=sum(rated.values()), high_rated=len(high),
                     high_wrong=sum(1 for i in high if not rated[i]), brief_seconds=seconds,
                     cost_usd=sum(b.analysis.cost_usd for b in briefs.values()))
