"""Use cases on incidents as people see them: where one lives in Slack and its latest brief, the
open ones, one incident's state, resolving and reopening by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Protocol

from bot.models import Brief, IncidentStatus, TimelineEventType, utcnow
from bot.store.incidents import IncidentNotFoundError, IncidentStore
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
        from bot.analyst.prompt import build_prompt  # the digest's regex tables load when first asked for

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


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asks, and from where: ``channel`` is None for App Home (no channel)."""

    user: str
    channel: str | None = None


class ChannelFacts(Protocol):
    """What Slack says about a channel (the Slack side implements it). Both fail closed: an
    unanswered lookup is a private channel the user is not in."""

    async def is_private(self, channel: str) -> bool: ...

    async def is_member(self, user: str, channel: str) -> bool: ...


class IncidentAccess:
    """Visibility follows channels: an incident whose Slack channel is private is seen (listed,
    shown, resolved, reopened) only from that channel, by a member of it where there is no channel
    (App Home), or by one of its service's owners (policy ``owners``: user ids or group handles)."""

    def __init__(self, channels: ChannelFacts, *, groups_of: Callable[[str], Awaitable[Sequence[str]]]) -> None:
        self._channels = channels
        self._groups_of = groups_of

    async def may_see(self, row: IncidentRow, viewer: Viewer, *, owners: Sequence[str]) -> bool:
        channel = row.slack_channel
        if channel is None or channel == viewer.channel:
            return True
        if not await self._channels.is_private(channel):
            return True
        if viewer.channel is None and await self._channels.is_member(viewer.user, channel):
            return True
        if viewer.user in owners:
            return True
        handles = {o.removeprefix("@").lower() for o in owners if o.startswith("@")}
        if not handles:
            return False
        return bool(handles & {g.removeprefix("@").lower() for g in await self._groups_of(viewer.user)})


class IncidentCommands:
    """``/incident list | status <id> | resolve <id> [note] | reopen <id>``. With ``access`` set
    and a ``viewer`` given, an incident the viewer may not see is as if it did not exist."""

    def __init__(self, store: IncidentStore, *, access: IncidentAccess | None = None,
                 owners_of: Callable[[str], Sequence[str]] = lambda service: ()) -> None:
        self._store = store
        self.access = access  # set where Slack is (it knows which channels are private)
        self._owners_of = owners_of  # the policy's owners of a service

    async def may_see(self, row: IncidentRow, viewer: Viewer | None) -> bool:
        if viewer is None or self.access is None:
            return True
        try:
            owners = list(self._owners_of(row.service))
        except Exception:
            owners = []
        return await self.access.may_see(row, viewer, owners=owners)

    async def _check(self, incident_id: int, viewer: Viewer | None) -> IncidentRow:
        row: IncidentRow = await asyncio.to_thread(self._store.get, incident_id)
        if not await self.may_see(row, viewer):
            raise IncidentNotFoundError(incident_id)  # as if it did not exist: not even its number leaks
        return row

    async def open_incidents(self, viewer: Viewer | None = None) -> list[IncidentSummary]:
        rows = await asyncio.to_thread(self._store.open_incidents)
        shown = []
        for row in rows:
            if row.id is None:
                continue
            if not await self.may_see(row, viewer):
                continue
            shown.append(await self.summary(row.id))
        return shown

    async def summary(self, incident_id: int, viewer: Viewer | None = None) -> IncidentSummary:
        row = await self._check(incident_id, viewer)
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

    async def resolve(self, incident_id: int, *, user: str, note: str | None,
                      viewer: Viewer | None = None) -> IncidentSummary:
        await self._check(incident_id, viewer)
        previous = await asyncio.to_thread(self._store.set_status, incident_id, IncidentStatus.RESOLVED.value)
        if previous == IncidentStatus.RESOLVED.value:
            raise IncidentChangeError(f"Incident {incident_id} is already resolved.")
        await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.INCIDENT_RESOLVED,
                                actor=user, data={"by": user, "note": note})
        return await self.summary(incident_id)

    async def reopen(self, incident_id: int, *, user: str, viewer: Viewer | None = None) -> IncidentSummary:
        await self._check(incident_id, viewer)
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
