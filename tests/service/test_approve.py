"""Remediation rules as an on-call engineer meets them: who may approve, how many, until when,
and that an approved action runs exactly once, after the policy is checked again."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.models import (
    Action, ActionTarget, Analysis, AnalysisStatus, Brief, Category, Confidence, Deploy, RootCause,
)
from bot.policy.loader import PolicyHolder
from bot.service.proposals import ProposalState
from bot.service.remediation import RemediationService
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from bot.store.proposals import ProposalStore

POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)
SRE = ["U0SRE1", "U0SRE2", "U0SRE3"]


class Outcome(BaseModel):
    ok: bool = True
    dry_run: bool = True
    message: str = "rolled back"


@dataclass
class RecordingRunner:
    calls: list[tuple[Action, int | None]] = field(default_factory=list)

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> Outcome:
        self.calls.append((action, history_id))
        await asyncio.sleep(0.01)
        return Outcome(dry_run=dry_run)


def history(*, newer: bool = False) -> list[Deploy]:
    base = [
        Deploy(app="checkout", history_id=12, revision="8b1e0f4c", target_revision="v2.14.2",
               deployed_at=NOW - timedelta(days=1)),
        Deploy(app="checkout", history_id=13, revision="c4d5e6f7", target_revision="v2.14.3",
               deployed_at=NOW - timedelta(minutes=7), current=not newer),
    ]
    if newer:
        base.append(Deploy(app="checkout", history_id=14, revision="d00d", target_revision="v2.14.4",
                           deployed_at=NOW - timedelta(minutes=1), current=True))
    return base


@dataclass
class Facts:
    deploys: list[Deploy]
    count: int | None = 4

    async def history(self, action: Action) -> list[Deploy]:
        return self.deploys

    async def replicas(self, action: Action) -> int | None:
        return self.count


def brief(*actions: Action) -> Brief:
    return Brief(
        title="checkout p99", summary=["p99 0.2 s → 8.2 s"], category=Category.DEPLOY_REGRESSION,
        root_cause=RootCause(statement="v2.14.3", service="checkout", confidence=Confidence.HIGH,
                             confidence_score=80),
        actions=list(actions), analysis=Analysis(status=AnalysisStatus.COMPLETED),
    )


ROLLBACK = Action(kind="rollback", target=ActionTarget(service="checkout", namespace="shop", app="checkout"),
                  params={"to_revision": "v2.14.2"}, rationale="bad deploy")
RESTART_CART = Action(kind="restart", target=ActionTarget(service="cart", namespace="shop"), params={},
                      rationale="stuck")


class Rig:
    def __init__(self, tmp_path: Path, *, deploys: list[Deploy] | None = None, dry_run: bool = True,
                 policies: Path = POLICIES) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path / 'sitrep.db'}")
        create_schema(self.engine)
        self.incidents = IncidentStore(self.engine)
        self.runner = RecordingRunner()
        self.now = NOW
        self.facts = Facts(deploys if deploys is not None else history())
        self.service = RemediationService(
            proposals=ProposalStore(self.engine), incidents=self.incidents, policy=PolicyHolder(policies),
            runner=self.runner, facts=self.facts, dry_run=dry_run, clock=lambda: self.now,
        )

    async def propose(self, *actions: Action, requester: str = "U0ONCALL") -> list[int]:
        incident = self.incidents.open_incident(service="checkout", requested_by=requester)
        views = await self.service.propose(incident, brief(*actions), requester=requester, history=history())
        return [v.id for v in views]


async def sre(user: str) -> list[str]:
    return ["sre"] if user in SRE else []


def groups_for(user: str):  # noqa: ANN201
    return lambda: sre(user)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    yield (r := Rig(tmp_path))
    r.engine.dispose()


async def test_critical_rollback_needs_two_distinct_sres_then_runs_once(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    first = await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    assert first.refusal is None and first.proposal.state == ProposalState.PENDING
    again = await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    assert again.refusal and "already approved" in again.refusal
    assert rig.runner.calls == []
    second = await rig.service.approve(pid, user="U0SRE2", groups=groups_for("U0SRE2"))
    assert second.proposal.state == ProposalState.EXECUTED
    assert [(a.kind.value, h) for a, h in rig.runner.calls] == [("rollback", 12)]


class RacingProposalStore(ProposalStore):
    """Holds concurrent approvals at a barrier so that both clicks pass every check before either
    is recorded: the worst interleaving, every time."""

    def __init__(self, engine: object, *, parties: int) -> None:
        super().__init__(engine)  # type: ignore[arg-type]
        self.barrier = threading.Barrier(parties, timeout=5)

    def add_approval(self, proposal_id: int, user_id: str) -> bool:
        self.barrier.wait()
        return super().add_approval(proposal_id, user_id)


async def test_concurrent_final_approvals_execute_exactly_once(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    rig.service._proposals = RacingProposalStore(rig.engine, parties=2)  # second replica-like race
    results = await asyncio.gather(*(rig.service.approve(pid, user=u, groups=groups_for(u))
                                     for u in ("U0SRE2", "U0SRE3")))
    assert all(r.refusal is None for r in results), "both clicks passed the checks"
    assert len(rig.runner.calls) == 1
    assert sum(1 for r in results if r.executed is not None) == 1


async def test_someone_outside_the_approvers_is_refused_and_nothing_runs(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    result = await rig.service.approve(pid, user="U0DEV", groups=groups_for("U0DEV"))
    assert result.refusal and "not allowed" in result.refusal
    assert rig.runner.calls == []


async def test_the_requester_cannot_be_one_of_the_two_people(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    [pid] = await rig.propose(ROLLBACK, requester="U0SRE1")
    result = await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    assert result.refusal and "two-person" in result.refusal
    rig.engine.dispose()


async def test_after_expiry_approval_is_refused_and_the_proposal_expires(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    rig.now = NOW + timedelta(hours=2)
    result = await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    assert result.refusal and "expired" in result.refusal
    assert (await rig.service.view(pid)).state == ProposalState.EXPIRED
    assert rig.runner.calls == []


async def test_a_newer_deploy_since_the_brief_denies_the_rollback_at_execution(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    rig.facts.deploys = history(newer=True)
    rig.facts.deploys = [d for d in rig.facts.deploys if d.history_id != 12]  # target gone from history
    await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    await rig.service.approve(pid, user="U0SRE2", groups=groups_for("U0SRE2"))
    view = await rig.service.view(pid)
    assert view.state == ProposalState.DENIED
    assert view.reason and "policy at execution time" in view.reason
    assert rig.runner.calls == []


async def test_reject_closes_the_proposal(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    result = await rig.service.reject(pid, user="U0SRE1", reason="we fix forward")
    assert result.proposal.state == ProposalState.REJECTED and result.proposal.reason == "we fix forward"
    late = await rig.service.approve(pid, user="U0SRE2", groups=groups_for("U0SRE2"))
    assert late.refusal and "rejected" in late.refusal
    assert rig.runner.calls == []


async def test_denied_and_unknown_actions_never_get_buttons(rig: Rig) -> None:
    restart_checkout = Action(kind="restart", target=ActionTarget(service="checkout", namespace="shop"),
                              params={}, rationale="x")
    unknown = Action(kind="restart", target=ActionTarget(service="payments-legacy"), params={}, rationale="x")
    pids = await rig.propose(restart_checkout, unknown)
    views = [await rig.service.view(p) for p in pids]
    assert [v.state for v in views] == [ProposalState.DENIED, ProposalState.DENIED]
    assert not any(v.needs_buttons for v in views)


async def test_every_step_is_on_the_timeline(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    await rig.service.approve(pid, user="U0DEV", groups=groups_for("U0DEV"))
    await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    await rig.service.approve(pid, user="U0SRE2", groups=groups_for("U0SRE2"))
    incident = (await rig.service.view(pid)).incident_id
    types = [e.type for e in rig.incidents.timeline(incident)]
    assert types[0] == "ACTION_PROPOSED"
    for expected in ("APPROVAL_REFUSED", "APPROVAL_GIVEN", "EXECUTION_STARTED", "EXECUTION_FINISHED"):
        assert expected in types
    actors = {e.actor for e in rig.incidents.timeline(incident)}
    assert {"U0DEV", "U0SRE1", "U0SRE2"} <= actors


async def test_a_deploy_after_the_brief_makes_the_rollback_stale(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    rig.facts.deploys = history(newer=True)  # v2.14.4 landed after the brief
    await rig.service.approve(pid, user="U0SRE1", groups=groups_for("U0SRE1"))
    await rig.service.approve(pid, user="U0SRE2", groups=groups_for("U0SRE2"))
    view = await rig.service.view(pid)
    assert view.state == ProposalState.DENIED
    assert view.reason and "newer deploy" in view.reason and "v2.14.4" in view.reason
    assert rig.runner.calls == []
