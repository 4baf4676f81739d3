"""The App Home view as data: valid Block Kit (slack_sdk validates it), within the 100-block limit
however many incidents and proposals there are, and saying so when it cuts."""

from __future__ import annotations

import json
from datetime import timedelta

from slack_sdk.models.views import View

from bot.models import Action, ActionKind, ActionTarget
from bot.policy.decision import Decision, DecisionOutcome
from bot.service.incidents import IncidentSummary
from bot.service.proposals import ProposalView
from bot.slack.home import MAX_AWAITING, MAX_INCIDENTS, build_home_view
from bot.slack.ids import ActionId


def incident(i: int) -> IncidentSummary:
    return IncidentSummary(id=i, service=f"svc-{i}", severity="critical", status="open",
                           age=timedelta(minutes=i), state="brief posted (MEDIUM)",
                           root_cause=f"deploy v{i} " + "x" * 700, channel="C0ALERTS", thread_ts=f"17.{i}")


def proposal(i: int) -> ProposalView:
    action = Action(kind=ActionKind.RESTART, target=ActionTarget(service=f"svc-{i}", namespace="shop"),
                    rationale="stuck pool " * 80)
    decision = Decision(outcome=DecisionOutcome.APPROVE, rule="restarts need one SRE", approvers=["@sre"],
                        min_approvals=1)
    return ProposalView(id=i, incident_id=i, action=action, decision=decision, state="pending")


def test_empty_home_says_there_is_nothing() -> None:
    view = build_home_view(incidents=[], awaiting=[])
    text = json.dumps(view)
    assert "No open incident" in text and "Nothing is waiting for you" in text
    View(**view).validate_json()


def test_a_busy_home_stays_within_limits_and_says_what_it_left_out() -> None:
    view = build_home_view(incidents=[incident(i) for i in range(1, 201)],
                           awaiting=[proposal(i) for i in range(1, 51)])
    View(**view).validate_json()  # slack_sdk's own limits (text lengths, button text, …)
    assert len(view["blocks"]) <= 100
    text = json.dumps(view)
    assert "Open incidents (200)" in text and f"and {200 - MAX_INCIDENTS} more" in text
    assert "Waiting for your approval (50)" in text and f"and {50 - MAX_AWAITING} more" in text
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 2 * MAX_AWAITING
    assert {b["action_id"] for b in buttons} == {ActionId.APPROVE, ActionId.REJECT}
    assert all(len(b["text"]["text"]) <= 75 for b in buttons)
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert all(len(s) <= 3000 for s in sections)


def test_no_policy_says_remediation_is_off() -> None:
    assert "No policy is loaded" in json.dumps(build_home_view(incidents=[], awaiting=[], remediation=False))
