"""The policy engine as a table: (policy, action, context) → (outcome, deciding rule).

Covers every built-in invariant of design.md ("Policy files") and the combination rules; the rows
are data, the assertions are the same for each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.policy import engine as E
from bot.policy.engine import evaluate, evaluate_data

from .support import HISTORY, NOW, POLICIES, act, context, deploy, minutes, ran

BASE_RULE = {
    "crit_rb": "critical rollbacks need two SREs",
    "rb": "other rollbacks need one SRE",
    "low_restart": "low restarts run on their own",
    "std_restart": "standard restarts need the owners",
    "no_crit_restart": "no critical restarts",
    "scale": "scale within bounds",
    "runbook": "runbooks run on their own",
    "sync": "syncs in shop need an SRE",
}
CART_HISTORY = [deploy(1, "v1.0.0", at=NOW - timedelta(days=2), app="cart"),
                deploy(2, "v1.1.0", at=NOW - timedelta(hours=1), app="cart", current=True)]
BATCH_HISTORY = [deploy(1, "v1.0.0", at=NOW - timedelta(days=2), app="batch", current=True)]
REDEPLOYED = [deploy(1, "v1", at=NOW - timedelta(days=3)), deploy(2, "v2", at=NOW - timedelta(days=2)),
              deploy(3, "v1", at=NOW - timedelta(days=1), current=True)]
#: the flagged current entry (12) is older than entry 13, e.g. after a rollback recorded out of order
ROLLED_BACK = [d.model_copy(update={"current": d.history_id == 12}) for d in HISTORY]
FRIDAY = NOW + timedelta(days=3)  # 2026-11-28, inside the Black Friday freeze
FREEZE_END = NOW.replace(day=30, hour=23, minute=59, second=59)

ROWS = [
    # --- invariant: unknown kind / missing field ---------------------------------------------------
    pytest.param("base", act("reboot"), {}, "deny", E.UNKNOWN_KIND, id="unknown-kind"),
    pytest.param("base", act("shell", cmd="rm -rf /"), {}, "deny", E.UNKNOWN_KIND, id="shell-is-not-a-kind"),
    pytest.param("base", act("ROLLBACK", to_revision="v2.14.2"), {}, "deny", E.UNKNOWN_KIND,
                 id="kind-is-case-sensitive"),
    pytest.param("base", {"target": {"service": "checkout"}, "params": {}, "rationale": "x"}, {}, "deny",
                 E.MISSING_FIELD, id="no-kind"),
    pytest.param("base", act("rollback"), {}, "deny", E.MISSING_FIELD, id="rollback-without-revision"),
    pytest.param("base", act("scale", "cart"), {}, "deny", E.MISSING_FIELD, id="scale-without-replicas"),
    pytest.param("base", act("scale", "cart", replicas="many"), {}, "deny", E.MISSING_FIELD,
                 id="scale-replicas-not-int"),
    pytest.param("base", act("rollback", to_revision="v2.14.2", force=True), {}, "deny", E.MISSING_FIELD,
                 id="unexpected-param"),
    pytest.param("base", {"kind": "restart", "params": {}, "rationale": "x"}, {}, "deny", E.MISSING_FIELD,
                 id="no-target"),
    pytest.param("base", act("restart", ""), {}, "deny", E.MISSING_FIELD, id="empty-service"),
    # --- invariant: unknown service / target mismatch ---------------------------------------------
    pytest.param("base", act("rollback", "payments", to_revision="v1"), {}, "deny", E.UNKNOWN_SERVICE,
                 id="unknown-service"),
    pytest.param("base", act("runbook", "mystery", name="flush-cache"), {}, "deny", E.UNKNOWN_SERVICE,
                 id="unknown-service-even-with-catch-all-rule"),
    pytest.param("base", act("restart", "Checkout"), {}, "deny", E.UNKNOWN_SERVICE, id="service-name-exact"),
    pytest.param("base", act("rollback", namespace="prod", to_revision="v2.14.2"), {}, "deny", E.TARGET_MISMATCH,
                 id="wrong-namespace"),
    pytest.param("base", act("rollback", app="checkout-canary", to_revision="v2.14.2"), {}, "deny",
                 E.TARGET_MISMATCH, id="wrong-argocd-app"),
    pytest.param("base", act("rollback", namespace="shop", app="checkout", to_revision="v2.14.2"), {}, "approve",
                 BASE_RULE["crit_rb"], id="right-namespace-and-app"),
    # --- manual steps never run -----------------------------------------------------------------
    pytest.param("base", act("manual", text="call the DBA"), {}, "manual", E.MANUAL_STEP, id="manual"),
    pytest.param("base", act("manual", "nowhere", text="check DNS"), {}, "manual", E.MANUAL_STEP,
                 id="manual-on-unknown-service"),
    # --- invariant: rollback target --------------------------------------------------------------
    pytest.param("base", act("rollback", to_revision="v2.14.2"), {}, "approve", BASE_RULE["crit_rb"],
                 id="rollback-to-previous"),
    pytest.param("base", act("rollback", to_revision="v2.14.0"), {}, "approve", BASE_RULE["crit_rb"],
                 id="rollback-to-older"),
    pytest.param("base", act("rollback", to_revision="v2.14.2", history_id=12), {}, "approve",
                 BASE_RULE["crit_rb"], id="rollback-by-history-id"),
    pytest.param("base", act("rollback", to_revision=HISTORY[2].revision), {}, "approve", BASE_RULE["crit_rb"],
                 id="rollback-by-git-sha"),
    pytest.param("base", act("rollback", to_revision=HISTORY[2].revision[:8]), {}, "approve",
                 BASE_RULE["crit_rb"], id="rollback-by-short-sha"),
    pytest.param("base", act("rollback", to_revision="v2.14.3"), {}, "deny", E.ROLLBACK_TARGET,
                 id="rollback-to-current"),
    pytest.param("base", act("rollback", to_revision="v9.9.9"), {}, "deny", E.ROLLBACK_TARGET,
                 id="rollback-to-absent"),
    pytest.param("base", act("rollback", to_revision="v2.14.3"), {"history": ROLLED_BACK}, "deny",
                 E.ROLLBACK_TARGET, id="rollback-to-newer-than-current"),
    pytest.param("base", act("rollback", to_revision="v2.14.1"), {"history": ROLLED_BACK}, "approve",
                 BASE_RULE["crit_rb"], id="rollback-before-flagged-current"),
    pytest.param("base", act("rollback", to_revision="v2.14.2", history_id=11), {}, "deny", E.ROLLBACK_TARGET,
                 id="history-id-of-another-revision"),
    pytest.param("base", act("rollback", to_revision="v2.14.2", history_id=99), {}, "deny", E.ROLLBACK_TARGET,
                 id="history-id-absent"),
    pytest.param("base", act("rollback", to_revision="v2.14.2"), {"history": []}, "deny", E.ROLLBACK_TARGET,
                 id="no-history"),
    pytest.param("base", act("rollback", to_revision="v1.0.0"), {"history": CART_HISTORY}, "deny",
                 E.ROLLBACK_TARGET, id="history-of-another-app"),
    pytest.param("base", act("rollback", to_revision="v1"), {"history": REDEPLOYED}, "deny", E.ROLLBACK_TARGET,
                 id="revision-running-again-now"),
    pytest.param("base", act("rollback", to_revision="v2"), {"history": REDEPLOYED}, "approve",
                 BASE_RULE["crit_rb"], id="revision-before-redeploy"),
    pytest.param("base", act("rollback", "cart", to_revision="v1.0.0"), {"history": CART_HISTORY}, "approve",
                 BASE_RULE["rb"], id="standard-rollback-one-approval"),
    pytest.param("base", act("rollback", "recs", to_revision="v1.0.0"), {"history": CART_HISTORY}, "deny",
                 E.ROLLBACK_TARGET, id="app-defaults-to-service-name"),
    # --- invariant: critical never auto --------------------------------------------------------------
    pytest.param("base", act("runbook", name="flush-cache"), {}, "approve", E.CRITICAL_NEVER_AUTO,
                 id="critical-auto-becomes-approve"),
    pytest.param("base", act("runbook", "ledger", name="flush-cache"), {}, "deny", E.NO_APPROVERS,
                 id="critical-without-owners-cannot-be-approved"),
    pytest.param("base", act("runbook", "cart", name="flush-cache"), {}, "auto", BASE_RULE["runbook"],
                 id="standard-auto"),
    pytest.param("base", act("runbook", "batch", name="flush-cache"), {}, "auto", BASE_RULE["runbook"],
                 id="low-auto"),
    # --- restart only for non-critical ------------------------------------------------------------
    pytest.param("base", act("restart", "recs"), {}, "auto", BASE_RULE["low_restart"], id="restart-low"),
    pytest.param("base", act("restart", "cart"), {}, "approve", BASE_RULE["std_restart"], id="restart-standard"),
    pytest.param("base", act("restart"), {}, "deny", BASE_RULE["no_crit_restart"], id="restart-critical"),
    # --- rate limits -----------------------------------------------------------------------------
    pytest.param("base", act("restart", "recs"), {"executions": ran("restart", "recs", *minutes(5, 20, 50))},
                 "deny", BASE_RULE["low_restart"], id="restart-rate-limited"),
    pytest.param("base", act("restart", "recs"), {"executions": ran("restart", "recs", *minutes(5, 20, 61))},
                 "auto", BASE_RULE["low_restart"], id="restart-rate-window-slides"),
    pytest.param("base", act("restart", "recs"),
                 {"executions": ran("restart", "cart", *minutes(5, 20, 50))
                  + ran("scale", "recs", *minutes(5, 20, 50))},
                 "auto", BASE_RULE["low_restart"], id="rate-counted-per-kind-and-service"),
    pytest.param("base", act("rollback", to_revision="v2.14.2"),
                 {"executions": ran("rollback", "checkout", timedelta(minutes=10), timedelta(minutes=40))},
                 "deny", BASE_RULE["crit_rb"], id="rollback-rate-limited"),
    # --- scale bounds ----------------------------------------------------------------------------
    pytest.param("base", act("scale", "cart", replicas=4), {}, "approve", BASE_RULE["scale"], id="scale-up"),
    pytest.param("base", act("scale", "cart", replicas=6), {}, "approve", BASE_RULE["scale"],
                 id="scale-factor-boundary"),
    pytest.param("base", act("scale", "cart", replicas=7), {}, "deny", BASE_RULE["scale"], id="scale-over-factor"),
    pytest.param("base", act("scale", "cart", replicas=20), {"replicas": 10}, "approve", BASE_RULE["scale"],
                 id="scale-max-boundary"),
    pytest.param("base", act("scale", "cart", replicas=21), {"replicas": 15}, "deny", BASE_RULE["scale"],
                 id="scale-over-max"),
    pytest.param("base", act("scale", "cart", replicas=4), {"replicas": None}, "deny", BASE_RULE["scale"],
                 id="scale-current-unknown"),
    pytest.param("base", act("scale", "cart", replicas=1), {"replicas": 0}, "deny", BASE_RULE["scale"],
                 id="scale-up-from-zero"),
    # scaling to 0 is an outage: below the default minimum of 1 unless a rule says min_replicas: 0
    pytest.param("base", act("scale", "cart", replicas=0), {}, "deny", BASE_RULE["scale"], id="scale-to-zero"),
    pytest.param("base", act("scale", "cart", replicas=-1), {}, "deny", E.SCALE_BOUNDS, id="scale-negative"),
    pytest.param("base", act("scale", replicas=4), {}, "approve", BASE_RULE["scale"], id="scale-critical-approve"),
    pytest.param("base", act("scale", "batch", replicas=2), {}, "deny", E.DEFAULT_DENY, id="scale-outside-match"),
    # --- freeze windows --------------------------------------------------------------------------
    pytest.param("base", act("scale", "cart", replicas=4), {"now": FRIDAY}, "deny", "freeze: Black Friday",
                 id="freeze-blocks-scale"),
    pytest.param("base", act("rollback", to_revision="v2.14.2"), {"now": FRIDAY}, "approve", BASE_RULE["crit_rb"],
                 id="freeze-lets-rollback-through"),
    pytest.param("base", act("restart", "recs"), {"now": FREEZE_END}, "deny", "freeze: Black Friday",
                 id="freeze-end-inclusive"),
    pytest.param("base", act("restart", "recs"), {"now": FREEZE_END + timedelta(seconds=1)}, "auto",
                 BASE_RULE["low_restart"], id="after-freeze"),
    pytest.param("base", act("restart"), {"now": FRIDAY}, "deny", "freeze: Black Friday",
                 id="freeze-named-before-deny-rule"),
    # --- default deny ----------------------------------------------------------------------------
    pytest.param("base", act("sync", "batch", revision="v1.0.0"), {"history": BATCH_HISTORY}, "deny", E.DEFAULT_DENY,
                 id="no-rule-matches"),
    pytest.param("empty", act("restart", "recs"), {}, "deny", E.DEFAULT_DENY, id="no-rules-at-all"),
    pytest.param("base", act("sync", "cart", revision="v1.0.0"), {"history": CART_HISTORY}, "approve",
                 BASE_RULE["sync"], id="sync"),
    # --- sync revisions are grounded in the history ----------------------------------------------
    pytest.param("base", act("sync", "cart", revision="v1.2.0"), {"history": CART_HISTORY}, "deny",
                 E.SYNC_REVISION, id="sync-to-an-invented-revision"),
    pytest.param("base", act("sync", "cart", revision="main"), {"history": CART_HISTORY}, "deny",
                 E.SYNC_REVISION, id="sync-to-a-branch-name"),
    pytest.param("base", act("sync", "cart", revision="v1.0.0"), {}, "deny", E.SYNC_REVISION,
                 id="sync-without-history"),
    # --- most restrictive wins -------------------------------------------------------------------
    pytest.param("layered", act("restart", "cart"), {}, "approve", "shop restarts need two SREs",
                 id="approve-beats-auto-max-approvals-wins"),
    pytest.param("layered", act("scale", "cart", replicas=4), {}, "deny", "never scale cart", id="deny-beats-auto"),
    pytest.param("layered", act("sync", "cart", revision="v1.0.0"), {"history": CART_HISTORY}, "deny", E.NO_APPROVERS,
                 id="approvers-with-nothing-in-common"),
    pytest.param("layered", act("runbook", "cart", name="x"), {"requester": "U0AAA"}, "deny", E.NO_APPROVERS,
                 id="two-person-requester-not-counted"),
    pytest.param("layered", act("runbook", "cart", name="x"), {"requester": "U0CCC"}, "approve",
                 "runbooks by two named people", id="two-person-enough-people"),
]


@pytest.mark.parametrize(("policy", "data", "ctx", "outcome", "rule"), ROWS)
def test_decision_table(policy: str, data: dict[str, Any], ctx: dict[str, Any], outcome: str, rule: str) -> None:
    decision = evaluate_data(data, context=context(**ctx), policy=POLICIES[policy])
    assert (decision.outcome.value, decision.rule) == (outcome, rule), decision.reasons
    assert decision.reasons and all(reason.strip() for reason in decision.reasons)
    if outcome == "approve":
        assert decision.approvers and decision.min_approvals >= 1 and decision.expires_at is not None
        assert decision.two_person is (decision.min_approvals >= 2)
    else:
        assert not decision.approvers and decision.expires_at is None


def test_table_is_big_enough() -> None:
    assert len(ROWS) >= 40


# --------------------------------------------------------------------------- details of some rows


def test_two_person_rollback_details() -> None:
    decision = evaluate_data(act("rollback", to_revision="v2.14.2"), context=context(), policy=POLICIES["base"])
    assert decision.approvers == ["@sre", "U0SRE1"]
    assert decision.min_approvals == 2 and decision.two_person
    assert decision.expires_at == NOW + timedelta(minutes=15)
    assert decision.target_history_id == 12
    assert any("Two-person rule" in reason for reason in decision.reasons)


def test_rollback_resolves_newest_earlier_entry() -> None:
    first_v1 = deploy(1, "v1", at=NOW - timedelta(days=4))
    history = [first_v1, deploy(2, "v2", at=NOW - timedelta(days=3)),
               deploy(3, "v1", at=NOW - timedelta(days=2)).model_copy(update={"revision": first_v1.revision}),
               deploy(4, "v3", at=NOW - timedelta(days=1))]
    decision = evaluate_data(act("rollback", to_revision="v1"), context=context(history=history),
                             policy=POLICIES["base"])
    assert decision.outcome == "approve" and decision.target_history_id == 3


def test_most_restrictive_combination() -> None:
    decision = evaluate_data(act("restart", "cart"), context=context(), policy=POLICIES["layered"])
    # approvers listed by both approve rules (handles compare case-insensitively), the largest
    # min_approvals, the shortest expiry
    assert decision.approvers == ["@sre"]
    assert decision.min_approvals == 2 and decision.two_person
    assert decision.expires_at == NOW + timedelta(minutes=10)


def test_critical_escalation_names_the_owners() -> None:
    decision = evaluate_data(act("runbook", name="flush-cache"), context=context(), policy=POLICIES["base"])
    assert decision.approvers == ["@checkout-oncall"] and decision.min_approvals == 1
    assert "critical" in decision.reasons[0] and "runbooks run on their own" in decision.reasons[0]


def test_approve_without_approvers_uses_owners() -> None:
    decision = evaluate_data(act("restart", "cart"), context=context(), policy=POLICIES["base"])
    assert decision.approvers == ["@cart-team"]
    assert decision.expires_at == NOW + E.DEFAULT_EXPIRY


@pytest.mark.parametrize(
    ("data", "ctx", "phrase"),
    [
        (act("reboot"), {}, "'reboot' is not an action Sitrep can take"),
        (act("rollback", "payments", to_revision="v1"), {}, "'payments' is not a service in the policy files"),
        (act("rollback", to_revision="v2.14.3"), {}, "v2.14.3 is what runs now on checkout"),
        (act("rollback", to_revision="v9.9.9"), {}, "v9.9.9 is not in the ArgoCD history of checkout"),
        (act("rollback", to_revision="v2.14.3"), {"history": ROLLED_BACK}, "is newer than what checkout runs now"),
        (act("scale", "cart", replicas=21), {"replicas": 15}, "above the maximum of 20"),
        (act("scale", "cart", replicas=7), {},
         "more than rule 'scale within bounds' allows (at most ×2 the current replicas: 6)"),
        (act("scale", "cart", replicas=-1), {}, "cannot be negative"),
        (act("scale", "cart", replicas=4), {"now": FRIDAY},
         "Black Friday change freeze is on until 2026-11-30 23:59 UTC"),
        (act("sync", "batch", revision="v1.0.0"), {"history": BATCH_HISTORY}, "No rule allows sync on batch"),
        (act("sync", "cart", revision="main"), {"history": CART_HISTORY},
         "main is a branch ref, not a revision: a sync names the exact revision"),
        (act("restart"), {}, "Restarting a critical service drops in-flight requests."),
        (act("manual", text="call the DBA"), {}, "manual step: nothing to execute"),
        (act("restart", "recs"), {"executions": ran("restart", "recs", *minutes(5, 20, 50))},
         "the next one is allowed after 2026-11-25 12:10 UTC"),
    ],
)
def test_reasons_read_like_sentences(data: dict[str, Any], ctx: dict[str, Any], phrase: str) -> None:
    decision = evaluate_data(data, context=context(**ctx), policy=POLICIES["base"])
    assert phrase in decision.reasons[0]


def test_all_denials_are_listed_deciding_one_first() -> None:
    decision = evaluate_data(act("scale", "cart", replicas=30), context=context(now=FRIDAY, replicas=3),
                             policy=POLICIES["base"])
    assert decision.rule == "freeze: Black Friday"
    assert len(decision.reasons) == 3  # freeze, max_replicas, factor


def test_evaluate_takes_a_typed_action() -> None:
    from .support import action

    decision = evaluate(action("restart", "recs"), context=context(), policy=POLICIES["base"])
    assert decision.outcome == "auto"


def test_evaluate_rechecks_an_action_built_without_validation() -> None:
    from bot.models import Action, ActionTarget

    forged = Action.model_construct(kind="reboot", target=ActionTarget(service="checkout"), params={}, rationale="")
    assert evaluate(forged, context=context(), policy=POLICIES["base"]).rule == E.UNKNOWN_KIND
    forged = Action.model_construct(kind="scale", target=ActionTarget(service="cart"), params={"replicas": -5},
                                    rationale="")
    assert evaluate(forged, context=context(), policy=POLICIES["base"]).rule == E.SCALE_BOUNDS
    forged = Action.model_construct(kind="rollback", target=ActionTarget(service="checkout"), params={},
                                    rationale="")
    assert evaluate(forged, context=context(), policy=POLICIES["base"]).rule == E.MISSING_FIELD


def test_naive_datetimes_are_utc() -> None:
    naive = [d.model_copy(update={"deployed_at": d.deployed_at.replace(tzinfo=None)}) for d in HISTORY]
    decision = evaluate_data(act("rollback", to_revision="v2.14.2"), context=context(history=naive),
                             policy=POLICIES["base"])
    assert decision.outcome == "approve"


def test_not_executable_unless_allowed() -> None:
    outcomes = {
        evaluate_data(data, context=context(), policy=POLICIES["base"]).outcome: evaluate_data(
            data, context=context(), policy=POLICIES["base"]).executable
        for data in (act("restart", "recs"), act("restart", "cart"), act("restart"), act("manual", text="x"))
    }
    assert outcomes == {"auto": True, "approve": True, "deny": False, "manual": False}
