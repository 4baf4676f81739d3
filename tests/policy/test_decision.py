"""``check_approver``: who may approve a decision, in one place."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.policy.decision import Decision, DecisionOutcome, check_approver

from .support import NOW

TWO_PERSON = Decision(outcome=DecisionOutcome.APPROVE, rule="r", reasons=["x"], approvers=["@sre", "U0LEAD"],
                      min_approvals=2, expires_at=NOW + timedelta(minutes=15), two_person=True)
ONE = TWO_PERSON.model_copy(update={"min_approvals": 1, "two_person": False})
ON_CALL = ONE.model_copy(update={"approvers": ["oncall:pagerduty/PSRE01", "U0LEAD"]})
DENIED = Decision(outcome=DecisionOutcome.DENY, rule="default deny", reasons=["no"])


@pytest.mark.parametrize(
    ("decision", "approver", "kw", "phrase"),
    [
        pytest.param(TWO_PERSON, "U0LEAD", {}, None, id="listed-user"),
        pytest.param(TWO_PERSON, "U0SRE1", {"groups": ["sre"]}, None, id="member-of-group"),
        pytest.param(TWO_PERSON, "U0SRE1", {"groups": ["@SRE"]}, None, id="group-handle-forms"),
        pytest.param(TWO_PERSON, "U0SRE1", {}, "not allowed to approve", id="group-unresolved"),
        pytest.param(TWO_PERSON, "U0DEV", {"groups": ["dev"]}, "not allowed to approve", id="not-an-approver"),
        pytest.param(TWO_PERSON, "U0REQ", {"groups": ["sre"], "requester": "U0REQ"}, "You requested this action",
                     id="two-person-not-the-requester"),
        pytest.param(ONE, "U0REQ", {"groups": ["sre"], "requester": "U0REQ"}, None,
                     id="one-approval-requester-may-approve"),
        pytest.param(TWO_PERSON, "U0LEAD", {"already_approved": ["U0LEAD"]}, "already approved",
                     id="same-person-twice"),
        pytest.param(TWO_PERSON, "U0SRE1", {"groups": ["sre"], "already_approved": ["U0LEAD", "U0SRE2"]},
                     "already has all the approvals", id="enough-approvals"),
        pytest.param(TWO_PERSON, "U0LEAD", {"now": NOW + timedelta(minutes=15)}, "expired", id="expired"),
        pytest.param(TWO_PERSON, "U0LEAD", {"now": NOW + timedelta(minutes=14)}, None, id="not-yet-expired"),
        pytest.param(DENIED, "U0LEAD", {}, "does not take approvals", id="denied-decision"),
        pytest.param(ON_CALL, "U0SRE1", {"on_call": ["oncall:pagerduty/PSRE01"]}, None, id="on-call-now"),
        pytest.param(ON_CALL, "U0SRE1", {"on_call": ["oncall:pagerduty/POTHER"]}, "not allowed to approve",
                     id="on-call-for-another-schedule"),
        pytest.param(ON_CALL, "U0SRE1", {"groups": ["oncall:pagerduty/PSRE01"]}, "not allowed to approve",
                     id="a-group-is-not-a-schedule"),
        pytest.param(ON_CALL, "U0LEAD", {"deploy_author": "Lead@Example.com",
                                         "identities": ["lead", "lead@example.com"]},
                     "You made the deploy", id="deploy-author-may-not-approve-its-rollback"),
        pytest.param(ON_CALL, "U0LEAD", {"deploy_author": "U0LEAD"}, "You made the deploy",
                     id="deploy-author-by-user-id"),
        pytest.param(ON_CALL, "U0LEAD", {"deploy_author": "alice", "identities": ["dev-alice"]}, None,
                     id="another-author-is-no-bar"),
    ],
)
def test_check_approver(decision: Decision, approver: str, kw: dict[str, object], phrase: str | None) -> None:
    args: dict[str, object] = {"requester": None, "already_approved": ()} | kw
    refusal = check_approver(decision, approver, **args)  # type: ignore[arg-type]
    if phrase is None:
        assert refusal is None
    else:
        assert refusal is not None and phrase in refusal


def test_on_call_approvers_read_as_people_say_them() -> None:
    assert ON_CALL.describe() == "needs 1 approval from the on-call of PagerDuty PSRE01, U0LEAD"
    refusal = check_approver(ON_CALL, "U0DEV", requester=None, already_approved=())
    assert refusal is not None and "approvers: the on-call of PagerDuty PSRE01, U0LEAD" in refusal


def test_describe() -> None:
    assert TWO_PERSON.describe() == "needs 2 approvals from @sre, U0LEAD (two-person rule)"
    assert DENIED.describe() == "denied: no"
    assert TWO_PERSON.executable and not DENIED.executable


def test_approvals_on_critical_services_are_marked_critical() -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    from bot.models import Action, ActionTarget
    from bot.policy.context import PolicyContext
    from bot.policy.engine import evaluate
    from bot.policy.loader import load_policy

    policy = load_policy(Path(__file__).resolve().parents[2] / "policies")
    context = PolicyContext(now=datetime(2026, 1, 5, tzinfo=UTC), replicas=4)
    critical = Action(kind="scale", target=ActionTarget(service="checkout", namespace="shop"),
                      params={"replicas": 6}, rationale="load")
    standard = Action(kind="scale", target=ActionTarget(service="cart", namespace="shop"),
                      params={"replicas": 6}, rationale="load")
    assert evaluate(critical, context=context, policy=policy).critical is True
    assert evaluate(standard, context=context, policy=policy).critical is False
