"""A remediation proposal as entry points see it: its state, its view, what a click on it did.

``RemediationService`` (``bot.service.remediation``) makes proposals and moves them through these
states; ``load_view``/``load_views`` read them back from the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.models import Action
from bot.policy.context import Prompt, as_utc
from bot.policy.decision import Decision
from bot.store.proposals import ProposalStore
from bot.store.tables import ProposalRow


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


def stored_prompt(decision: Decision) -> Prompt:
    """The prompt a stored decision was made for (none recorded: a person's request, the safe side)."""
    try:
        return Prompt(decision.prompted_by) if decision.prompted_by else Prompt.REQUEST
    except ValueError:
        return Prompt.REQUEST


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
