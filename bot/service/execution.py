"""Running an approved action exactly once, with the policy checked again at execution time.

    claim (conditional UPDATE: one caller wins) ─▶ policy evaluated again with fresh history
      ─▶ approvals given checked again ─▶ prior state recorded (for a revert) ─▶ executor ─▶ execution row

A proposal that no longer passes goes to ``denied``, or back to ``pending`` when it is short of
approvals; an executor that crashes leaves it ``failed``, never hanging in ``executing``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Protocol

import structlog

from bot.deploy_history import current_deploy
from bot.models import Action, ActionKind, Deploy, TimelineEventType
from bot.policy.context import PolicyContext
from bot.policy.decision import Decision, DecisionOutcome
from bot.policy.engine import evaluate
from bot.service.approvals import ApproverDirectory, GroupsOf
from bot.service.proposals import ExecutionOutcome, ProposalState, stored_prompt
from bot.service.revert import NEEDS_HISTORY, revert_action

log = structlog.get_logger(__name__)


class ActionRunner(Protocol):
    """Runs one typed action (bot.executor's registry implements it)."""

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionOutcome: ...


class ExecutionSteps:
    """The execution half of ``RemediationService`` (``bot.service.remediation``), which supplies the
    stores, the policy, the runner, the target facts and the shared steps; the approvals are
    checked again by ``ApprovalSteps._approvals_short`` (``bot.service.approvals``)."""

    async def _execute(self, proposal_id: int, *, actor: str, from_states: list[str],
                       groups_of: GroupsOf | None = None,
                       directory: ApproverDirectory | None = None) -> ExecutionOutcome | None:
        """Claim the proposal (one caller wins), re-check the policy with fresh facts and the
        approvals given against what it now requires, run it."""
        claimed = await asyncio.to_thread(self._proposals.transition, proposal_id,
                                          from_states=from_states, to_state=ProposalState.EXECUTING)
        if not claimed:
            return None
        row = await asyncio.to_thread(self._proposals.get, proposal_id)
        before = Decision.model_validate_json(row.decision)
        action = self._complete_target(Action.model_validate_json(row.action))
        history = await self._facts.history(action) if action.kind in NEEDS_HISTORY else []
        context = PolicyContext(now=self._clock(), requester=row.requester, history=history,
                                replicas=await self._replicas(action),
                                executions=await self._recent_executions(),
                                prompted_by=stored_prompt(before), suspicious=before.suspicious)
        decision = evaluate(action, context=context, policy=self._policy.policy)
        stale = _stale_reason(row.basis_deploy, history) if action.kind is ActionKind.ROLLBACK else None
        if stale is not None:
            decision = decision.model_copy(update={"outcome": DecisionOutcome.DENY, "rule": "stale brief",
                                                   "reasons": [stale, *decision.reasons]})
        if not decision.executable:
            reason = decision.reasons[0] if decision.reasons else decision.describe()
            await asyncio.to_thread(self._proposals.transition, proposal_id, from_states=[ProposalState.EXECUTING],
                                    to_state=ProposalState.DENIED, reason=f"policy at execution time: {reason}")
            await self._event(row.incident_id, TimelineEventType.ACTION_DENIED_AT_EXECUTION, actor=actor,
                              proposal_id=proposal_id, rule=decision.rule, reasons=decision.reasons)
            return None
        if decision.outcome is DecisionOutcome.APPROVE:
            short = await self._approvals_short(row, decision, history=history, groups_of=groups_of,
                                                directory=directory)
            if short is not None:
                reason, dropped = short
                if decision.executable and before.preview:
                    decision = decision.model_copy(update={"preview": before.preview})
                await asyncio.to_thread(self._proposals.back_to_pending, proposal_id,
                                        decision=decision.model_dump_json(), expires_at=decision.expires_at,
                                        drop_approvals=dropped, reason=reason)
                await self._event(row.incident_id, TimelineEventType.ACTION_DENIED_AT_EXECUTION, actor=actor,
                                  proposal_id=proposal_id, rule=decision.rule, reasons=[reason, *decision.reasons],
                                  back_to="pending", dropped=dropped)
                return None
        if not await asyncio.to_thread(self._proposals.start_execution, proposal_id, dry_run=self._dry_run):
            return None
        undo = revert_action(action, proposal_id=proposal_id, history=history, replicas=context.replicas)
        if undo is not None:  # the state before, kept before anything changes it
            await asyncio.to_thread(self._proposals.record_revert, proposal_id, undo.model_dump_json())
        await self._event(row.incident_id, TimelineEventType.EXECUTION_STARTED, actor=actor,
                          proposal_id=proposal_id, action=json.loads(row.action), dry_run=self._dry_run)
        try:
            result = await self._runner.execute(action, dry_run=self._dry_run,
                                                history_id=decision.target_history_id)
        except Exception as exc:  # an executor bug: record it, never leave the proposal hanging
            log.exception("executor_crashed", proposal_id=proposal_id)
            await asyncio.to_thread(self._proposals.finish_execution, proposal_id, ok=False,
                                    result=json.dumps({"ok": False, "message": f"executor error: {type(exc).__name__}"}))
            await asyncio.to_thread(self._proposals.transition, proposal_id, from_states=[ProposalState.EXECUTING],
                                    to_state=ProposalState.FAILED, reason=type(exc).__name__)
            await self._event(row.incident_id, TimelineEventType.EXECUTION_FINISHED, proposal_id=proposal_id,
                              ok=False, message=f"executor error: {type(exc).__name__}")
            return None
        await asyncio.to_thread(self._proposals.finish_execution, proposal_id, ok=result.ok,
                                result=result.model_dump_json())
        await asyncio.to_thread(self._proposals.transition, proposal_id, from_states=[ProposalState.EXECUTING],
                                to_state=ProposalState.EXECUTED if result.ok else ProposalState.FAILED)
        await self._event(row.incident_id, TimelineEventType.EXECUTION_FINISHED, proposal_id=proposal_id,
                          ok=result.ok, dry_run=result.dry_run, message=result.message,
                          result=json.loads(result.model_dump_json()))
        if self.on_executed is not None:
            try:
                await self.on_executed(await self.view(proposal_id), result)
            except Exception:
                log.exception("on_executed_failed", proposal_id=proposal_id)
        return result


def _stale_reason(basis: int | None, fresh: Sequence[Deploy]) -> str | None:
    """A deploy that landed after the brief makes its rollback advice stale."""
    newest = current_deploy(fresh)
    if basis is None or newest is None or newest.history_id == basis:
        return None
    return (f"A newer deploy landed after this was proposed ({newest.name}, history {newest.history_id}): "
            "investigate again before rolling back.")
