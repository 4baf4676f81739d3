"""Use cases on incidents as people see them: where one lives in Slack and its latest brief, the
open ones, one incident's state, resolving and reopening by hand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta, timezone

from bot.analyst.prompt import build_prompt
from bot.models import Brief, IncidentStatus, TimelineEventType, utcnow
from bot.store.incidents import IncidentStore
from bot.store.tables import IncidentRow


@dataclass(frozen=True, slots=True)
class BriefMessage:
    incident_id: int
    channel: str | None
    ts: str | None  # the brief message (updated in place)
    thread_ts: str | None  # the root message the brief is threaded under
    brief: Brief | None
    severity: str | None


@dataclass(frozen=True, slots=True)
class ModelInput:
    """What the model was sent for an incident's latest model brief, rebuilt from the redacted
    evidence kept with it (the prompt is a pure function of request and evidence)."""

    incident_id: int
    brief: Brief
    system: str
    user: str
    redactions: dict[str, int]


class ModelInputUnavailableError(LookupError):
    """No model brief with its evidence kept (rule-based only, or made before evidence was kept)."""


class IncidentQueries:
    def __init__(self, store: IncidentStore) -> None:
        self._store = store

    async def brief_message(self, incident_id: int) -> BriefMessage:
        row = await asyncio.to_thread(self._store.get, incident_id)
        brief = await asyncio.to_thread(self._store.latest_brief, incident_id)
        return BriefMessage(incident_id=incident_id, channel=row.slack_channel, ts=row.brief_ts,
                            thread_ts=row.slack_ts, brief=brief, severity=row.severity)

    async def model_input(self, incident_id: int) -> ModelInput:
        """The exact (redacted) prompt of the incident's latest model-written brief."""
        briefs = await asyncio.to_thread(self._store.briefs_with_basis, incident_id)
        for brief, basis in reversed(briefs):
            if brief.is_rule_based or basis is None:
                continue
            prompt = build_prompt(basis.request, basis.results)
            return ModelInput(incident_id=incident_id, brief=brief, system=prompt.system, user=prompt.user,
                              redactions=dict(basis.redactions))
        raise ModelInputUnavailableError(
            f"incident {incident_id} has no model-written brief with its evidence kept")


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    id: int
    service: str
    severity: str | None
    status: str
    age: timedelta
    state: str  # investigating | brief posted (MEDIUM) | rule-based brief | no thread
    root_cause: str | None
    channel: str | None
    thread_ts: str | None

    def line(self) -> str:
        severity = f" {self.severity}" if self.severity else ""
        cause = f" — {self.root_cause}" if self.root_cause else ""
        return f"#{self.id} {self.service}{severity} · {_age(self.age)} · {self.state}{cause}"


class IncidentChangeError(ValueError):
    """Resolving a resolved incident, reopening an open one: ``str(exc)`` says so."""


class IncidentCommands:
    """``/incident list | status <id> | resolve <id> [note] | reopen <id>``."""

    def __init__(self, store: IncidentStore) -> None:
        self._store = store

    async def open_incidents(self) -> list[IncidentSummary]:
        rows = await asyncio.to_thread(self._store.open_incidents)
        return [await self.summary(row.id) for row in rows if row.id is not None]

    async def summary(self, incident_id: int) -> IncidentSummary:
        row: IncidentRow = await asyncio.to_thread(self._store.get, incident_id)
        brief = await asyncio.to_thread(self._store.latest_brief, incident_id)
        if brief is None:
            state = "investigating"
        else:
            state = f"brief posted ({brief.root_cause.confidence.value})"
        opened = row.opened_at if row.opened_at.tzinfo else row.opened_at.replace(tzinfo=timezone.utc)
        return IncidentSummary(
            id=incident_id, service=row.service, severity=row.severity, status=row.status,
            age=utcnow() - opened, state=state if row.status == IncidentStatus.OPEN.value else "resolved",
            root_cause=brief.root_cause.statement if brief else None,
            channel=row.slack_channel, thread_ts=row.slack_ts)

    async def resolve(self, incident_id: int, *, user: str, note: str | None) -> IncidentSummary:
        previous = await asyncio.to_thread(self._store.set_status, incident_id, IncidentStatus.RESOLVED.value)
        if previous == IncidentStatus.RESOLVED.value:
            raise IncidentChangeError(f"Incident {incident_id} is already resolved.")
        await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.INCIDENT_RESOLVED,
                                actor=user, data={"by": user, "note": note})
        return await self.summary(incident_id)

    async def reopen(self, incident_id: int, *, user: str) -> IncidentSummary:
        previous = await asyncio.to_thread(self._store.set_status, incident_id, IncidentStatus.OPEN.value)
        if previous == IncidentStatus.OPEN.value:
            raise IncidentChangeError(f"Incident {incident_id} is open already.")
        await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.INCIDENT_REOPENED,
                                actor=user, data={"by": user})
        return await self.summary(incident_id)


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d}"
    return f"{minutes // 1440} d"
