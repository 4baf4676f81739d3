"""Events API listeners: alert messages in the alert channels (``SITREP_ALERT_CHANNELS``).

Bolt acknowledges an event before its listener runs, so the alert is stored in a middleware, which
runs before the acknowledgement: an event Slack saw acknowledged is in the database. The listener
then answers a message it could not read, in that message's thread — never silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.markdown import slack_text
from bot.service.alerts import MessageOutcome
from bot.service.container import Services

log = structlog.get_logger(__name__)

_OUTCOME = "sitrep_alert_outcome"


def is_own_message(event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> bool:
    """Sitrep's own posts (root messages, briefs) are never alerts."""
    if event.get("app_id") and event.get("app_id") == body.get("api_app_id"):
        return True
    bot_id = event.get("bot_id")
    return bool(bot_id) and bot_id == context.get("bot_id")


def register(app: AsyncApp, services: Services) -> None:
    async def store_alert_message(body: dict[str, Any], context: AsyncBoltContext,
                                  next: Callable[[], Awaitable[None]]) -> None:
        event = body.get("event") if body.get("type") == "event_callback" else None
        alerts = services.alerts
        if (isinstance(event, dict) and event.get("type") == "message" and alerts is not None
                and event.get("channel") in alerts.alert_channels
                and not is_own_message(event, body, context)):
            try:
                context[_OUTCOME] = await alerts.accept_message(event_id=body.get("event_id"), event=event)
            except Exception:  # not stored: answer 500 so Slack delivers it again
                log.exception("alert_message_not_stored", event_id=body.get("event_id"))
                raise
        await next()

    async def handle_message(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        outcome: MessageOutcome | None = context.get(_OUTCOME)
        if outcome is None:
            return
        if outcome.result is not None and outcome.result.opened and not outcome.result.repeated_delivery:
            # seen, at once: the investigation (and its placeholder) waits a few seconds for related alerts
            await _eyes(client, event)
        if outcome.unreadable is None:
            return
        try:
            await client.chat_postMessage(channel=event["channel"], thread_ts=event.get("ts"),
                                          text=f"⚠️ could not read this alert: {slack_text(outcome.unreadable)}")
        except SlackApiError as exc:
            log.warning("unreadable_reply_failed", error=exc.response.get("error"))

    app.middleware(store_alert_message)
    app.event("message")(handle_message)


async def _eyes(client: AsyncWebClient, event: dict[str, Any]) -> None:
    try:
        await client.reactions_add(channel=event["channel"], timestamp=event["ts"], name="eyes")
    except SlackApiError as exc:  # no reactions:write, or already there: the brief still comes
        if exc.response.get("error") != "already_reacted":
            log.warning("reaction_failed", name="eyes", error=exc.response.get("error"))
