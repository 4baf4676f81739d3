"""After a click: re-render the brief message with the proposals' new states, tell the thread what
happened, and tell only the clicker why a click was refused."""

from __future__ import annotations

from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.container import Services
from bot.service.proposals import ClickResult, ProposalState, ProposalView
from bot.slack.blocks import _section, brief_fallback_text, brief_metadata, build_brief_blocks
from bot.slack.proposals import build_action_blocks, decision_line, revert_button

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
        await _settle_clicked_message(client, body, view, brief_ts=message.ts)
    except SlackApiError as exc:
        log.warning("brief_refresh_failed", incident_id=view.incident_id, error=exc.response.get("error"))
    if message.channel is None:
        return
    verb = "rejected" if view.state == ProposalState.REJECTED else "approved"
    text = f"<@{user}> {verb} proposal {view.id}. {decision_line(view)}"
    blocks = [_section(text), revert_button(view)] if view.revertible else None
    await client.chat_postMessage(channel=message.channel, thread_ts=message.thread_ts, text=text, blocks=blocks)


async def _settle_clicked_message(client: AsyncWebClient, body: dict[str, Any], view: ProposalView,
                                  *, brief_ts: str | None) -> None:
    """A click on buttons in a thread message (a revert request), not on the brief: once the proposal
    is decided, that message shows the decision instead of buttons."""
    clicked = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id")
    if not clicked.get("ts") or clicked.get("ts") == brief_ts or channel is None or view.needs_buttons:
        return
    if not any(b.get("block_id") == f"proposal-{view.id}" for b in clicked.get("blocks") or []):
        return
    text = f"Proposal {view.id}: {decision_line(view)}"
    await client.chat_update(channel=channel, ts=clicked["ts"], text=text, blocks=[_section(text)])
