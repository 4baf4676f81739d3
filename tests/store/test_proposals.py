from concurrent.futures import ThreadPoolExecutor

import pytest

from sqlalchemy.engine import Engine

from bot.store.incidents import IncidentStore
from bot.store.proposals import NewProposal, ProposalNotFoundError, ProposalStore


@pytest.fixture
def stores(engine: Engine) -> tuple[IncidentStore, ProposalStore]:
    return IncidentStore(engine), ProposalStore(engine)


def new(state: str = "pending") -> NewProposal:
    return NewProposal(action='{"kind": "restart"}', decision="{}", state=state, expires_at=None)


def test_concurrent_claims_let_exactly_one_caller_execute(stores: tuple[IncidentStore, ProposalStore]) -> None:
    incidents, proposals = stores
    [pid] = proposals.add(incidents.open_incident(service="cart"), [new()], requester="U1")

    def claim(_: int) -> bool:
        return proposals.transition(pid, from_states=["pending"], to_state="executing")

    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(pool.map(claim, range(16)))
    assert wins.count(True) == 1
    assert proposals.get(pid).state == "executing"
    assert proposals.start_execution(pid, dry_run=True) is True
    assert proposals.start_execution(pid, dry_run=True) is False  # the unique row is the second guard


def test_an_approval_counts_once_per_person(stores: tuple[IncidentStore, ProposalStore]) -> None:
    incidents, proposals = stores
    [pid] = proposals.add(incidents.open_incident(service="checkout"), [new()], requester="U1")
    assert proposals.add_approval(pid, "U2") is True
    assert proposals.add_approval(pid, "U2") is False
    assert proposals.add_approval(pid, "U3") is True
    assert proposals.approvers(pid) == ["U2", "U3"]


def test_a_rejected_proposal_cannot_be_executed(stores: tuple[IncidentStore, ProposalStore]) -> None:
    incidents, proposals = stores
    [pid] = proposals.add(incidents.open_incident(service="cart"), [new()], requester=None)
    assert proposals.transition(pid, from_states=["pending"], to_state="rejected", decided_by="U9",
                                reason="not now")
    assert not proposals.transition(pid, from_states=["pending"], to_state="executing")
    row = proposals.get(pid)
    assert (row.state, row.decided_by, row.reason) == ("rejected", "U9", "not now")
    with pytest.raises(ProposalNotFoundError):
        proposals.get(pid + 100)
