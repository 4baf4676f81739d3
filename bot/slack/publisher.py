"""``BriefPublisher`` for Slack: a placeholder in the incident thread, updated in place with
each source's progress, then replaced by the brief (with its metadata)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.analyst.chart import Chart
from bot.markdown import slack_text
from bot.models import Brief, SourceResult, SourceStatus
from bot.service.proposals import ProposalView
from bot.slack.blocks import (
    brief_fallback_text,
    brief_metadata,
    build_brief_blocks,
    build_continuation_messages,
    build_error_blocks,
    build_progress_blocks,
)
from bot.slack.proposals import build_action_blocks

log = structlog.get_logger(__name__)


def _continued_text(incident_id: int) -> str:
    return f"Evidence of incident {incident_id}, continued"


class SlackBriefPublisher:
    """``brief_ts``: the message of an earlier attempt, updated instead of posting a second one;
    ``on_posted`` records a newly posted message's ts at once (so a retry finds it)."""

    def __init__(self, client: AsyncWebClient, *, channel: str, thread_ts: str, service: str,
                 brief_ts: str | None = None,
                 on_posted: Callable[[str], Awaitable[None]] | None = None,
                 react_to_root: bool = False) -> None:
        self._client = client
        self._channel = channel
        self._thread_ts = thread_ts
        self._service = service
        self._statuses: dict[str, str] = {}
        self.brief_ts: str | None = brief_ts
        self._on_posted = on_posted
        #: the root is another bot's alert message: show the state there as reactions
        self._react = react_to_root
        #: an earlier attempt's brief exists: it may have posted the continuation already
        self._resumed = brief_ts is not None
        self._continued = False

    async def _reaction(self, name: str) -> None:
        if not self._react:
            return
        try:
            await self._client.reactions_add(channel=self._channel, timestamp=self._thread_ts, name=name)
        except SlackApiError as exc:  # already there after a retry, or no permission: not worth failing
            if exc.response.get("error") != "already_reacted":
                log.warning("reaction_failed", name=name, error=exc.response.get("error"))

    async def _posted(self, ts: str) -> None:
        self.brief_ts = ts
        if self._on_posted is not None:
            await self._on_posted(ts)

    async def started(self, *, incident_id: int) -> None:
        await self._reaction("eyes")
        text = f"Collecting context for {slack_text(self._service)}…"
        blocks = build_progress_blocks(service=self._service)
        if self.brief_ts is not None:
            await self._client.chat_update(channel=self._channel, ts=self.brief_ts, text=text, blocks=blocks)
            return
        response = await self._client.chat_postMessage(
            channel=self._channel, thread_ts=self._thread_ts, text=text, blocks=blocks,
        )
        await self._posted(response["ts"])

    async def source_finished(self, *, incident_id: int, result: SourceResult) -> None:
        self._statuses[result.source.value] = f"{result.status.value} {result.elapsed_s:.1f} s"
        if self.brief_ts is None:
            return
        await self._client.chat_update(
            channel=self._channel,
            ts=self.brief_ts,
            text=f"Collecting context for {slack_text(self._service)}…",
            blocks=build_progress_blocks(service=self._service, statuses=self._statuses),
        )

    async def brief_ready(
        self, *, incident_id: int, brief: Brief, proposals: Sequence[ProposalView] = ()
    ) -> str | None:
        blocks = build_brief_blocks(
            brief, incident_id=incident_id,
            action_blocks=build_action_blocks(brief, proposals),
        )
        text = brief_fallback_text(brief)
        metadata = brief_metadata(brief, incident_id=incident_id)
        partial = any(status in (SourceStatus.ERROR, SourceStatus.TIMEOUT)
                      for status in brief.analysis.sources.values())
        await self._reaction("warning" if partial else "white_check_mark")
        if self.brief_ts is not None:
            await self._client.chat_update(
                channel=self._channel, ts=self.brief_ts, text=text, blocks=blocks, metadata=metadata
            )
        else:
            response = await self._client.chat_postMessage(
                channel=self._channel, thread_ts=self._thread_ts, text=text, blocks=blocks,
                metadata=metadata,
            )
            await self._posted(response["ts"])
        if not self._continued:  # evidence that did not fit, once, in the thread below the brief
            self._continued = True
            parts = build_continuation_messages(brief)
            if parts and not await self._continued_before(incident_id):
                for i, part in enumerate(parts, start=1):
                    await self._client.chat_postMessage(
                        channel=self._channel, thread_ts=self._thread_ts, blocks=part,
                        text=f"{_continued_text(incident_id)} ({i})",
                    )
        return self.brief_ts

    async def _continued_before(self, incident_id: int) -> bool:
        """A retried job: did the earlier attempt post the continuation before it failed?"""
        if not self._resumed:
            return False
        try:
            replies = await self._client.conversations_replies(channel=self._channel, ts=self._thread_ts, limit=200)
        except SlackApiError as exc:  # cannot tell: posting twice beats losing evidence
            log.warning("replies_unavailable", error=exc.response.get("error"))
            return False
        marker = _continued_text(incident_id)
        return any(str(m.get("text") or "").startswith(marker) for m in replies.get("messages") or [])

    async def chart_ready(self, *, incident_id: int, chart: Chart) -> None:
        await self._client.files_upload_v2(
            channel=self._channel, thread_ts=self._thread_ts, content=chart.png, filename=chart.filename,
            title=chart.title, initial_comment=f"📈 {chart.title} (onset and deploys marked)",
        )

    async def failed(self, *, incident_id: int, reason: str) -> None:
        await self._client.chat_postMessage(
            channel=self._channel,
            thread_ts=self._thread_ts,
            text=f"Could not investigate {slack_text(self._service)}: {slack_text(reason)}",
            blocks=build_error_blocks(service=self._service, reason=reason),
        )
