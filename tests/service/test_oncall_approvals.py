"""On-call approvers and the deploy author at the service: what the approver directory says decides who
may approve, its notes reach the clicker, and nobody approves (or is asked to approve) the rollback of
their own deploy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.service.approvals import OnCallStatus
from bot.service.proposals import ProposalState
from tests.service.test_approve import ROLLBACK, Rig, groups_for, history

POLICY = """
services:
  checkout: {tier: standard, namespace: shop, argocd_app: checkout, owners: ["@checkout-oncall"]}
rules:
  - name: rollbacks of checkout need whoever is on call
    action: rollback
    match: {service: checkout}
    decision: approve
    approvers: ["oncall:pagerduty/PSRE01", "@sre"]
    expires_after: 15m
"""


@dataclass
class Directory:
    on_call_now: dict[str, set[str]] = field(default_factory=dict)  # schedule ref → user ids
    names: dict[str, set[str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    asked: list[Sequence[str]] = field(default_factory=list)

    async def on_call(self, user: str, refs: Sequence[str]) -> OnCallStatus:
        self.asked.append(list(refs))
        return OnCallStatus(on_call=frozenset(r for r in refs if user in self.on_call_now.get(r, set())),
                            notes=self.notes)

    async def identities(self, user: str) -> set[str]:
        return {user, *self.names.get(user, set())}


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.yml").write_text(POLICY)
    r = Rig(tmp_path, policies=policies)
    # the deploy being rolled back (history 13) was made by ana
    r.facts.deploys = [d.model_copy(update={"initiated_by": "ana@example.com" if d.history_id == 13 else "admin"})
                       for d in history()]
    yield r
    r.engine.dispose()


async def nobody() -> list[str]:
    return []


async def test_the_person_on_call_may_approve_and_is_told_where_the_answer_came_from(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    directory = Directory(on_call_now={"oncall:pagerduty/PSRE01": {"U0BEN"}},
                          notes=("oncall:pagerduty/PSRE01: PagerDuty answered HTTP 503; used the static rota file",))
    refused = await rig.service.approve(pid, user="U0DEV", groups=nobody, directory=directory)
    assert refused.refusal is not None and "the on-call of PagerDuty PSRE01" in refused.refusal
    assert refused.notes == directory.notes  # the clicker hears about the fallback even when refused
    result = await rig.service.approve(pid, user="U0BEN", groups=nobody, directory=directory)
    assert result.refusal is None and result.proposal.state == ProposalState.EXECUTED
    # only the schedules the decision names: at each click, and again when the approvals are re-checked
    # against the decision recomputed at execution
    assert directory.asked == [["oncall:pagerduty/PSRE01"]] * 3


async def test_the_deploy_author_may_not_approve_its_rollback_nor_is_asked_to(rig: Rig) -> None:
    [pid] = await rig.propose(ROLLBACK)
    directory = Directory(names={"U0ANA": {"ana", "ana@example.com"}})
    assert [v.id for v in await rig.service.awaiting("U0SRE2", groups=["sre"], directory=directory)] == [pid]
    assert await rig.service.awaiting("U0ANA", groups=["sre"], directory=directory) == []

    async def sre() -> list[str]:
        return ["sre"]

    refused = await rig.service.approve(pid, user="U0ANA", groups=sre, directory=directory)
    assert refused.refusal is not None and "You made the deploy this rolls back (by ana@example.com)" in refused.refusal
    assert rig.runner.calls == []
    done = await rig.service.approve(pid, user="U0SRE2", groups=groups_for("U0SRE2"), directory=directory)
    assert done.proposal.state == ProposalState.EXECUTED
