"""Block Kit for proposals: each action's policy decision, and Approve/Reject only where the policy
asks for approval. Pure functions; button values carry the proposal id only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.markdown import PLAIN, describe_action, one_line
from bot.models import Brief, RefusedAction
from bot.policy.engine import ONLY_ALERTS_AUTO
from bot.service.proposals import ProposalState, ProposalView
from bot.slack.blocks import MRKDWN, _mrkdwn, _section, clip_mrkdwn
from bot.slack.ids import ActionId, CallbackId


class ProposalRef(BaseModel):
    """What a button or modal carries: the proposal id, nothing the server should trust more."""

    proposal_id: int


def _when(view: ProposalView) -> str:
    return view.expires_at.strftime("%H:%M UTC") if view.expires_at else ""


def decision_line(view: ProposalView) -> str:
    """``needs 2 approvals from @sre (two-person rule) · expires 07:15 UTC · 1 of 2 so far``."""
    decision = view.decision
    match view.state:
        case ProposalState.PENDING:
            parts = [f"🟡 {MRKDWN.text(decision.describe())}"]
            if decision.rule == ONLY_ALERTS_AUTO and decision.reasons:
                parts[0] += f" — _{MRKDWN.text(one_line(decision.reasons[0], limit=400))}_"
            if view.reason:  # sent back here by the execution-time re-check
                parts[0] += f" — {MRKDWN.text(one_line(view.reason, limit=600))}"
            if view.expires_at:
                parts.append(f"expires {_when(view)}")
            if view.approvals:
                parts.append(f"{len(view.approvals)} of {decision.min_approvals} so far: "
                             + ", ".join(f"<@{u}>" for u in view.approvals))
            return " · ".join(parts)
        case ProposalState.DENIED:
            reason = view.reason or (decision.reasons[0] if decision.reasons else "denied by policy")
            return f"⛔ denied — {MRKDWN.text(one_line(reason, limit=400))} _(rule: {MRKDWN.text(decision.rule)})_"
        case ProposalState.MANUAL:
            return "📝 manual step: Sitrep does not run this"
        case ProposalState.REJECTED:
            note = f": {MRKDWN.text(one_line(view.reason, limit=300))}" if view.reason else ""
            return f"✋ rejected{note}"
        case ProposalState.EXPIRED:
            return "⌛ expired — not approved in time"
        case ProposalState.EXECUTING | ProposalState.AUTO:
            return "⏳ running…"
        case ProposalState.EXECUTED | ProposalState.FAILED:
            message = (view.execution or {}).get("message") or view.state
            mark = "✅" if view.state == ProposalState.EXECUTED else "❌"
            dry = " (dry run)" if (view.execution or {}).get("dry_run") else ""
            return f"{mark} {view.state}{dry}: {MRKDWN.text(one_line(str(message), limit=400))}"
    return MRKDWN.text(view.state)


def preview_text(view: ProposalView, *, limit: int = 1500) -> str:
    """The decision's preview (what the action would change: the deploy it goes back to, the exact
    change, auto-sync), escaped: it carries configuration values and commit text."""
    lines = [f"> {MRKDWN.text(one_line(line, limit=600))}" for line in view.decision.preview]
    return clip_mrkdwn("\n".join(lines), limit) if lines else ""


def approval_buttons(view: ProposalView) -> ActionsBlock:
    value = ProposalRef(proposal_id=view.id).model_dump_json()
    what = one_line(describe_action(view.action, style=PLAIN), limit=200)
    changes = next((line for line in view.decision.preview if line.startswith("This rollback changes")), None)
    if changes:  # the confirm dialog says it too, in plain text (no markup in a confirm)
        what = one_line(f"{what}. {changes}", limit=290)
    return ActionsBlock(
        block_id=f"proposal-{view.id}",
        elements=[
            ButtonElement(
                text="Approve", action_id=ActionId.APPROVE, value=value, style="primary",
                confirm=ConfirmObject(title="Approve this action?", text=clip_mrkdwn(MRKDWN.text(what), 300),
                                      confirm="Approve", deny="Cancel"),
            ),
            ButtonElement(
                text="Reject", action_id=ActionId.REJECT, value=value, style="danger",
                confirm=ConfirmObject(title="Reject this action?", text=clip_mrkdwn(MRKDWN.text(what), 300),
                                      confirm="Reject", deny="Cancel"),
            ),
        ],
    )


def revert_button(view: ProposalView) -> ActionsBlock:
    """Revert an executed action: asks for a new proposal back to the recorded prior state (the
    same policy and approvals apply; nothing runs on this click alone)."""
    what = one_line(describe_action(view.revert, style=PLAIN), limit=200) if view.revert else "undo it"
    return ActionsBlock(
        block_id=f"revert-{view.id}",
        elements=[ButtonElement(
            text="↩️ Revert", action_id=ActionId.REVERT, value=ProposalRef(proposal_id=view.id).model_dump_json(),
            confirm=ConfirmObject(title="Ask to revert?", text=clip_mrkdwn(
                f"{MRKDWN.text(what)}. The policy decides again and approvers must approve before it runs.", 300),
                confirm="Ask to revert", deny="Cancel"),
        )],
    )


def revert_request_blocks(view: ProposalView, *, user: str) -> list[Block]:
    """The thread message after someone clicked Revert: the revert proposal and its decision, with
    Approve/Reject when it needs approval."""
    blocks: list[Block] = [_section(
        f"↩️ <@{user}> asked to revert proposal {view.reverts}: {describe_action(view.action, style=MRKDWN)}\n"
        f"{decision_line(view)}")]
    if view.needs_buttons and view.decision.preview:
        blocks.append(_section(preview_text(view)))
    if view.needs_buttons:
        blocks.append(approval_buttons(view))
    return blocks


def build_proposal_blocks(proposals: Sequence[ProposalView],
                          refused: Sequence[RefusedAction] = ()) -> list[Block]:
    """One section per proposal (safest first), its decision, and buttons only when pending;
    then what the model proposed that Sitrep cannot do, as denied."""
    blocks: list[Block] = [_section("*Recommended actions* (safest first)")]
    for i, view in enumerate(proposals, start=1):
        rationale = MRKDWN.text(one_line(view.action.rationale, limit=300))
        blocks.append(_section(f"{i}. {describe_action(view.action, style=MRKDWN)} — {rationale}\n"
                               f"{decision_line(view)}"))
        if view.needs_buttons and view.decision.preview:
            blocks.append(_section(preview_text(view)))
        if view.needs_buttons:
            blocks.append(approval_buttons(view))
        elif view.revertible:
            blocks.append(revert_button(view))
    for item in refused[:3]:
        blocks.append(_section(f"• `{MRKDWN.text(item.kind)}` proposed by the model\n"
                               f"⛔ denied — {MRKDWN.text(item.reason)} _(rule: {MRKDWN.text(item.rule)})_"))
    return blocks


def build_action_blocks(brief: Brief, proposals: Sequence[ProposalView]) -> list[Block] | None:
    """The actions part of a brief message: None keeps the plain list (no policy loaded and
    nothing refused)."""
    if not proposals and not brief.refused_actions:
        return None
    return build_proposal_blocks(proposals, brief.refused_actions)


def build_approval_modal(view: ProposalView, brief: Brief | None) -> dict[str, Any]:
    """For critical actions: the exact change and the evidence, before the approval counts."""
    change = view.action.model_dump(mode="json")
    blocks: list[Block] = [
        SectionBlock(text=_mrkdwn(f"*{describe_action(view.action, style=MRKDWN)}*\n"
                                     f"{MRKDWN.text(view.decision.describe())}")),
        SectionBlock(text=_mrkdwn("*Exact change*\n```" + MRKDWN.text(_json(change)) + "```")),
    ]
    if view.decision.preview:
        blocks.append(SectionBlock(text=_mrkdwn("*What it changes*\n" + preview_text(view, limit=2800))))
    if brief is not None:
        lines = [f"• `{MRKDWN.text(e.id)}` {MRKDWN.text(one_line(e.detail, limit=200))}" for e in brief.evidence[:8]]
        blocks.append(SectionBlock(text=_mrkdwn(
            f"*Root cause* ({brief.root_cause.confidence.value}, {brief.root_cause.confidence_score}/100): "
            f"{MRKDWN.text(one_line(brief.root_cause.statement, limit=600))}\n*Evidence*\n" + "\n".join(lines))))
    modal = View(
        type="modal", callback_id=CallbackId.APPROVE_CONFIRM,
        title=PlainTextObject(text="Approve action"), submit=PlainTextObject(text="Approve"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=ProposalRef(proposal_id=view.id).model_dump_json(), blocks=blocks,
    )
    return modal.to_dict()


def build_reject_modal(view: ProposalView) -> dict[str, Any]:
    modal = View(
        type="modal", callback_id=CallbackId.REJECT_REASON,
        title=PlainTextObject(text="Reject action"), submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=ProposalRef(proposal_id=view.id).model_dump_json(),
        blocks=[
            SectionBlock(text=_mrkdwn(f"*{describe_action(view.action, style=MRKDWN)}*")),
            InputBlock(block_id="reason", label=PlainTextObject(text="Why? (optional)"), optional=True,
                       element=PlainTextInputElement(action_id="reason", multiline=True, max_length=500)),
        ],
    )
    return modal.to_dict()


def _json(data: Any) -> str:
    return json.dumps(data, indent=2)[:2500]
