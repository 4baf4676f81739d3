"""One-click revert at the service: the state before an action is recorded before it runs; a revert is
a new proposal under the same policy and approvals, asked for at most once, and it restores exactly that
recorded state, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from bot.models import Action, ActionTarget, Deploy
from bot.service.proposals import ProposalState
from tests.service.test_approve import NOW, RESTART_CART, ROLLBACK, Rig, groups_for, history

SCALE = Action(kind="scale", target=ActionTarget(service="checkout", namespace="shop"), params={"replicas": 8},
               rationale="saturated")


@pytest.fixture
def live(tmp_path: Path) -> Rig:
    yield (r := Rig(tmp_path, dry_run=False))
    r.engine.dispose()


async def approve_by(rig: Rig, pid: int, *users: str) -> None:
    for user in users:
        await rig.service.approve(pid, user=user, groups=groups_for(user))


def after_rollback() -> list[Deploy]:
    """ArgoCD appends a history entry when a rollback's sync completes: v2.14.2 runs again, as id 14."""
    return [*(d.model_copy(update={"current": False}) for d in history()),
            Deploy(app="checkout", history_id=14, revision="8b1e0f4c", target_revision="v2.14.2",
                   deployed_at=NOW + timedelta(minutes=1), current=True)]


async def test_a_rollback_records_what_ran_before_and_its_revert_goes_back_to_it_once(live: Rig) -> None:
    [pid] = await live.propose(ROLLBACK)
    await approve_by(live, pid, "U0SRE1", "U0SRE2")  # checkout is critical: two SREs
    done = await live.service.view(pid)
    assert done.state == ProposalState.EXECUTED and done.revertible
    assert done.revert is not None and done.revert.params == {"to_revision": "c4d5e6f7", "history_id": 13,
                                                                 "label": "v2.14.3 (c4d5e6f)"}

    live.facts.deploys = after_rollback()
    asked = await live.service.request_revert(pid, user="U0SRE3")
    assert asked.refusal is None
    revert = asked.proposal
    assert revert.reverts == pid and revert.state == ProposalState.PENDING
    assert revert.decision.min_approvals == 2 and revert.decision.two_person  # the same rule as the rollback
    assert len(live.runner.calls) == 1  # nothing ran without approval

    refused = await live.service.approve(revert.id, user="U0SRE3", groups=groups_for("U0SRE3"))
    assert refused.refusal is not None and "You requested this action" in refused.refusal
    await approve_by(live, revert.id, "U0SRE1", "U0SRE2")
    assert [(a.kind.value, a.params.get("to_revision"), h) for a, h in live.runner.calls] == [
        ("rollback", "v2.14.2", 12), ("rollback", "c4d5e6f7", 13)]
    assert (await live.service.view(revert.id)).state == ProposalState.EXECUTED
    original = await live.service.view(pid)
    assert original.reverted_by == revert.id and not original.revertible

    again = await live.service.request_revert(pid, user="U0SRE1")
    assert again.refusal is not None and f"already requested (proposal {revert.id})" in again.refusal
    twice = await live.service.request_revert(revert.id, user="U0SRE1")
    assert twice.refusal is not None and "does not revert a revert" in twice.refusal


async def test_two_simultaneous_revert_clicks_make_one_revert_proposal(live: Rig) -> None:
    [pid] = await live.propose(ROLLBACK)
    await approve_by(live, pid, "U0SRE1", "U0SRE2")
    live.facts.deploys = after_rollback()
    results = await asyncio.gather(*(live.service.request_revert(pid, user=u) for u in ("U0SRE1", "U0SRE2", "U0SRE3")))
    made = [r for r in results if r.refusal is None]
    assert len(made) == 1
    assert all("already requested" in (r.refusal or "") for r in results if r is not made[0])
    incident = made[0].proposal.incident_id
    assert [p.reverts for p in await live.service.for_incident(incident)] == [None, pid]


async def test_a_scale_is_reverted_to_the_replicas_counted_before_it(live: Rig) -> None:
    [pid] = await live.propose(SCALE)
    await approve_by(live, pid, "U0SRE1")
    assert (await live.service.view(pid)).revert.params == {"replicas": 4}  # type: ignore[union-attr]
    live.facts.count = 8
    revert = (await live.service.request_revert(pid, user="U0SRE2")).proposal
    await approve_by(live, revert.id, "U0SRE3")
    assert [(a.kind.value, a.params) for a, _ in live.runner.calls] == [("scale", {"replicas": 8}),
                                                                       ("scale", {"replicas": 4})]


async def test_what_cannot_be_reverted_says_why(live: Rig, tmp_path: Path) -> None:
    [pending] = await live.propose(ROLLBACK)
    refusal = (await live.service.request_revert(pending, user="U0SRE1")).refusal
    assert refusal is not None and "this one is pending" in refusal

    [restart] = await live.propose(RESTART_CART)  # cart's owners approve its restarts

    async def cart_team() -> list[str]:
        return ["cart-team"]

    await live.service.approve(restart, user="U0CART", groups=cart_team)
    assert (await live.service.view(restart)).state == ProposalState.EXECUTED
    refusal = (await live.service.request_revert(restart, user="U0SRE1")).refusal
    assert refusal is not None and "A restart cannot be undone" in refusal

    (tmp_path / "dry").mkdir()
    dry = Rig(tmp_path / "dry", dry_run=True)
    [pid] = await dry.propose(ROLLBACK)
    await approve_by(dry, pid, "U0SRE1", "U0SRE2")
    refusal = (await dry.service.request_revert(pid, user="U0SRE3")).refusal
    assert refusal is not None and "dry run" in refusal
    dry.engine.dispose()
