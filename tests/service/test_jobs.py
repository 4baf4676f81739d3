"""The worker's jobs around the investigation: thread lines, giving up, not posting twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.models import TimelineEventType
from bot.service.jobs import InvestigateJob, SayJob
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from bot.store.queue import Job
from bot.store.tables import IncidentRow


class RecordingThreads:
    def __init__(self) -> None:
        self.said: list[tuple[str, str, str]] = []
        self.roots = 0

    async def ensure_root(self, incident: IncidentRow) -> tuple[str, str]:
        self.roots += 1
        return "C0ALERTS", "1.1"

    def publisher(self, incident: IncidentRow, *, channel: str, thread_ts: str,
                  on_posted: Callable[[str], Awaitable[None]]) -> Any:
        raise AssertionError("no investigation expected")

    async def say(self, *, channel: str, thread_ts: str, text: str) -> None:
        self.said.append((channel, thread_ts, text))

    async def tell_requester(self, response_url: str, text: str) -> None:
        raise AssertionError("nobody to tell")


class NoInvestigation:
    async def investigate(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the brief was already posted: nothing to investigate")


@pytest.fixture
def store(tmp_path: Path) -> IncidentStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    create_schema(engine)
    return IncidentStore(engine)


def job(kind: str, **payload: Any) -> Job:
    return Job(id=1, kind=kind, payload=payload, attempts=3, max_attempts=3)


@pytest.mark.asyncio
async def test_giving_up_is_recorded_and_said_in_the_thread(store: IncidentStore) -> None:
    incident = store.open_incident(service="checkout", slack_channel="C0ALERTS")
    store.update_slack(incident, root_ts="1.1")
    threads = RecordingThreads()
    handler = InvestigateJob(investigator=NoInvestigation(), store=store, threads=threads)  # type: ignore[arg-type]
    await handler.give_up(job("investigate", incident_id=incident), error="ConnectError: Slack is away")
    [(channel, thread, text)] = threads.said
    assert (channel, thread) == ("C0ALERTS", "1.1")
    assert "gave up investigating checkout after 3 attempts" in text and "/incident checkout" in text
    assert [e.type for e in store.timeline(incident)] == [TimelineEventType.JOB_GAVE_UP.value]


@pytest.mark.asyncio
async def test_a_rerun_after_the_brief_was_posted_does_nothing(store: IncidentStore) -> None:
    incident = store.open_incident(service="checkout", slack_channel="C0ALERTS")
    store.add_event(incident, TimelineEventType.BRIEF_POSTED, data={"ts": "2.2"})
    threads = RecordingThreads()
    handler = InvestigateJob(investigator=NoInvestigation(), store=store, threads=threads)  # type: ignore[arg-type]
    await handler.run(job("investigate", incident_id=incident))
    assert threads.roots == 0


@pytest.mark.asyncio
async def test_a_thread_line_waits_for_the_thread_then_is_said(store: IncidentStore) -> None:
    incident = store.open_incident(service="checkout")
    threads = RecordingThreads()
    say = SayJob(store=store, threads=threads)
    with pytest.raises(RuntimeError, match="not posted yet"):  # retried with backoff by the worker
        await say.run(job("say", incident_id=incident, text="➕ joined"))
    store.update_slack(incident, channel="C0ALERTS", root_ts="1.1")
    await say.run(job("say", incident_id=incident, text="➕ joined"))
    assert threads.said == [("C0ALERTS", "1.1", "➕ joined")]
