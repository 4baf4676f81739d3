"""Remediation under control: propose, approve, reject, execute, exactly once.

    brief.actions ─▶ policy.evaluate ─▶ proposals (auto / pending / denied / manual)
    Approve click ─▶ approver check ─▶ approval row ─▶ enough? ─▶ claim (conditional UPDATE)
                  ─▶ policy evaluated again with fresh history ─▶ executor ─▶ execution row
    Every decision, click and execution is a timeline event.

The service knows nothing of Slack: callers pass user ids and the user's group handles.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import structlog

from bot.deploy_history import current_deploy, rollback_params
from bot.models import Action, ActionKind, Brief, Deploy, TimelineEventType, utcnow
from bot.policy.context import Execution, PolicyContext, Prompt, as_utc
from bot.policy.decision import Decision, DecisionOutcome, check_approver
from bot.policy.engine import evaluate
from bot.policy.loader import PolicyHolder
from bot.store.incidents import IncidentNotFoundError, IncidentStore
from bot.store.proposals import NewProposal, ProposalStore
from bot.service.preview import change_preview
from bot.store.tables import ProposalRow

log = structlog.get_logger(__name__)


class ProposalState(StrEnum):
    PENDING = "pending"
    AUTO = "auto"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    DENIED = "denied"
    MANUAL = "manual"


class ExecutionOutcome(Protocol):
    ok: bool
    dry_run: bool
    message: str

    def model_dump_json(self) -> str: ...


class ActionRunner(Protocol):
    """Runs one typed action (bot.executor's registry implements it)."""

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionOutcome: ...


@dataclass(frozen=True, slots=True)
class OnCallStatus:
    """Which of the schedules asked about the approver is on call for now; ``notes`` say where an
    answer came from a fallback (or from nowhere), for the approver to see."""

    on_call: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()


class ApproverDirectory(Protocol):
    """Facts about an approver beyond their user-group handles (the Slack side implements it)."""

    async def on_call(self, user: str, refs: Sequence[str]) -> OnCallStatus: ...

    async def identities(self, user: str) -> set[str]:
        """The user's id, name and email: to recognise them as the author of a deploy. Raises
        ``DirectoryUnavailableError`` when they cannot be looked up."""
        ...


class DirectoryUnavailableError(RuntimeError):
    """The approver directory could not answer (``users.info`` failed): checks that need it fail closed."""


GroupsOf = Callable[[str], Awaitable[Sequence[str]]]


class TargetFacts(Protocol):
    """What the policy needs to know about the target now (ArgoCD history, replicas)."""

    async def history(self, action: Action) -> list[Deploy]: ...

    async def replicas(self, action: Action) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ProposalView:
    """A proposal as entry points show it."""

    id: int
    incident_id: int
    action: Action
    decision: Decision
    state: str
    approvals: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    reason: str | None = None
    execution: dict[str, Any] | None = None
    #: what puts the target back as it was before this action ran (recorded before it ran)
    revert: Action | None = None
    #: the proposal this one reverts, and the proposal that reverts this one
    reverts: int | None = None
    reverted_by: int | None = None

    @property
    def needs_buttons(self) -> bool:
        return self.state == ProposalState.PENDING

    @property
    def revertible(self) -> bool:
        """Executed for real, with a recorded prior state, not yet reverted, not itself a revert."""
        return (self.state == ProposalState.EXECUTED and self.revert is not None and self.reverted_by is None
                and self.reverts is None and self.execution is not None and not self.execution.get("dry_run"))


@dataclass(frozen=True, slots=True)
class ClickResult:
    """What happened when someone clicked: ``refusal`` is shown to them only (ephemeral)."""

    proposal: ProposalView
    refusal: str | None = None
    executed: ExecutionOutcome | None = None
    counted: bool = False
    #: shown to the clicker only: e.g. the on-call schedule service was down and the rota file answered
    notes: tuple[str, ...] = ()


class RemediationService:
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

    # ------------------------------------------------------------------ clicks

    async def approve(
        self, proposal_id: int, *, user: str, groups: Callable[[], Awaitable[Sequence[str]]],
        directory: ApproverDirectory | None = None, groups_of: GroupsOf | None = None,
    ) -> ClickResult:
        """Count ``user``'s approval if the policy lets them give it; execute once enough.

        ``directory`` answers for approvers named as on-call schedules and tells whether ``user``
        made the deploy a rollback would undo (they may then not approve it; when that cannot be
        told, the approval is not counted). ``groups_of`` answers the group handles of the other
        approvers at execution time (without it, the groups they had when they approved)."""
        row = await asyncio.to_thread(self._proposals.get, proposal_id)
        await self._event(row.incident_id, TimelineEventType.APPROVAL_CLICKED, actor=user,
                          proposal_id=proposal_id)
        status = OnCallStatus()
        notes: tuple[str, ...] = ()
        refusal = await self._refuse_if_closed(row)
        if refusal is None:
            decision = Decision.model_validate_json(row.decision)
            already = await asyncio.to_thread(self._proposals.approvers, proposal_id)
            status = await self._on_call(user, decision, directory)
            notes = status.notes
            clicker_groups = list(await groups())
            try:
                author = await self._deploy_author(row)
                identities = await directory.identities(user) if directory is not None and author else set()
            except DirectoryUnavailableError as exc:
                refusal = _AUTHOR_UNKNOWN.format(why=str(exc) or "a lookup failed")
            else:
                refusal = check_approver(decision, user, requester=row.requester, already_approved=already,
                                         groups=clicker_groups, on_call=status.on_call, deploy_author=author,
                                         identities=identities, now=self._clock())
        if refusal is not None:
            await self._event(row.incident_id, TimelineEventType.APPROVAL_REFUSED, actor=user,
                              proposal_id=proposal_id, reason=refusal, notes=list(notes))
            return ClickResult(proposal=await self.view(proposal_id), refusal=refusal, notes=notes)
        counted = await asyncio.to_thread(self._proposals.add_approval, proposal_id, user)
        if not counted:
            return ClickResult(proposal=await self.view(proposal_id),
                               refusal="You have already approved this action.")
        await self._event(row.incident_id, TimelineEventType.APPROVAL_GIVEN, actor=user,
                          proposal_id=proposal_id, on_call=sorted(status.on_call), notes=list(notes),
                          groups=clicker_groups)
        decision = Decision.model_validate_json(row.decision)
        approvals = await asyncio.to_thread(self._proposals.approvers, proposal_id)
        executed = None
        if len(approvals) >= max(decision.min_approvals, 1):
            async def approver_groups(who: str) -> Sequence[str]:
                if who == user:
                    return clicker_groups
                if groups_of is not None:
                    return await groups_of(who)
                return await self._recorded_groups(row.incident_id, proposal_id, who)

            executed = await self._execute(proposal_id, actor=user, from_states=[ProposalState.PENDING],
                                           groups_of=approver_groups, directory=directory)
        return ClickResult(proposal=await self.view(proposal_id), executed=executed, counted=True, notes=notes)

    async def reject(self, proposal_id: int, *, user: str, reason: str | None = None) -> ClickResult:
        row = await asyncio.to_thread(self._proposals.get, proposal_id)
        refusal = await self._refuse_if_closed(row)
        if refusal is not None:
            return ClickResult(proposal=await self.view(proposal_id), refusal=refusal)
        moved = await asyncio.to_thread(
            self._proposals.transition, proposal_id, from_states=[ProposalState.PENDING],
            to_state=ProposalState.REJECTED, decided_by=user, reason=reason,
        )
        if not moved:
            return ClickResult(proposal=await self.view(proposal_id),
                               refusal="Someone acted on this proposal first.")
        await self._event(row.incident_id, TimelineEventType.ACTION_REJECTED, actor=user,
                          proposal_id=proposal_id, reason=reason)
        return ClickResult(proposal=await self.view(proposal_id), counted=True)

    async def expire_due(self) -> list[ProposalView]:
        """Expire pending proposals past their expiry; returns those this call expired."""
        expired = []
        for row in await asyncio.to_thread(self._proposals.due_for_expiry, self._clock()):
            assert row.id is not None
            if await asyncio.to_thread(self._proposals.transition, row.id,
                                       from_states=[ProposalState.PENDING], to_state=ProposalState.EXPIRED,
                                       decided_by="sitrep", reason="expired before enough approvals"):
                await self._event(row.incident_id, TimelineEventType.ACTION_EXPIRED, proposal_id=row.id)
                expired.append(await self.view(row.id))
        return expired

    async def awaiting(self, user: str, *, groups: Sequence[str],
                       directory: ApproverDirectory | None = None) -> list[ProposalView]:
        """Pending proposals ``user`` may approve now (the policy's approvers, including the on-call
        schedules they are on call for, not the requester of a two-person rule, not already approved
        by them, not the rollback of their own deploy), oldest first."""
        now = self._clock()
        rows = await asyncio.to_thread(self._proposals.pending)
        decisions = {row.id: Decision.model_validate_json(row.decision) for row in rows}
        refs = sorted({ref for d in decisions.values() for ref in d.on_call_schedules})
        on_call = (await directory.on_call(user, refs)).on_call if refs and directory is not None else frozenset()
        mine = []
        identities: set[str] | None = None
        for row in rows:
            assert row.id is not None
            already = await asyncio.to_thread(self._proposals.approvers, row.id)
            if check_approver(decisions[row.id], user, requester=row.requester, already_approved=already,
                              groups=groups, on_call=on_call, now=now) is not None:
                continue
            try:
                author = await self._deploy_author(row)  # only rollbacks have one
                if author and directory is not None:
                    identities = identities if identities is not None else await directory.identities(user)
            except DirectoryUnavailableError:
                author = None  # listed; the click says why it cannot count now
            if author and directory is not None and identities is not None:
                if check_approver(decisions[row.id], user, requester=row.requester, already_approved=already,
                                  groups=groups, on_call=on_call, deploy_author=author, identities=identities,
                                  now=now) is not None:
                    continue  # their own deploy: they would be refused
            mine.append(await asyncio.to_thread(load_view, self._proposals, row))
        return mine

    async def request_revert(self, proposal_id: int, *, user: str) -> ClickResult:
        """Propose putting back what ``proposal_id`` changed: a new proposal (``user`` its requester)
        under the same policy and approval rules, at most one per executed action."""
        original = await self.view(proposal_id)
        refusal = _why_not_revertible(original)
        if refusal is not None or original.revert is None:
            return ClickResult(proposal=original, refusal=refusal or "Nothing to revert.")
        action = self._complete_target(original.revert)
        history = await self._facts.history(action) if action.kind in _NEEDS_HISTORY else []
        decision, new = await self._decide(action, requester=user, history=history,
                                           executions=await self._recent_executions(),
                                           prompted_by=_prompt(original.decision),
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

    async def view(self, proposal_id: int) -> ProposalView:
        row = await asyncio.to_thread(self._proposals.get, proposal_id)
        return await asyncio.to_thread(load_view, self._proposals, row)

    async def for_incident(self, incident_id: int) -> list[ProposalView]:
        return await asyncio.to_thread(load_views, self._proposals, incident_id)

    # ------------------------------------------------------------------ execution

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
        history = await self._facts.history(action) if action.kind in _NEEDS_HISTORY else []
        context = PolicyContext(now=self._clock(), requester=row.requester, history=history,
                                replicas=await self._replicas(action),
                                executions=await self._recent_executions(),
                                prompted_by=_prompt(before), suspicious=before.suspicious)
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

    async def _approvals_short(
        self, row: ProposalRow, decision: Decision, *, history: Sequence[Deploy], groups_of: GroupsOf | None,
        directory: ApproverDirectory | None,
    ) -> tuple[str, list[str]] | None:
        """Why the approvals given do not satisfy ``decision`` (recomputed at execution), and the
        approvals that no longer count; None when they do."""
        assert row.id is not None
        given = await asyncio.to_thread(self._proposals.approvers, row.id)
        current = current_deploy(history)
        author = current.initiated_by if current is not None \
            and ActionKind(Action.model_validate_json(row.action).kind) is ActionKind.ROLLBACK else None
        counted: list[str] = []
        dropped: list[str] = []
        why: list[str] = []
        for user in given:
            try:
                groups = await groups_of(user) if groups_of is not None else \
                    await self._recorded_groups(row.incident_id, row.id, user)
                on_call = (await self._on_call(user, decision, directory)).on_call
                identities = await directory.identities(user) if directory is not None and author else set()
            except DirectoryUnavailableError as exc:
                dropped.append(user)
                why.append(_AUTHOR_UNKNOWN.format(why=str(exc) or "a lookup failed").replace("Your", f"<@{user}>'s"))
                continue
            # the expiry belongs to the old request, and the count is what is checked here
            fresh = decision.model_copy(update={"expires_at": None, "min_approvals": len(given) + 1})
            refusal = check_approver(fresh, user, requester=row.requester, already_approved=counted,
                                     groups=groups, on_call=on_call, deploy_author=author, identities=identities)
            if refusal is None:
                counted.append(user)
            else:
                dropped.append(user)
                why.append(f"<@{user}>: {refusal}")
        if len(counted) >= max(decision.min_approvals, 1):
            return None
        need = max(decision.min_approvals, 1)
        text = (f"The policy was checked again before running and now {decision.describe()}; "
                f"{len(counted)} of the approvals given still count{' (' + '; '.join(why) + ')' if why else ''}. "
                f"It needs {need - len(counted)} more.")
        return text, dropped

    async def _recorded_groups(self, incident_id: int, proposal_id: int, user: str) -> list[str]:
        """The group handles ``user`` had when they approved ``proposal_id`` (the timeline records them)."""
        events = await asyncio.to_thread(self._incidents.timeline, incident_id)
        for event in reversed(events):
            if event.type == TimelineEventType.APPROVAL_GIVEN.value and event.actor == user:
                data = json.loads(event.data)
                if data.get("proposal_id") == proposal_id:
                    return list(data.get("groups") or [])
        return []

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

    async def _on_call(self, user: str, decision: Decision, directory: ApproverDirectory | None) -> OnCallStatus:
        refs = decision.on_call_schedules
        if not refs or directory is None:
            return OnCallStatus()
        return await directory.on_call(user, refs)

    async def _deploy_author(self, row: ProposalRow) -> str | None:
        """Who made the deploy a rollback proposal would undo (what runs now), when ArgoCD says."""
        action = Action.model_validate_json(row.action)
        if action.kind is not ActionKind.ROLLBACK:
            return None
        try:
            history = await self._facts.history(self._complete_target(action))
        except Exception as exc:  # fail closed: who made the deploy decides whether the approval counts
            log.warning("deploy_author_unknown", proposal_id=row.id, exc_info=True)
            raise DirectoryUnavailableError(f"ArgoCD did not answer: {type(exc).__name__}") from exc
        current = current_deploy(history)
        return current.initiated_by if current is not None else None

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

    async def _refuse_if_closed(self, row: ProposalRow) -> str | None:
        if row.state == ProposalState.PENDING:
            if row.expires_at is not None and as_utc(row.expires_at) <= as_utc(self._clock()):
                assert row.id is not None
                await self.expire_due()
                return "This approval request has expired; ask Sitrep to propose the action again."
            return None
        return {
            ProposalState.EXECUTING: "This action is already running.",
            ProposalState.EXECUTED: "This action has already run.",
            ProposalState.FAILED: "This action already ran and failed; see the thread.",
            ProposalState.REJECTED: f"This action was rejected by <@{row.decided_by}>." if row.decided_by else
            "This action was rejected.",
            ProposalState.EXPIRED: "This approval request has expired; ask Sitrep to propose the action again.",
            ProposalState.DENIED: "The policy denies this action.",
            ProposalState.MANUAL: "This is a manual step: Sitrep does not run it.",
            ProposalState.AUTO: "The policy runs this action without approval.",
        }.get(row.state, f"This action is {row.state}.")

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


_AUTHOR_UNKNOWN = ("Your approval was not counted: Sitrep could not check who made the deploy this rolls back "
                   "({why}), and nobody may approve undoing their own deploy. Try again in a minute.")


def prompt_of(action: Action, *, origin: str, alerting: str | None) -> Prompt:
    """What prompted ``action`` in an incident opened from ``origin`` (``alert`` for a configured
    webhook or a watched alert channel; ``slash_command`` and ``cli`` are text a person typed)
    about the service ``alerting``: only an action on the alerting service of an alert counts as
    the alert's."""
    if origin != "alert":
        return Prompt.REQUEST
    return Prompt.ALERT if action.target.service == alerting else Prompt.EVIDENCE


def _prompt(decision: Decision) -> Prompt:
    """The prompt a stored decision was made for (none recorded: a person's request, the safe side)."""
    try:
        return Prompt(decision.prompted_by) if decision.prompted_by else Prompt.REQUEST
    except ValueError:
        return Prompt.REQUEST


def _current_deploy(history: Sequence[Deploy]) -> int | None:
    current = current_deploy(history)
    return current.history_id if current is not None else None


def _stale_reason(basis: int | None, fresh: Sequence[Deploy]) -> str | None:
    """A deploy that landed after the brief makes its rollback advice stale."""
    newest = current_deploy(fresh)
    if basis is None or newest is None or newest.history_id == basis:
        return None
    return (f"A newer deploy landed after this was proposed ({newest.name}, history {newest.history_id}): "
            "investigate again before rolling back.")


def _initial_state(decision: Decision) -> str:
    return {
        DecisionOutcome.AUTO: ProposalState.AUTO,
        DecisionOutcome.APPROVE: ProposalState.PENDING,
        DecisionOutcome.DENY: ProposalState.DENIED,
        DecisionOutcome.MANUAL: ProposalState.MANUAL,
    }[decision.outcome]


def load_views(proposals: ProposalStore, incident_id: int) -> list[ProposalView]:
    """Every proposal of an incident as entry points show it, in brief order."""
    return [load_view(proposals, row) for row in proposals.for_incident(incident_id)]


def load_view(proposals: ProposalStore, row: ProposalRow) -> ProposalView:
    assert row.id is not None
    execution = proposals.execution(row.id)
    return _view(row, approvals=proposals.approvers(row.id),
                 execution=json.loads(execution.result) if execution and execution.finished_at else None,
                 reverted_by=proposals.revert_of(row.id))


def _view(row: ProposalRow, *, approvals: list[str], execution: dict[str, Any] | None,
          reverted_by: int | None = None) -> ProposalView:
    assert row.id is not None
    return ProposalView(
        id=row.id, incident_id=row.incident_id, action=Action.model_validate_json(row.action),
        decision=Decision.model_validate_json(row.decision), state=row.state, approvals=approvals,
        expires_at=as_utc(row.expires_at) if row.expires_at else None, reason=row.reason, execution=execution,
        revert=Action.model_validate_json(row.revert_action) if row.revert_action else None,
        reverts=row.reverts, reverted_by=reverted_by,
    )


#: actions whose policy check and revert need the ArgoCD history
_NEEDS_HISTORY = (ActionKind.ROLLBACK, ActionKind.SYNC)


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
