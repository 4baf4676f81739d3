"""Provenance decides autonomy: an ``auto`` rule runs an action on its own only when an alert from a
configured source prompted it and nothing suspicious was found; policy rules can allowlist runbooks
and bound their arguments; scale has a minimum."""

from __future__ import annotations

from typing import Any

import pytest

from bot.policy import engine as E
from bot.policy.context import Prompt
from bot.policy.engine import evaluate_data
from bot.policy.schema import Policy

from .support import BASE, NOW, act, context

RUNBOOKS: dict[str, Any] = {
    "services": BASE["services"],
    "rules": [
        {"name": "drain and flush run on their own", "action": "runbook",
         "match": {"runbook": ["drain", "flush-cache"]}, "decision": "auto",
         "limits": {"args": {"mode": ["soft", "hard"]}}},
        {"name": "scale recs down to zero", "action": "scale", "match": {"service": "recs"},
         "decision": "approve", "approvers": ["@sre"], "limits": {"min_replicas": 0}},
    ],
}
POLICIES = {"base": Policy.model_validate(BASE), "runbooks": Policy.model_validate(RUNBOOKS)}


@pytest.mark.parametrize(("policy", "data", "ctx", "outcome", "rule"), [
    pytest.param("base", act("restart", "recs"), {"prompted_by": "alert"}, "auto",
                 "low restarts run on their own", id="alert-low-restart-auto"),
    pytest.param("base", act("restart", "recs"), {"prompted_by": "request"}, "approve", E.ONLY_ALERTS_AUTO,
                 id="slash-command-low-restart-needs-owner"),
    pytest.param("base", act("restart", "recs"), {"prompted_by": "evidence"}, "approve", E.ONLY_ALERTS_AUTO,
                 id="evidence-named-service-needs-owner"),
    pytest.param("base", act("restart", "recs"), {"prompted_by": "alert", "suspicious": True}, "approve",
                 E.ONLY_ALERTS_AUTO, id="suspicious-evidence-needs-owner"),
    pytest.param("base", act("runbook", "batch", name="drain"), {"prompted_by": "request"}, "deny",
                 E.ONLY_ALERTS_AUTO, id="no-owner-to-ask-is-a-deny"),
    pytest.param("base", act("restart", "cart"), {"prompted_by": "request"}, "approve",
                 "standard restarts need the owners", id="approve-rules-unchanged"),
    pytest.param("runbooks", act("runbook", "recs", name="drain"), {}, "auto",
                 "drain and flush run on their own", id="allowlisted-runbook"),
    pytest.param("runbooks", act("runbook", "recs", name="wipe-db"), {}, "deny", E.DEFAULT_DENY,
                 id="runbook-not-in-allowlist"),
    pytest.param("runbooks", act("runbook", "recs", name="drain", args={"mode": "soft"}), {}, "auto",
                 "drain and flush run on their own", id="runbook-allowed-argument"),
    pytest.param("runbooks", act("runbook", "recs", name="drain", args={"mode": "nuke"}), {}, "deny",
                 "drain and flush run on their own", id="runbook-argument-value-out-of-bounds"),
    pytest.param("runbooks", act("runbook", "recs", name="drain", args={"target": "all"}), {}, "deny",
                 "drain and flush run on their own", id="runbook-argument-not-allowed"),
    pytest.param("base", act("scale", "cart", replicas=0), {}, "deny", "scale within bounds",
                 id="scale-to-zero-below-default-minimum"),
    pytest.param("runbooks", act("scale", "recs", replicas=0), {}, "approve", "scale recs down to zero",
                 id="scale-to-zero-when-the-rule-says-so"),
])
def test_provenance_and_bounds(policy: str, data: dict[str, Any], ctx: dict[str, Any], outcome: str,
                               rule: str) -> None:
    decision = evaluate_data(data, context=context(**ctx), policy=POLICIES[policy])
    assert (decision.outcome.value, decision.rule) == (outcome, rule), decision.reasons
    assert decision.prompted_by == ctx.get("prompted_by", "alert")


def test_the_decision_says_why_a_person_is_needed() -> None:
    decision = evaluate_data(act("restart", "recs"), context=context(prompted_by=Prompt.REQUEST),
                             policy=POLICIES["base"])
    assert decision.approvers == ["@discovery"] and decision.min_approvals == 1
    assert "typed (/incident)" in decision.reasons[0] and "@discovery" in decision.reasons[0]
    assert decision.expires_at is not None and decision.expires_at > NOW


def test_runbook_match_only_on_runbook_rules() -> None:
    bad = {**RUNBOOKS, "rules": [{"name": "x", "action": ["runbook", "restart"], "match": {"runbook": ["a"]},
                                  "decision": "auto"}]}
    with pytest.raises(ValueError, match="match.runbook only applies"):
        Policy.model_validate(bad)
