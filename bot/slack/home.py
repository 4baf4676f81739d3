"""App Home: the open incidents and the proposals waiting for the viewer's approval, with the same
Approve/Reject buttons as in the thread. Pure functions; ``publish_home`` does the Web API call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, PlainTextObject
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.markdown import describe_action, one_line
from bot.service.approvals import ApproverDirectory
from bot.service.container import Services
from bot.service.incidents import IncidentSummary, Viewer
from bot.service.proposals import ProposalView
from bot.slack.blocks import MAX_BLOCKS, MRKDWN, _mrkdwn, _section
from bot.slack.proposals import approval_buttons, decision_line

#: blocks a view may hold (Slack: 100 for modals and Home); the lists are cut to stay well inside
MAX_INCIDENTS = 15
MAX_AWAITING = 10


def _incident_line(incident: IncidentSummary) -> str:
    where = ""
    if incident.channel and incident.thread_ts:
        where = f" · <https://slack.com/app_redirect?channel={incident.channel}|thread>"
    return MRKDWN.text(one_line(incident.line(), limit=600)) + where


def build_home_view(*, incidents: Sequence[IncidentSummary], awaiting: Sequence[ProposalView],
                    remediation: bool = True) -> dict[str, Any]:
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=f"Open incidents ({len(incidents)})"))]
    if incidents:
        blocks += [_section(_incident_line(i)) for i in incidents[:MAX_INCIDENTS]]
        if len(incidents) > MAX_INCIDENTS:
            blocks.append(ContextBlock(elements=[_mrkdwn(
                f"… and {len(incidents) - MAX_INCIDENTS} more: `/incident list` shows them all")]))
    else:
        blocks.append(_section("No open incident. 🎉"))
    blocks += [DividerBlock(), HeaderBlock(text=PlainTextObject(text=f"Waiting for your approval ({len(awaiting)})"))]
    if not remediation:
        blocks.append(_section("No policy is loaded: Sitrep proposes nothing to approve."))
    elif not awaiting:
        blocks.append(_section("Nothing is waiting for you."))
    for view in awaiting[:MAX_AWAITING]:
        rationale = MRKDWN.text(one_line(view.action.rationale, limit=300))
        blocks.append(_section(f"*Incident #{view.incident_id}* · proposal {view.id}: "
                               f"{describe_action(view.action, style=MRKDWN)} — {rationale}\n{decision_line(view)}"))
        blocks.append(approval_buttons(view))
    if len(awaiting) > MAX_AWAITING:
        blocks.append(ContextBlock(elements=[_mrkdwn(f"… and {len(awaiting) - MAX_AWAITING} more in their threads")]))
    blocks.append(ContextBlock(elements=[_mrkdwn(
        "`/incident help` lists the commands · updated when you open this tab or click here")]))
    assert len(blocks) <= 2 * MAX_BLOCKS  # a Home view holds 100 blocks
    return View(type="home", blocks=blocks).to_dict()


async def publish_home(services: Services, client: AsyncWebClient, user: str, *, groups: Sequence[str],
                       directory: ApproverDirectory | None = None) -> None:
    """Build and publish ``user``'s App Home."""
    incidents = (await services.incidents.open_incidents(Viewer(user=user))  # only what the viewer may see
                 if services.incidents is not None else [])
    awaiting = (await services.remediation.awaiting(user, groups=groups, directory=directory)
                if services.remediation is not None else [])
    view = build_home_view(incidents=incidents, awaiting=awaiting, remediation=services.remediation is not None)
    await client.views_publish(user_id=user, view=view)
