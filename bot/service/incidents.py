"""Read-side use cases on incidents: where an incident lives in Slack and its latest brief."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.models import Brief
from bot.store.incidents import IncidentStore


@dataclass(frozen=True, slots=True)
class BriefMessage:
    incident_id: int
    channel: str | None
    ts: str | None  # the brief message (updated in place)
    thread_ts: str | None  # the root message the brief is threaded under
    brief: Brief | None
    severity: str | None


class IncidentQueries:
    def __init__(self, store: IncidentStore) -> None:
        self._store = store

    async def brief_message(self, incident_id: int) -> BriefMessage:
        row = await asyncio.to_thread(self._store.get, incident_id)
        brief = await asyncio.to_thread(self._store.latest_brief, incident_id)
        return BriefMessage(incident_id=incident_id, channel=row.slack_channel, ts=row.brief_ts,
                            thread_ts=row.slack_ts, brief=brief, severity=row.severity)
