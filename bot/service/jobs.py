"""The jobs the worker runs: ``investigate`` an incident, ``say`` a line in its thread.

Both can run again after a crash: the investigation reuses the root message and the brief message
already recorded (so the thread gets one brief, updated in place), and stops at once when a brief
was already posted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

import structlog

from bot.analyst.delta import evidence_delta
from bot.markdown import slack_code, slack_text
from bot.models import IncidentStatus, InvestigationRequest, TimelineEventType, utcnow
from bot.service.investigate import Investigator
from bot.service.publisher import BriefPublisher
from bot.store.incidents import IncidentNotFoundError, IncidentStore
from bot.store.queue import Job
from bot.store.tables import IncidentRow

log = structlog.get_logger(__name__)

#: the longest look-back an alert's onset can stretch an investigation to
MAX_WINDOW = timedelta(hours=6)


class ThreadUnavailableError(RuntimeError):
    """The incident's thread cannot be created (no channel, not invited...); ``reason`` says why.
    ``transient``: Slack itself is failing (5xx, internal_error): worth retrying the job later."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        self.reason = reason
        self.transient = transient
        super().__init__(reason)


class IncidentThreads(Protocol):
    """Where an incident is discussed (Slack, implemented in ``bot.slack.threads``)."""

    async def ensure_root(self, incident: IncidentRow) -> tuple[str, str]:
        """The incident's root message (channel, ts): the alert's own message, or one posted now.
        Raises ``ThreadUnavailableError``."""

    def publisher(self, incident: IncidentRow, *, channel: str, thread_ts: str,
                  on_posted: Callable[[str], Awaitable[None]]) -> BriefPublisher:
        """A publisher that updates ``incident.brief_ts`` in place when set, else posts once and
        reports the new message's ts through ``on_posted``."""

    async def say(self, *, channel: str, thread_ts: str, text: str) -> None:
        """A line in the thread."""

    async def tell_requester(self, response_url: str, text: str) -> None:
        """An ephemeral note to the person who typed the command."""

    async def mark_root(self, incident: IncidentRow, *, latest: str) -> None:
        """Show the incident's latest state on its root message (where Sitrep may edit it)."""


class NoThreads:
    """Slack is not configured: briefs go to the store and the API only."""

    async def ensure_root(self, incident: IncidentRow) -> tuple[str, str]:
        raise ThreadUnavailableError("Slack is not configured")

    def publisher(self, incident: IncidentRow, *, channel: str, thread_ts: str,
                  on_posted: Callable[[str], Awaitable[None]]) -> BriefPublisher:
        raise ThreadUnavailableError("Slack is not configured")

    async def say(self, *, channel: str, thread_ts: str, text: str) -> None:
        log.info("thread_line_not_said", reason="Slack is not configured", text=text)

    async def tell_requester(self, response_url: str, text: str) -> None:
        return None

    async def mark_root(self, incident: IncidentRow, *, latest: str) -> None:
        return None


class InvestigateJob:
    def __init__(self, *, investigator: Investigator, store: IncidentStore, threads: IncidentThreads,
                 default_window: timedelta = timedelta(minutes=30)) -> None:
        self._investigator = investigator
        self._store = store
        self._threads = threads
        self._window = default_window

    async def run(self, job: Job) -> None:
        incident_id = int(job.payload["incident_id"])
        try:
            incident = await asyncio.to_thread(self._store.get, incident_id)
        except IncidentNotFoundError:
            log.error("job_for_missing_incident", incident_id=incident_id)
            return
        again = bool(job.payload.get("again"))  # the root moved: a new look, the same message updated
        if not again and await asyncio.to_thread(self._store.has_event, incident_id,
                                                 TimelineEventType.BRIEF_POSTED):
            log.info("brief_already_posted", incident_id=incident_id)  # a re-run after a crash
            return
        request = self.request_for(incident)
        try:
            channel, root_ts = await self._threads.ensure_root(incident)
        except ThreadUnavailableError as exc:  # still investigate: the brief is in the store and the API
            if exc.transient:  # Slack is down: the job is retried with backoff and posts then
                raise
            log.warning("incident_thread_unavailable", incident_id=incident_id, reason=exc.reason)
            url = job.payload.get("response_url")
            if url:
                await self._threads.tell_requester(str(url),
                                                   f"I could not post in this channel ({slack_text(exc.reason)}).")
            await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.BRIEF_FAILED,
                                    data={"error": exc.reason})
            await self._investigator.investigate(request, incident_id=incident_id,
                                                 requester=incident.requested_by)
            return
        await asyncio.to_thread(self._store.update_slack, incident_id, channel=channel, root_ts=root_ts)

        async def on_posted(ts: str) -> None:
            await asyncio.to_thread(self._store.update_slack, incident_id, brief_ts=ts)

        publisher = self._threads.publisher(incident, channel=channel, thread_ts=root_ts, on_posted=on_posted)
        await self._investigator.investigate(request, incident_id=incident_id, publisher=publisher,
                                             requester=incident.requested_by)

    def request_for(self, incident: IncidentRow) -> InvestigationRequest:
        """The window ends now and starts 30 min back, or earlier when the alert began earlier."""
        end = utcnow()
        start = end - self._window
        if incident.onset_at is not None:
            onset = incident.onset_at if incident.onset_at.tzinfo else incident.onset_at.replace(tzinfo=timezone.utc)
            start = max(min(start, onset - timedelta(minutes=15)), end - MAX_WINDOW)
        return InvestigationRequest(service=incident.service, namespace=incident.namespace,
                                    message=incident.message, severity=incident.severity,
                                    window_start=start, window_end=end)

    async def give_up(self, job: Job, *, error: str) -> None:
        incident_id = int(job.payload["incident_id"])
        await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.JOB_GAVE_UP,
                                data={"job": job.kind, "attempts": job.attempts, "error": error})
        incident = await asyncio.to_thread(self._store.get, incident_id)
        if incident.slack_channel and incident.slack_ts:
            await self._threads.say(
                channel=incident.slack_channel, thread_ts=incident.slack_ts,
                text=(f"⚠️ I gave up investigating {slack_text(incident.service)} after {job.attempts} attempts "
                      f"({slack_text(error)}). Try {slack_code('/incident ' + incident.service)} again."))


class DeltaJob:
    """An alert of an open incident fired again, or another one joined: look again and post what
    changed since the last brief in the thread (not a second brief); the root shows the latest state."""

    def __init__(self, *, investigator: Investigator, store: IncidentStore, threads: IncidentThreads,
                 investigate: InvestigateJob) -> None:
        self._investigator = investigator
        self._store = store
        self._threads = threads
        self._request_for = investigate.request_for

    async def run(self, job: Job) -> None:
        incident_id = int(job.payload["incident_id"])
        incident = await asyncio.to_thread(self._store.get, incident_id)
        if incident.status != IncidentStatus.OPEN.value:
            return
        kept = [(brief, basis) for brief, basis in
                await asyncio.to_thread(self._store.briefs_with_basis, incident_id) if basis is not None]
        if not kept:
            return  # the first brief is still coming: it will include this alert
        last_brief, basis = kept[-1]
        request = self._request_for(incident)
        results, _ = await self._investigator.collect(request)
        delta = evidence_delta(basis.results, results)
        since = basis.request.window_end.astimezone(timezone.utc).strftime("%H:%M UTC")
        why = str(job.payload.get("reason") or "the incident's alerts changed")
        lines = delta.lines()
        await asyncio.to_thread(self._store.add_event, incident_id, TimelineEventType.DELTA_POSTED,
                                data={"reason": why, "changes": lines, "since": since})
        if not (incident.slack_channel and incident.slack_ts):
            return  # no thread (no Slack): the timeline has it
        # ``why`` is a thread line intake built (escaped there); the delta lines quote evidence: escaped here
        text = (f"🔁 *What changed since the last brief* ({since}) — {why}:\n"
                + "\n".join(f"• {slack_text(line)}" for line in lines))
        await self._threads.say(channel=incident.slack_channel, thread_ts=incident.slack_ts, text=text)
        await self._threads.mark_root(incident, latest=f"{lines[0]} (as of {utcnow():%H:%M} UTC)")

    async def give_up(self, job: Job, *, error: str) -> None:
        log.warning("delta_dropped", incident_id=job.payload.get("incident_id"), error=error)


class SayJob:
    """A line in an incident's thread, once the thread exists."""

    def __init__(self, *, store: IncidentStore, threads: IncidentThreads,
                 wait_for_thread: timedelta = timedelta(minutes=2)) -> None:
        self._store = store
        self._threads = threads
        self._wait = wait_for_thread

    async def run(self, job: Job) -> None:
        incident = await asyncio.to_thread(self._store.get, int(job.payload["incident_id"]))
        if not (incident.slack_channel and incident.slack_ts):
            if _age(incident.opened_at) < self._wait:
                raise RuntimeError("the incident's thread is not posted yet")  # retried with backoff
            return  # no thread will come (no Slack): the timeline has the line
        await self._threads.say(channel=incident.slack_channel, thread_ts=incident.slack_ts,
                                text=str(job.payload["text"]))

    async def give_up(self, job: Job, *, error: str) -> None:
        log.warning("thread_line_dropped", incident_id=job.payload.get("incident_id"), error=error)


def _age(at: datetime) -> timedelta:
    return utcnow() - (at if at.tzinfo else at.replace(tzinfo=timezone.utc))
