"""``IncidentThreads`` over the Slack Web API: the root message, the brief publisher, thread lines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.markdown import slack_text
from bot.service.jobs import IncidentRow, ThreadUnavailableError
from bot.slack.blocks import build_root_blocks
from bot.slack.publisher import SlackBriefPublisher

log = structlog.get_logger(__name__)

#: Web API errors that say Slack itself is failing, not that the request is wrong
SLACK_TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                                    "ratelimited"})


class SlackIncidentThreads:
    def __init__(self, client: AsyncWebClient, *, channel_for: Callable[[str], str | None]) -> None:
        """``channel_for(service)``: where an incident with no Slack message of its own is posted
        (the service catalog's channel, else the first alert channel)."""
        self._client = client
        self._channel_for = channel_for

    async def ensure_root(self, incident: IncidentRow) -> tuple[str, str]:
        if incident.slack_channel and incident.slack_ts:
            return incident.slack_channel, incident.slack_ts
        channel = incident.slack_channel or self._channel_for(incident.service)
        if channel is None:
            raise ThreadUnavailableError(
                f"no channel for {incident.service}: set `channel` for it in the policy's services "
                "or SITREP_ALERT_CHANNELS")
        what = f"Investigating {slack_text(incident.service)}" + (
            f": {slack_text(incident.message)}" if incident.message else "")
        try:
            response = await self._client.chat_postMessage(
                channel=channel, text=what,
                blocks=build_root_blocks(service=incident.service, message=incident.message,
                                         requested_by=incident.requested_by),
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            hint = " Invite me with `/invite @Sitrep` and try again." if error in {
                "not_in_channel", "channel_not_found"} else ""
            transient = exc.response.status_code >= 500 or error in SLACK_TRANSIENT_ERRORS
            raise ThreadUnavailableError(error + hint, transient=transient) from exc
        return channel, str(response["ts"])

    def publisher(self, incident: IncidentRow, *, channel: str, thread_ts: str,
                  on_posted: Callable[[str], Awaitable[None]]) -> SlackBriefPublisher:
        return SlackBriefPublisher(self._client, channel=channel, thread_ts=thread_ts,
                                   service=incident.service, brief_ts=incident.brief_ts, on_posted=on_posted,
                                   react_to_root=incident.origin == "alert" and thread_ts == incident.slack_ts)

    async def mark_root(self, incident: IncidentRow, *, latest: str) -> None:
        """Sitrep's own root message gets a "latest" line; an alert's own message (another app's,
        which Slack will not let Sitrep edit) gets a 🔁 reaction."""
        if not (incident.slack_channel and incident.slack_ts):
            return
        try:
            try:
                await self._client.chat_update(
                    channel=incident.slack_channel, ts=incident.slack_ts, text=f"Investigating {slack_text(incident.service)}",
                    blocks=build_root_blocks(service=incident.service, message=incident.message,
                                             requested_by=incident.requested_by, latest=latest))
            except SlackApiError as exc:
                if exc.response.get("error") != "cant_update_message":
                    raise
                # the root is the alert's own message (another app's): mark it instead
                await self._client.reactions_add(channel=incident.slack_channel, timestamp=incident.slack_ts,
                                                 name="repeat")
        except SlackApiError as exc:  # the thread has the delta; the root is a convenience
            if exc.response.get("error") != "already_reacted":
                log.warning("root_update_failed", incident_id=incident.id, error=exc.response.get("error"))

    async def say(self, *, channel: str, thread_ts: str, text: str) -> None:
        await self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)

    async def tell_requester(self, response_url: str, text: str) -> None:
        try:
            await AsyncWebhookClient(response_url).send(text=text, response_type="ephemeral")
        except Exception as exc:  # the person's note is best effort; the timeline has it
            log.warning("response_url_failed", error=repr(exc))
