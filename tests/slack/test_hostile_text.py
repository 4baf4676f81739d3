"""Every kind of message Sitrep builds, fed a corpus of hostile strings: no ``<!…>``, no ``<@…>`` the
attacker wrote, no link to a host Sitrep did not build. Pure builders, so each kind is checked as
data (the end-to-end run in ``tests/e2e/test_untrusted_text.py`` checks what reaches the fake Slack)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.intake.messages.flatten import plain
from bot.markdown import slack_code, slack_text
from bot.models import (
    Action, ActionTarget, Analysis, AnalysisStatus, Brief, Category, Confidence, EvidenceRef, EvidenceSource,
    RefusedAction, RootCause,
)
from bot.policy.decision import Decision, DecisionOutcome
from bot.service.approve import ProposalView
from bot.service.incidents import IncidentSummary
from bot.service.verify import Verdict, VerdictState
from bot.slack.blocks import (
    brief_fallback_text, build_brief_blocks, build_error_blocks, build_root_blocks,
)
from bot.slack.home import build_home_view
from bot.slack.notifier import verdict_text
from bot.slack.proposals import (
    build_approval_modal, build_proposal_blocks, build_reject_modal, decision_line, revert_request_blocks,
)

CORPUS = [
    "<!channel>", "<!here|here>", "<!everyone>", "<!subteam^S0EVIL>", "<@U0EVIL>", "<#C0EVIL|general>",
    "<https://evil.example|Approve rollback here>", "<mailto:x@evil.example|mail>", "&lt;!channel&gt;",
    "@channel", "`</code>`<!channel>", "*<https://evil.example>*",
]
HOSTILE = " ".join(CORPUS)
LIVE = re.compile(r"<(?:!|@U0EVIL|#C0EVIL|https?://evil|mailto:)")
NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=lambda block: block.to_dict())


def leaks(data: Any) -> list[str]:
    return LIVE.findall(dumps(data))


def hostile_brief() -> Brief:
    return Brief(
        title=HOSTILE, summary=[HOSTILE], category=Category.ERRORS,
        root_cause=RootCause(statement=HOSTILE, service="checkout", confidence=Confidence.LOW, confidence_score=20),
        evidence=[EvidenceRef(id="logs-1", source=EvidenceSource.LOGS, detail=HOSTILE)],
        actions=[Action(kind="manual", target=ActionTarget(service="checkout"), params={"text": HOSTILE},
                        rationale=HOSTILE)],
        affected_services=[HOSTILE], unknowns=[HOSTILE], next_checks=[HOSTILE],
        refused_actions=[RefusedAction(kind=HOSTILE, reason=HOSTILE)],
        analysis=Analysis(status=AnalysisStatus.DETERMINISTIC, fallback_reason=HOSTILE, suspicious=[HOSTILE],
                          source_notes=[HOSTILE]),
    )


def view(state: str, **extra: Any) -> ProposalView:
    decision = Decision(outcome=DecisionOutcome.APPROVE, rule=HOSTILE, reasons=[HOSTILE], approvers=["@sre"],
                        min_approvals=1, expires_at=NOW + timedelta(minutes=30), preview=[HOSTILE])
    action = Action(kind="runbook", target=ActionTarget(service="cart"), params={"name": HOSTILE},
                    rationale=HOSTILE)
    return ProposalView(id=7, incident_id=3, action=action, decision=decision, state=state, reason=HOSTILE,
                        expires_at=NOW + timedelta(minutes=30), **extra)


def summary() -> IncidentSummary:
    return IncidentSummary(id=3, service=HOSTILE, severity=HOSTILE, status="open", age=timedelta(minutes=5),
                           state="investigating", root_cause=HOSTILE, channel="C0ALERTS", thread_ts="1.2")


MESSAGES = {
    "root": lambda: build_root_blocks(service=HOSTILE, message=HOSTILE, requested_by=HOSTILE, latest=HOSTILE),
    "brief": lambda: build_brief_blocks(hostile_brief(), incident_id=3),
    "brief fallback text": lambda: brief_fallback_text(hostile_brief()),
    "error": lambda: build_error_blocks(service=HOSTILE, reason=HOSTILE),
    "approval request": lambda: build_proposal_blocks([view("pending")], hostile_brief().refused_actions),
    "result": lambda: [decision_line(view(state)) for state in ("executed", "failed", "denied", "rejected")],
    "revert request": lambda: revert_request_blocks(view("pending", reverts=6), user="U0REAL"),
    "verification": lambda: verdict_text(Verdict(state=VerdictState.STILL_FAILING, detail=HOSTILE,
                                                 next_option=HOSTILE)),
    "approval modal": lambda: build_approval_modal(view("pending"), hostile_brief()),
    "reject modal": lambda: build_reject_modal(view("pending")),
    "app home": lambda: build_home_view(incidents=[summary()], awaiting=[view("pending")]),
    "thread line": lambda: f"➕ {slack_code(HOSTILE)} on *{slack_text(HOSTILE)}* joined this incident",
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_no_hostile_string_becomes_a_mention_or_a_link(kind: str) -> None:
    built = MESSAGES[kind]()
    assert leaks(built) == [], kind
    assert "Approve rollback here" in dumps(built) or kind in {"reject modal"}


def test_the_alert_parser_does_not_unescape_into_live_markup() -> None:
    text = plain("FIRING &lt;!channel&gt; &lt;https://evil.example|Approve&gt; p99 &lt; 2s", [])
    assert leaks(text) == [] and "p99 < 2s" in text


def test_sitrep_still_builds_its_own_mentions() -> None:
    blocks = build_root_blocks(service="checkout", message=None, requested_by="U0REAL")
    assert "<@U0REAL>" in json.dumps(blocks)
