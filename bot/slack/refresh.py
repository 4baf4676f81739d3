"""After a click: re-render the brief message with the proposals' new states, tell the thread what
happened, and tell only the clicker why a click was refused."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.approve import ClickResult, ProposalState
from bot.service.container import Services
from bot.slack.blocks import brief_fallback_text, brief_metadata, build_brief_blocks
from bot.slack.proposals import build_action_blocks, decision_line

log = structlog.get_logger(__name__)


async def refuse(client: AsyncWebClient, body: dict[str, Any], text: str, *, channel: str | None = None,
                 thread_ts: str | None = None) -> None:
    """An ephemeral message to the person who clicked."""
    channel = channel or (body.get("channel") or {}).get("id")
    if not channel:
        log.warning("refusal_without_channel", reason=text)
        return
    await client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text, thread_ts=thread_ts)


async def refresh_brief(services: Services, client: AsyncWebClient, incident_id: int) -> None:
    """Re-render the brief message in place (buttons disappear once a proposal is decided)."""
    message = await services.queries.brief_message(incident_id)
    if message.brief is None or message.channel is None or message.ts is None:
        return
    proposals = await services.require_remediation().for_incident(incident_id)
    await client.chat_update(
        channel=message.channel, ts=message.ts, text=brief_fallback_text(message.brief),
        blocks=build_brief_blocks(message.brief, incident_id=incident_id, severity=message.severity,
                                  action_blocks=build_action_blocks(message.brief, proposals)),
        metadata=brief_metadata(message.brief, incident_id=incident_id),
    )


async def apply_click(services: Services, client: AsyncWebClient, body: dict[str, Any], result: ClickResult) -> None:
    user = body["user"]["id"]
    view = result.proposal
    message = await services.queries.brief_message(view.incident_id)
    if result.notes:  # e.g. PagerDuty did not answer and the rota file said who is on call
        await refuse(client, body, "Note: " + " · ".join(result.notes), channel=message.channel,
                     thread_ts=message.thread_ts)
    if result.refusal is not None:
        await refuse(client, body, result.refusal, channel=message.channel, thread_ts=message.thread_ts)
        return
    try:
        await refresh_brief(services, client, view.incident_id)
    except SlackApiError as exc:
        log.warning("brief_refresh_failed", incident_id=view.incident_id, error=exc.response.get("error"))
    if message.channel is None:
        return
    if view.state == ProposalState.REJECTED:
        text = f"<@{user}> rejected proposal {view.id}. {decision_line(view)}"
    elif view.state == ProposalState.PENDING:
        text = f"<@{user}> approved proposal {view.id}. {decision_line(view)}"
    else:
        text = f"<@{user}> approved proposal {view.id}. {decision_line(view)}"
    await client.chat_postMessage(channel=message.channel, thread_ts=message.thread_ts, text=text)
