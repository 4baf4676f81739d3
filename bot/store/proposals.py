"""Proposals, approvals and executions. Every state change is a conditional UPDATE, so two clicks,
two replicas or a Slack retry can never run one action twice.

States::

    pending ──(enough approvals)──▶ executing ──▶ executed | failed
       │  └──(Reject)──▶ rejected        ▲
       │  └──(expiry)──▶ expired         │
    auto ────────────────────────────────┘
    denied, manual: final from the start (never executed)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from bot.models import utcnow
from bot.store.stats import count, decision_counts, execution_counts
from bot.store.tables import ApprovalRow, ExecutionRow, ProposalRow


class ProposalNotFoundError(LookupError):
    def __init__(self, proposal_id: int) -> None:
        self.proposal_id = proposal_id
        super().__init__(f"proposal {proposal_id} not found")


@dataclass(frozen=True, slots=True)
class NewProposal:
    action: str  # Action JSON
    decision: str  # Decision JSON
    state: str
    expires_at: datetime | None
    basis_deploy: int | None = None


class ProposalStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, incident_id: int, proposals: Sequence[NewProposal], *, requester: str | None) -> list[int]:
        with Session(self._engine) as session:
            rows = [
                ProposalRow(incident_id=incident_id, position=i, action=p.action, decision=p.decision,
                            state=p.state, expires_at=p.expires_at, requester=requester,
                            basis_deploy=p.basis_deploy)
                for i, p in enumerate(proposals)
            ]
            session.add_all(rows)
            count(session, decision_counts(p.decision for p in proposals))
            session.commit()
            return [row.id for row in rows if row.id is not None]

    def add_revert(self, original_id: int, proposal: NewProposal, *, requester: str | None) -> int | None:
        """Add the proposal reverting ``original_id`` after the incident's others; None when one
        exists already (two clicks on Revert, or two replicas: one revert, ever)."""
        original = self.get(original_id)
        with Session(self._engine) as session:
            last = max((r.position for r in session.exec(
                select(ProposalRow).where(ProposalRow.incident_id == original.incident_id))), default=-1)
            row = ProposalRow(incident_id=original.incident_id, position=last + 1, action=proposal.action,
                              decision=proposal.decision, state=proposal.state, expires_at=proposal.expires_at,
                              requester=requester, basis_deploy=proposal.basis_deploy, reverts=original_id)
            session.add(row)
            try:
                session.flush()  # a second revert of the same action fails here, before it is counted
                count(session, decision_counts([proposal.decision]))
                session.commit()
            except IntegrityError:
                session.rollback()
                return None
            return row.id

    def record_revert(self, proposal_id: int, revert_action: str) -> None:
        """Keep how to undo ``proposal_id`` (an Action JSON), before it executes."""
        with Session(self._engine) as session:
            session.execute(update(ProposalRow).where(ProposalRow.id == proposal_id)  # type: ignore[arg-type]
                            .values(revert_action=revert_action))
            session.commit()

    def revert_of(self, proposal_id: int) -> int | None:
        """The id of the proposal reverting ``proposal_id``, if someone asked for one."""
        with Session(self._engine) as session:
            return session.exec(select(ProposalRow.id).where(ProposalRow.reverts == proposal_id)).first()

    def get(self, proposal_id: int) -> ProposalRow:
        with Session(self._engine) as session:
            row = session.get(ProposalRow, proposal_id)
            if row is None:
                raise ProposalNotFoundError(proposal_id)
            return row

    def for_incident(self, incident_id: int) -> list[ProposalRow]:
        with Session(self._engine) as session:
            return list(session.exec(
                select(ProposalRow).where(ProposalRow.incident_id == incident_id)
                .order_by(ProposalRow.position)  # type: ignore[arg-type]
            ))

    def _insert_once(self, row: ApprovalRow | ExecutionRow) -> bool:
        """Insert ``row``; False when a unique constraint says it exists already."""
        with Session(self._engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
            return True

    def add_approval(self, proposal_id: int, user_id: str) -> bool:
        """Record ``user_id``'s approval; False if they had already approved (a double click)."""
        return self._insert_once(ApprovalRow(proposal_id=proposal_id, user_id=user_id))

    def approvers(self, proposal_id: int) -> list[str]:
        with Session(self._engine) as session:
            return list(session.exec(
                select(ApprovalRow.user_id).where(ApprovalRow.proposal_id == proposal_id)
                .order_by(ApprovalRow.id)  # type: ignore[arg-type]
            ))

    def transition(
        self, proposal_id: int, *, from_states: Sequence[str], to_state: str,
        decided_by: str | None = None, reason: str | None = None,
    ) -> bool:
        """Move the proposal to ``to_state`` only if it is in one of ``from_states`` now.
        True for exactly one caller, however many race."""
        values: dict[str, object] = {"state": to_state}
        if decided_by is not None:
            values["decided_by"] = decided_by
        if reason is not None:
            values["reason"] = reason
        with Session(self._engine) as session:
            result = session.execute(
                update(ProposalRow)
                .where(ProposalRow.id == proposal_id)  # type: ignore[arg-type]
                .where(ProposalRow.state.in_(list(from_states)))  # type: ignore[attr-defined]
                .values(**values)
            )
            session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def back_to_pending(self, proposal_id: int, *, decision: str, expires_at: datetime | None,
                        drop_approvals: Sequence[str], reason: str) -> bool:
        """Execution-time re-check fell short: from ``executing`` back to ``pending`` under the new
        ``decision`` (JSON), without the approvals that no longer count. True for one caller."""
        with Session(self._engine) as session:
            result = session.execute(
                update(ProposalRow)
                .where(ProposalRow.id == proposal_id)  # type: ignore[arg-type]
                .where(ProposalRow.state == "executing")  # type: ignore[arg-type]
                .values(state="pending", decision=decision, expires_at=expires_at, reason=reason)
            )
            if result.rowcount == 1 and drop_approvals:  # type: ignore[attr-defined]
                for row in session.exec(select(ApprovalRow).where(ApprovalRow.proposal_id == proposal_id)):
                    if row.user_id in drop_approvals:
                        session.delete(row)
            session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def start_execution(self, proposal_id: int, *, dry_run: bool) -> bool:
        """Insert the one execution row of this proposal; False if one exists (second guard)."""
        return self._insert_once(ExecutionRow(proposal_id=proposal_id, dry_run=dry_run))

    def finish_execution(self, proposal_id: int, *, ok: bool, result: str) -> None:
        with Session(self._engine) as session:
            row = session.exec(select(ExecutionRow).where(ExecutionRow.proposal_id == proposal_id)).one()
            if row.ok is None:  # counted once, when it first finishes
                count(session, execution_counts(ok=ok, dry_run=row.dry_run))
            row.ok, row.result, row.finished_at = ok, result, utcnow()
            session.add(row)
            session.commit()

    def execution(self, proposal_id: int) -> ExecutionRow | None:
        with Session(self._engine) as session:
            return session.exec(select(ExecutionRow).where(ExecutionRow.proposal_id == proposal_id)).first()

    def executed_since(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(kind, service, started_at) of every execution since ``since``, for rate limits."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(ProposalRow.action, ExecutionRow.started_at)
                .join(ExecutionRow, ExecutionRow.proposal_id == ProposalRow.id)  # type: ignore[arg-type]
                .where(ExecutionRow.started_at >= since)  # type: ignore[arg-type]
            ).all()
        out = []
        for action_json, started_at in rows:
            action = json.loads(action_json)
            out.append((action["kind"], action["target"]["service"], started_at))
        return out

    def pending(self, *, limit: int = 50) -> list[ProposalRow]:
        """Proposals still waiting for approvals, oldest first."""
        with Session(self._engine) as session:
            return list(session.exec(
                select(ProposalRow).where(ProposalRow.state == "pending")
                .order_by(ProposalRow.id).limit(limit)  # type: ignore[arg-type]
            ))

    def due_for_expiry(self, now: datetime) -> list[ProposalRow]:
        with Session(self._engine) as session:
            return list(session.exec(
                select(ProposalRow).where(ProposalRow.state == "pending")
                .where(ProposalRow.expires_at != None)  # noqa: E711
                .where(ProposalRow.expires_at <= now)  # type: ignore[operator]
            ))
