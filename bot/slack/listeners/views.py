"""Modal submissions: the critical-approval confirmation and the rejection reason."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.container import Services
from bot.slack.approvers import Approvers
from bot.slack.channels import ExternalUsers
from bot.slack.ids import CallbackId
from bot.slack.proposals import ProposalRef
from bot.slack.refresh import apply_click, refuse


def register(app: AsyncApp, services: Services, *, approvers: Approvers,
             external: ExternalUsers | None = None) -> None:
    async def handle_approve_confirm(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                     client: AsyncWebClient) -> None:
        await ack()  # close the modal at once; the outcome goes to the thread (or to the user)
        if external is not None and (why := await external.refuse(body)) is not None:
            await refuse(client, body, why)
            return
        ref = ProposalRef.model_validate_json(view["private_metadata"])
        user = body["user"]["id"]
        result = await services.require_remediation().approve(
            ref.proposal_id, user=user, groups=lambda: approvers.groups.groups_of(user),
            groups_of=approvers.groups.groups_of,
            directory=approvers.directory)
        await apply_click(services, client, body, result)

    async def handle_reject_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                   client: AsyncWebClient) -> None:
        await ack()
        if external is not None and (why := await external.refuse(body)) is not None:
            await refuse(client, body, why)
            return
        ref = ProposalRef.model_validate_json(view["private_metadata"])
        values = view.get("state", {}).get("values", {})
        reason = (values.get("reason", {}).get("reason", {}) or {}).get("value")
        result = await services.require_remediation().reject(ref.proposal_id, user=body["user"]["id"],
                                                             reason=reason)
        await apply_click(services, client, body, result)

    app.view(CallbackId.APPROVE_CONFIRM.value)(handle_approve_confirm)
    app.view(CallbackId.REJECT_REASON.value)(handle_reject_reason)
