"""Reverting an executed action: what puts its target back as it was (recorded before it ran),
whether it can be reverted, and the revert requested as a new proposal under the same policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from bot.deploy_history import current_deploy, rollback_params
from bot.models import Action, ActionKind, Deploy, TimelineEventType
from bot.policy.decision import DecisionOutcome
from bot.service.proposals import ClickResult, ProposalState, ProposalView, stored_prompt


#: actions whose policy check and revert need the ArgoCD history
NEEDS_HISTORY = (ActionKind.ROLLBACK, ActionKind.SYNC)


class RevertSteps:
    """The revert part of ``RemediationService`` (``bot.service.remediation``), which decides the new
    proposal (``_decide``) and runs it when the policy says ``auto`` (``_execute``)."""

    async def request_revert(self, proposal_id: int, *, user: str) -> ClickResult:
        """Propose putting back what ``proposal_id`` changed: a new proposal (``user`` its requester)
        under the same policy and approval rules, at most one per executed action."""
        original = await self.view(proposal_id)
        refusal = _why_not_revertible(original)
        if refusal is not None or original.revert is None:
            return ClickResult(proposal=original, refusal=refusal or "Nothing to revert.")
        action = self._complete_target(original.revert)
        history = await self._facts.history(action) if action.kind in NEEDS_HISTORY else []
        decision, new = await self._decide(action, requester=user, history=history,
                                           executions=await self._recent_executions(),
                                           prompted_by=stored_prompt(original.decision),
                                           suspicious=original.decision.suspicious)
        pid = await asyncio.to_thread(self._proposals.add_revert, proposal_id, new, requester=user)
        if pid is None:
            again = await self.view(proposal_id)
            return ClickResult(proposal=again, refusal=f"A revert of this action was already requested "
                                                       f"(proposal {again.reverted_by}).")
        await self._event(original.incident_id, TimelineEventType.ACTION_PROPOSED, actor=user, proposal_id=pid,
                          reverts=proposal_id, action=json.loads(new.action), outcome=decision.outcome.value,
                          rule=decision.rule, reasons=decision.reasons)
        executed = None
        if decision.outcome is DecisionOutcome.AUTO:
            executed = await self._execute(pid, actor="policy", from_states=[ProposalState.AUTO])
        return ClickResult(proposal=await self.view(pid), executed=executed, counted=True)


def revert_action(action: Action, *, proposal_id: int, history: Sequence[Deploy], replicas: int | None) -> Action | None:
    """The action that puts ``action``'s target back as it is now (before ``action`` runs): the deploy
    running now for a rollback or a sync, the replica count for a scale; None for what cannot be undone
    (a restart, a runbook)."""
    service = action.target.service
    match action.kind:
        case ActionKind.ROLLBACK | ActionKind.SYNC:
            current = current_deploy(history)
            if current is None:
                return None
            why = f"revert of proposal {proposal_id}: {service} ran {current.ref} before it"
            if action.kind is ActionKind.ROLLBACK:
                return Action(kind=ActionKind.ROLLBACK, target=action.target, rationale=why,
                              params=rollback_params(current))
            return Action(kind=ActionKind.SYNC, target=action.target, rationale=why,
                          params={"revision": current.revision})
        case ActionKind.SCALE if replicas is not None:
            return Action(kind=ActionKind.SCALE, target=action.target, params={"replicas": replicas},
                          rationale=f"revert of proposal {proposal_id}: {service} had {replicas} replicas before it")
        case _:
            return None


def _why_not_revertible(view: ProposalView) -> str | None:
    if view.reverts is not None:
        return f"This action was itself the revert of proposal {view.reverts}; Sitrep does not revert a revert."
    if view.state != ProposalState.EXECUTED:
        return f"Only an executed action can be reverted; this one is {view.state}."
    if view.execution is not None and view.execution.get("dry_run"):
        return "That was a dry run: nothing changed, so there is nothing to revert."
    if view.revert is None:
        return f"A {view.action.kind.value} cannot be undone: Sitrep has no earlier state to go back to."
    if view.reverted_by is not None:
        return f"A revert of this action was already requested (proposal {view.reverted_by})."
    return None
