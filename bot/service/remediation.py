"""Remediation under control: propose, approve, reject, execute, exactly once.

    brief.actions ─▶ policy.evaluate ─▶ proposals (auto / pending / denied / manual)
    Approve click ─▶ approver check ─▶ approval row ─▶ enough? ─▶ claim (conditional UPDATE)
                  ─▶ policy evaluated again with fresh history ─▶ executor ─▶ execution row
    Every decision, click and execution is a timeline event.

The steps live in their own modules: ``approvals`` (recording and checking approvals),
``execution`` (running an approved action exactly once, re-checked), ``revert`` (putting a
target back), ``proposals`` (what entry points see). This module makes the proposals and
holds what the steps share. The service knows nothing of Slack: callers pass user ids and the
user's group handles.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.deploy_history import current_deploy
from bot.models import Action, ActionKind, Brief, Deploy, TimelineEventType, utcnow
from bot.policy.context import Execution, PolicyContext, Prompt, as_utc
from bot.policy.decision import Decision, DecisionOutcome
from bot.policy.engine import evaluate
from bot.policy.loader import PolicyHolder
from bot.service.approvals import ApprovalSteps
from bot.service.execution import ActionRunner, ExecutionSteps
from bot.service.preview import change_preview
from bot.service.proposals import ExecutionOutcome, ProposalState, ProposalView, load_view, load_views
from bot.service.revert import RevertSteps
from bot.store.incidents import IncidentNotFoundError, IncidentStore
from bot.store.proposals import NewProposal, ProposalStore


class TargetFacts(Protocol):
    """What the policy needs to know about the target now (ArgoCD history, replicas)."""

    async def history(self, action: Action) -> list[Deploy]: ...

    async def replicas(self, action: Action) -> int | None: ...


class RemediationService(ApprovalSteps, ExecutionSteps, RevertSteps):
    """Proposals from a brief's actions, the clicks on them, their execution and their revert."""

    def __init__(
        self,
        *,
        proposals: ProposalStore,
        incidents: IncidentStore,
        policy: PolicyHolder,
        runner: ActionRunner,
        facts: TargetFacts,
        dry_run: bool,
        suspend_auto_sync: bool = False,
        clock: Callable[[], datetime] = utcnow,
        on_executed: Callable[[ProposalView, ExecutionOutcome], Awaitable[None]] | None = None,
    ) -> None:
        self._proposals = proposals
        self._incidents = incidents
        self._policy = policy
        self._runner = runner
        self._facts = facts
        self._dry_run = dry_run
        self._suspend_auto_sync = suspend_auto_sync
        self._clock = clock
        self.on_executed = on_executed

    # ------------------------------------------------------------------ propose

    async def propose(
        self, incident_id: int, brief: Brief, *, requester: str | None, history: Sequence[Deploy] = ()
    ) -> list[ProposalView]:
        """Evaluate each action of the brief and store it as a proposal; run the ``auto`` ones."""
        executions = await self._recent_executions()
        try:
            incident = await asyncio.to_thread(self._incidents.get, incident_id)
            origin, alerting = incident.origin, incident.service
        except IncidentNotFoundError:
            origin, alerting = "unknown", None
        suspicious = bool(brief.analysis.suspicious)
        new: list[NewProposal] = []
        decisions: list[Decision] = []
        for action in brief.sorted_actions():
            decision, proposal = await self._decide(action, requester=requester, history=history,
                                                    executions=executions,
                                                    prompted_by=prompt_of(action, origin=origin, alerting=alerting),
                                                    suspicious=suspicious)
            decisions.append(decision)
            new.append(proposal)
        ids = await asyncio.to_thread(self._proposals.add, incident_id, new, requester=requester)
        for pid, decision, item in zip(ids, decisions, new, strict=True):
            await self._event(incident_id, TimelineEventType.ACTION_PROPOSED, proposal_id=pid,
                              action=json.loads(item.action), outcome=decision.outcome.value,
                              rule=decision.rule, reasons=decision.reasons)
        for pid, decision in zip(ids, decisions, strict=True):
            if decision.outcome is DecisionOutcome.AUTO:
                await self._execute(pid, actor="policy", from_states=[ProposalState.AUTO])
        return [await self.view(pid) for pid in ids]

    async def view(self, proposal_id: int) -> ProposalView:
        row = await asyncio.to_thread(self._proposals.get, proposal_id)
        return await asyncio.to_thread(load_view, self._proposals, row)

    async def for_incident(self, incident_id: int) -> list[ProposalView]:
        return await asyncio.to_thread(load_views, self._proposals, incident_id)

    async def _decide(self, action: Action, *, requester: str | None, history: Sequence[Deploy],
                      executions: list[Execution], prompted_by: Prompt = Prompt.REQUEST,
                      suspicious: bool = False) -> tuple[Decision, NewProposal]:
        """The policy's decision on ``action`` now, and the proposal row that records it."""
        context = PolicyContext(now=self._clock(), requester=requester, history=list(history),
                                replicas=await self._replicas(action), executions=executions,
                                prompted_by=prompted_by, suspicious=suspicious)
        decision = evaluate(action, context=context, policy=self._policy.policy)
        if decision.executable:
            preview = change_preview(self._complete_target(action), history,
                                     suspend_auto_sync=self._suspend_auto_sync)
            decision = decision.model_copy(update={"preview": preview})
        return decision, NewProposal(action=action.model_dump_json(), decision=decision.model_dump_json(),
                                     state=_initial_state(decision), expires_at=decision.expires_at,
                                     basis_deploy=_current_deploy(history))

    def _complete_target(self, action: Action) -> Action:
        """Fill the ArgoCD app and namespace the policy declares for the service, when the
        proposal left them out (the model often names only the service)."""
        service = self._policy.policy.services.get(action.target.service)
        if service is None:
            return action
        target = action.target.model_copy(update={
            "app": action.target.app or service.app_for(action.target.service),
            "namespace": action.target.namespace or service.namespace,
        })
        return action.model_copy(update={"target": target})

    async def _replicas(self, action: Action) -> int | None:
        if action.kind is not ActionKind.SCALE:
            return None
        return await self._facts.replicas(action)

    async def _recent_executions(self) -> list[Execution]:
        window = self._policy.policy.longest_rate_window()
        if window is None:
            return []
        since = self._clock() - window
        rows = await asyncio.to_thread(self._proposals.executed_since, since)
        return [Execution(kind=ActionKind(kind), service=service, at=as_utc(at)) for kind, service, at in rows]

    async def _event(self, incident_id: int, type: TimelineEventType, *, actor: str = "sitrep", **data: Any) -> None:
        await asyncio.to_thread(self._incidents.add_event, incident_id, type, actor=actor, data=data)


def prompt_of(action: Action, *, origin: str, alerting: str | None) -> Prompt:
    """What prompted ``action`` in an incident opened from ``origin`` (``alert`` for a configured
    webhook or a watched alert channel; ``slash_command`` and ``cli`` are text a person typed)
    about the service ``alerting``: only an action on the alerting service of an alert counts as
    the alert's."""
    if origin != "alert":
        return Prompt.REQUEST
    return Prompt.ALERT if action.target.service == alerting else Prompt.EVIDENCE


def _current_deploy(history: Sequence[Deploy]) -> int | None:
    current = current_deploy(history)
    return current.history_id if current is not None else None


def _initial_state(decision: Decision) -> str:
    return {
        DecisionOutcome.AUTO: ProposalState.AUTO,
        DecisionOutcome.APPROVE: ProposalState.PENDING,
        DecisionOutcome.DENY: ProposalState.DENIED,
        DecisionOutcome.MANUAL: ProposalState.MANUAL,
    }[decision.outcome]
