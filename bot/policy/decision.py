"""What the policy engine says about one proposed action, and the approver check.

Outcomes:

- ``auto``: may run without a human (never for a critical service),
- ``approve``: may run once ``min_approvals`` distinct people among ``approvers`` approve before
  ``expires_at``; ``two_person`` when ``min_approvals >= 2`` (approvers then also differ from the
  requester),
- ``deny``: must not run; ``reasons`` says why,
- ``manual``: a ``manual`` action is a step for a person; Sitrep never executes it, so it gets neither
  an Approve button nor a "denied" label.

Only ``auto`` and ``approve`` are ever executable (``Decision.executable``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


#: an approver naming whoever is on call now for a schedule: ``oncall:<provider>/<schedule>``
ON_CALL_PREFIX = "oncall:"


class DecisionOutcome(StrEnum):
    AUTO = "auto"
    APPROVE = "approve"
    DENY = "deny"
    MANUAL = "manual"


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: DecisionOutcome
    #: the rule that decided (its ``name``), ``freeze: <name>``, ``default deny`` or ``invariant: <what>``
    rule: str
    #: sentences for the on-call engineer, the deciding one first
    reasons: list[str] = []
    #: user ids (U…/W…) and user-group handles (@…) allowed to approve; empty unless ``approve``
    approvers: list[str] = []
    min_approvals: int = 0
    expires_at: datetime | None = None
    two_person: bool = False
    #: the target is a critical service: its approvers see the evidence and the exact change first
    critical: bool = False
    #: for an allowed rollback: the ArgoCD history id of the target, what the executor sends
    target_history_id: int | None = None
    #: what the action would change, for the approver (set by the service, not the engine): the
    #: deploy a rollback goes back to, its exact change, auto-sync turned off first
    preview: list[str] = []
    #: what prompted the action (``bot.policy.context.Prompt``: alert, request, evidence), as evaluated
    prompted_by: str | None = None
    #: the evidence held instruction-like text when this was decided
    suspicious: bool = False

    @property
    def on_call_schedules(self) -> list[str]:
        """The approvers that name an on-call schedule (``oncall:pagerduty/PABC123``)."""
        return [a for a in self.approvers if a.startswith(ON_CALL_PREFIX)]

    @property
    def executable(self) -> bool:
        return self.outcome in (DecisionOutcome.AUTO, DecisionOutcome.APPROVE)

    def describe(self) -> str:
        """One line: ``needs 2 approvals from @sre (two-person rule)``, ``denied: <reason>``."""
        match self.outcome:
            case DecisionOutcome.AUTO:
                return "runs automatically"
            case DecisionOutcome.APPROVE:
                plural = "s" if self.min_approvals != 1 else ""
                text = f"needs {self.min_approvals} approval{plural} from {approver_names(self.approvers)}"
                return text + (" (two-person rule)" if self.two_person else "")
            case DecisionOutcome.DENY:
                return f"denied: {self.reasons[0]}" if self.reasons else "denied"
            case DecisionOutcome.MANUAL:
                return "manual step: nothing to execute"


_PROVIDERS = {"pagerduty": "PagerDuty", "opsgenie": "Opsgenie", "rota": "rota"}


def approver_names(approvers: Collection[str]) -> str:
    """``@sre, U0LEAD, the on-call of PagerDuty PSRE01``: approvers as a person reads them."""
    shown = []
    for approver in approvers:
        provider, _, schedule = approver.removeprefix(ON_CALL_PREFIX).partition("/")
        if approver.startswith(ON_CALL_PREFIX) and schedule:
            shown.append(f"the on-call of {_PROVIDERS.get(provider, provider)} {schedule}")
        else:
            shown.append(approver)
    return ", ".join(shown)


def _handle(value: str) -> str:
    return value.removeprefix("@").lower()


def check_approver(
    decision: Decision,
    approver: str,
    *,
    requester: str | None,
    already_approved: Collection[str],
    groups: Collection[str] = (),
    on_call: Collection[str] = (),
    deploy_author: str | None = None,
    identities: Collection[str] = (),
    now: datetime | None = None,
) -> str | None:
    """Why ``approver`` may not approve now, or ``None`` if the approval counts.

    ``groups`` are the user-group handles ``approver`` belongs to (resolved by the caller with
    ``usergroups.users.list``); without them only approvers listed by user id can approve.
    ``on_call`` are the schedules of ``decision.approvers`` (``oncall:pagerduty/P…``) ``approver`` is on
    call for now. ``deploy_author``: who made the deploy a rollback undoes, when known; ``identities``
    (the approver's user id, name, email) tell whether that is ``approver``, who may then not approve.
    ``now`` checks the expiry when given.
    """
    if decision.outcome is not DecisionOutcome.APPROVE:
        return f"This action does not take approvals (its decision is {decision.outcome.value})."
    if now is not None and decision.expires_at is not None and now >= decision.expires_at:
        return "This approval request has expired; ask Sitrep to propose the action again."
    if len(set(already_approved)) >= decision.min_approvals:
        return "This action already has all the approvals it needs."
    if approver in already_approved:
        return "You have already approved this action; the next approval must come from someone else."
    if decision.two_person and requester is not None and approver == requester:
        return (
            "You requested this action; under the two-person rule it must be approved by "
            "other people."
        )
    if deploy_author and _same_person(deploy_author, {approver, *identities}):
        return (
            f"You made the deploy this rolls back (by {deploy_author}); someone else must approve "
            "undoing it."
        )
    wanted = {_handle(a) for a in decision.approvers if a.startswith("@")}
    scheduled = set(decision.on_call_schedules) & set(on_call)
    if approver in decision.approvers or wanted & {_handle(g) for g in groups} or scheduled:
        return None
    return f"You are not allowed to approve this action; approvers: {approver_names(decision.approvers)}."


def _same_person(author: str, identities: Collection[str]) -> bool:
    """``author`` as ArgoCD records it (``ana``, ``ana@example.com``) is one of ``identities``."""
    names = {i.strip().lower() for i in identities if i and i.strip()}
    return author.strip().lower() in names
