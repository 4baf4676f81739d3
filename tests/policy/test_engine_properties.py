"""Properties of the engine over random policies, actions and contexts (hypothesis): whatever the
files say, the built-in invariants hold."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import ActionKind
from bot.policy import engine as E
from bot.policy.context import Execution, PolicyContext, as_utc
from bot.policy.decision import DecisionOutcome
from bot.policy.engine import evaluate_data
from bot.policy.schema import Outcome, Policy, Tier

from .support import NOW, deploy

settings.register_profile("policy", database=None, derandomize=True, deadline=None, max_examples=200)
PROFILE = settings.get_profile("policy")

SERVICES = ["alpha", "beta", "gamma", "delta"]
NAMESPACES = ["shop", "payments"]
APPROVERS = ["@sre", "@ops", "U0AAA", "U0BBB", "U0CCC"]
KINDS = list(ActionKind)
ALLOWED = (DecisionOutcome.AUTO, DecisionOutcome.APPROVE)


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(SERVICES), unique=True, min_size=len(SERVICES) - 1, max_size=len(SERVICES)))
    return {
        name: {
            "tier": draw(st.sampled_from(list(Tier))).value,
            "namespace": draw(st.sampled_from(NAMESPACES)),
            "owners": draw(st.lists(st.sampled_from(APPROVERS), unique=True, max_size=2)),
        }
        for name in names
    }


@st.composite
def matches(draw: st.DrawFn) -> dict[str, Any]:
    match: dict[str, Any] = {}
    sometimes = st.integers(0, 2).map(lambda n: n == 0)  # each criterion in a third of the rules
    if draw(sometimes):
        match["service"] = draw(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3))
    if draw(sometimes):
        match["tier"] = draw(st.lists(st.sampled_from([t.value for t in Tier]), min_size=1, max_size=2))
    if draw(sometimes):
        match["namespace"] = draw(st.sampled_from(NAMESPACES))
    return match


@st.composite
def rules(draw: st.DrawFn, *, index: int) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True))
    decision = draw(st.sampled_from([Outcome.AUTO, Outcome.AUTO, Outcome.APPROVE, Outcome.APPROVE, Outcome.DENY]))
    rule: dict[str, Any] = {"name": f"rule {index}", "action": [k.value for k in kinds], "match": draw(matches()),
                            "decision": decision.value}
    if decision is Outcome.APPROVE:
        approvers = draw(st.lists(st.sampled_from(APPROVERS), unique=True, max_size=3))
        need = draw(st.integers(min_value=1, max_value=3))
        if approvers and all(not a.startswith("@") for a in approvers):
            need = min(need, len(approvers))
        rule |= {"approvers": approvers, "min_approvals": need,
                 "expires_after": draw(st.sampled_from(["5m", "15m", "1h"]))}
    if decision is not Outcome.DENY:
        if draw(st.booleans()):
            rule["rate_limit"] = draw(st.sampled_from(["1/hour", "2/hour", "3/15m", "5/day"]))
        if ActionKind.SCALE in kinds and draw(st.booleans()):
            rule["limits"] = {
                "max_replicas": draw(st.none() | st.integers(0, 30)),
                "min_replicas": draw(st.none() | st.integers(0, 3)),
                "max_scale_factor": draw(st.none() | st.sampled_from([1, 1.5, 2, 3])),
            }
    return rule


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    count = draw(st.integers(min_value=0, max_value=8))
    freezes = [
        {"name": f"freeze {i}", "from": (NOW + timedelta(hours=start)).isoformat(),
         "to": (NOW + timedelta(hours=start + length)).isoformat(),
         "deny": [k.value for k in draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True))]}
        for i, (start, length) in enumerate(draw(st.lists(st.tuples(st.integers(-48, 48), st.integers(1, 48)),
                                                          max_size=2)))
    ]
    return Policy.model_validate({"services": draw(services()), "rules": [draw(rules(index=i)) for i in range(count)],
                                  "freeze": freezes})


HISTORY = [deploy(i, f"v{i}", at=NOW - timedelta(days=10 - i), app=name)
           for name in SERVICES for i in range(1, 5)]


@st.composite
def contexts(draw: st.DrawFn) -> PolicyContext:
    flagged = draw(st.sampled_from([4, 4, 3, 2, 1]))  # the current deploy, usually the newest
    history = [d.model_copy(update={"current": d.history_id == flagged}) for d in HISTORY]
    executions = [
        Execution(kind=draw(st.sampled_from(KINDS)), service=draw(st.sampled_from(SERVICES)),
                  at=NOW - timedelta(minutes=draw(st.integers(0, 300))))
        for _ in range(draw(st.integers(0, 3)))
    ]
    return PolicyContext(now=NOW, requester=draw(st.none() | st.sampled_from(APPROVERS[2:])),
                         history=history if draw(st.integers(0, 4)) < 4 else [],
                         replicas=draw(st.integers(0, 12) | st.integers(1, 12) | st.none()), executions=executions)


def _params(draw: st.DrawFn, kind: ActionKind) -> dict[str, Any]:
    match kind:
        case ActionKind.ROLLBACK:
            number = draw(st.sampled_from([1, 2, 3, 1, 2, 4, 5]))  # v5 is never in the history
            params: dict[str, Any] = {"to_revision": f"v{number}"}
            if draw(st.booleans()):
                params["history_id"] = draw(st.just(number) | st.integers(0, 5))
            return params
        case ActionKind.SCALE:
            return {"replicas": draw(st.integers(0, 12) | st.integers(-2, 40))}
        case ActionKind.SYNC:
            return {"revision": "main"}
        case ActionKind.RUNBOOK:
            return {"name": "flush-cache"}
        case ActionKind.MANUAL:
            return {"text": "look at the dashboard"}
        case _:
            return {}


@st.composite
def actions(draw: st.DrawFn, *, kinds: list[ActionKind] = KINDS) -> dict[str, Any]:
    kind = draw(st.sampled_from(kinds))
    service = draw(st.sampled_from([*SERVICES, *SERVICES, "ghost"]))
    return {"kind": kind.value, "target": {"service": service}, "params": _params(draw, kind), "rationale": "p"}


def _allowing(policy: Policy, data: dict[str, Any]) -> list[Any]:
    name = data["target"]["service"]
    service = policy.services[name]
    kind = ActionKind(data["kind"])
    return [r for r in policy.rules if r.covers(kind, name=name, service=service) and r.decision is not Outcome.DENY]


@PROFILE
@given(policies(), actions(), contexts())
def test_critical_service_never_auto(policy: Policy, data: dict[str, Any], context: PolicyContext) -> None:
    decision = evaluate_data(data, context=context, policy=policy)
    service = policy.services.get(data["target"]["service"])
    if service is not None and service.tier is Tier.CRITICAL:
        assert decision.outcome is not DecisionOutcome.AUTO


@PROFILE
@given(policies(), actions(), contexts())
def test_unknown_service_never_passes(policy: Policy, data: dict[str, Any], context: PolicyContext) -> None:
    decision = evaluate_data(data, context=context, policy=policy)
    if data["target"]["service"] not in policy.services:
        assert not decision.executable
        if data["kind"] != "manual":
            assert decision.rule == E.UNKNOWN_SERVICE


@PROFILE
@given(policies(), actions(), contexts(), st.text(min_size=1, max_size=12).filter(lambda k: k not in set(ActionKind)))
def test_unknown_kind_never_passes(policy: Policy, data: dict[str, Any], context: PolicyContext, kind: str) -> None:
    decision = evaluate_data({**data, "kind": kind}, context=context, policy=policy)
    assert (decision.outcome, decision.rule) == (DecisionOutcome.DENY, E.UNKNOWN_KIND)


@PROFILE
@given(policies(), actions(kinds=[ActionKind.SCALE]), contexts())
def test_scale_bounds_always_hold(policy: Policy, data: dict[str, Any], context: PolicyContext) -> None:
    decision = evaluate_data(data, context=context, policy=policy)
    if data["kind"] != "scale" or not decision.executable:
        return
    replicas = data["params"]["replicas"]
    assert replicas >= 0
    for rule in _allowing(policy, data):
        if rule.limits is None:
            continue
        if rule.limits.max_replicas is not None:
            assert replicas <= rule.limits.max_replicas
        if rule.limits.min_replicas is not None:
            assert replicas >= rule.limits.min_replicas
        if rule.limits.max_scale_factor is not None:
            assert context.replicas is not None
            assert replicas <= math.floor(context.replicas * rule.limits.max_scale_factor + 1e-9)


@PROFILE
@given(policies(), actions(kinds=[ActionKind.ROLLBACK]), contexts())
def test_rollback_only_to_an_earlier_deploy(policy: Policy, data: dict[str, Any], context: PolicyContext) -> None:
    decision = evaluate_data(data, context=context, policy=policy)
    if data["kind"] != "rollback" or not decision.executable:
        return
    app = [d for d in context.history if d.app == data["target"]["service"]]
    current = next(d for d in app if d.current)
    target = next(d for d in app if d.history_id == decision.target_history_id)
    assert data["params"]["to_revision"] in (target.revision, target.target_revision)
    assert target.deployed_at < current.deployed_at
    assert target.revision != current.revision


@PROFILE
@given(policies(), actions(), contexts())
def test_allowed_only_by_a_rule_and_outside_freezes(
    policy: Policy, data: dict[str, Any], context: PolicyContext
) -> None:
    decision = evaluate_data(data, context=context, policy=policy)
    if not decision.executable:
        return
    name, kind = data["target"]["service"], ActionKind(data["kind"])
    service = policy.services[name]
    matching = [r for r in policy.rules if r.covers(kind, name=name, service=service)]
    assert matching and all(r.decision is not Outcome.DENY for r in matching)
    assert not any(kind in f.deny and as_utc(f.from_) <= NOW <= as_utc(f.to) for f in policy.freeze)
    if decision.outcome is DecisionOutcome.APPROVE:
        assert decision.approvers and decision.min_approvals >= 1
        assert decision.expires_at is not None and decision.expires_at > NOW
        assert decision.two_person is (decision.min_approvals >= 2)
        need = max([r.min_approvals or 1 for r in matching if r.decision is Outcome.APPROVE] or [1])
        assert decision.min_approvals == need
    for rule in matching:
        if rule.rate is not None:
            recent = [e for e in context.executions
                      if e.kind == kind and e.service == name and e.at > NOW - rule.rate.window]
            assert len(recent) < rule.rate.count


@PROFILE
@given(policies(), actions(), contexts())
def test_a_matching_deny_rule_always_wins(policy: Policy, data: dict[str, Any], context: PolicyContext) -> None:
    stricter = policy.model_copy(update={"rules": [*policy.rules, *Policy.model_validate(
        {"rules": [{"name": "deny all", "action": [k.value for k in ActionKind], "decision": "deny"}]}).rules]})
    decision = evaluate_data(data, context=context, policy=stricter)
    assert not decision.executable


@PROFILE
@given(policies(), actions(), contexts())
def test_deterministic(policy: Policy, data: dict[str, Any], context: PolicyContext) -> None:
    assert evaluate_data(data, context=context, policy=policy) == evaluate_data(data, context=context, policy=policy)
