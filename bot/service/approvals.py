"""Recording and checking approvals: who may approve a proposal, counting their click, rejecting,
expiring, what a user may approve now, and the approvals given checked again at execution time.

    Approve click ─▶ approver check ─▶ approval row ─▶ enough? ─▶ execution (``bot.service.execution``)

The approver check itself is the policy's (``bot.policy.decision.check_approver``): declared once,
used for the click, for the list of what a user may approve and again before running.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from bot.deploy_history import current_deploy
from bot.models import Action, ActionKind, Deploy, TimelineEventType
from bot.policy.context import as_utc
from bot.policy.decision import Decision, check_approver
from bot.service.proposals import ClickResult, ProposalState, ProposalView, load_view
from bot.store.tables import ProposalRow

log = structlog.get_logger(__name__)


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


class ApprovalSteps:
    """The approval half of ``RemediationService`` (``bot.service.remediation``), which supplies the
    stores, the policy, the clock and the shared steps (``_event``, ``view``, ``_complete_target``)
    and runs an approved proposal (``_execute``, ``bot.service.execution``)."""

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


_AUTHOR_UNKNOWN = ("Your approval was not counted: Sitrep could not check who made the deploy this rolls back "
                   "({why}), and nobody may approve undoing their own deploy. Try again in a minute.")
