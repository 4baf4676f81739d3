"""Approve / Reject buttons. Thin: ack, read the proposal id, call the service, re-render.

Critical (two-person) approvals open a modal with the evidence and the exact change first; the
approval counts when that modal is submitted (``views.py``). Refusals are ephemeral."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.container import Services
from bot.slack.approvers import Approvers
from bot.slack.channels import ExternalUsers
from bot.slack.ids import ActionId
from bot.slack.listeners.home import refresh_home
from bot.slack.proposals import ProposalRef, build_approval_modal, build_reject_modal, revert_request_blocks
from bot.slack.refresh import apply_click, refresh_brief, refuse


def register(app: AsyncApp, services: Services, *, approvers: Approvers,
             external: ExternalUsers | None = None) -> None:
    async def handle_approve(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if external is not None and (why := await external.refuse(body)) is not None:
            await refuse(client, body, why)
            return
        ref = _ref(body)
        user = body["user"]["id"]
        if ref is None:
            await refuse(client, body, "This button is not one Sitrep can read.")
            return
        remediation = services.require_remediation()
        view = await remediation.view(ref.proposal_id)
        if (view.decision.critical or view.decision.two_person) and view.needs_buttons:
            brief = (await services.queries.brief_message(view.incident_id)).brief
            await client.views_open(trigger_id=body["trigger_id"], view=build_approval_modal(view, brief))
            return
        result = await remediation.approve(ref.proposal_id, user=user,
                                           groups=lambda: approvers.groups.groups_of(user),
                                           groups_of=approvers.groups.groups_of,
                                           directory=approvers.directory)
        await apply_click(services, client, body, result)
        if (body.get("view") or {}).get("type") == "home":  # clicked in App Home: show the new state there
            await refresh_home(services, client, user, approvers)

    async def handle_reject(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if external is not None and (why := await external.refuse(body)) is not None:
            await refuse(client, body, why)
            return
        ref = _ref(body)
        if ref is None:
            await refuse(client, body, "This button is not one Sitrep can read.")
            return
        view = await services.require_remediation().view(ref.proposal_id)
        await client.views_open(trigger_id=body["trigger_id"], view=build_reject_modal(view))

    async def handle_revert(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Ask to revert an executed action: a new proposal in the thread, decided by the policy and
        approved like any other; nothing runs on this click unless the policy says ``auto``."""
        await ack()
        if external is not None and (why := await external.refuse(body)) is not None:
            await refuse(client, body, why)
            return
        ref = _ref(body)
        if ref is None:
            await refuse(client, body, "This button is not one Sitrep can read.")
            return
        user = body["user"]["id"]
        result = await services.require_remediation().request_revert(ref.proposal_id, user=user)
        message = await services.queries.brief_message(result.proposal.incident_id)
        if result.refusal is not None:
            await refuse(client, body, result.refusal, channel=message.channel, thread_ts=message.thread_ts)
            return
        await refresh_brief(services, client, result.proposal.incident_id)
        if message.channel is not None:
            blocks = revert_request_blocks(result.proposal, user=user)
            await client.chat_postMessage(channel=message.channel, thread_ts=message.thread_ts, blocks=blocks,
                                          text=f"<@{user}> asked to revert proposal {ref.proposal_id}")

    app.action(ActionId.APPROVE.value)(handle_approve)
    app.action(ActionId.REJECT.value)(handle_reject)
    app.action(ActionId.REVERT.value)(handle_revert)


def _ref(body: dict[str, Any]) -> ProposalRef | None:
    try:
        return ProposalRef.model_validate_json(body["actions"][0]["value"])
    except (KeyError, IndexError, ValueError):
        return None
