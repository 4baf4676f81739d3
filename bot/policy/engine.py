"""``evaluate(action, context=..., policy=...) -> Decision``: pure, deterministic, no I/O.

Order of evaluation:

1. Shape (each stops evaluation): the kind must be one Sitrep knows (``invariant: unknown kind``),
   its params complete (``invariant: missing field``); a ``manual`` action is never executed
   (outcome ``manual``); the target service must be declared (``invariant: unknown service``) and
   its namespace/ArgoCD app, when given, those the policy declares (``invariant: target mismatch``).
2. Denials, all collected, the first one named as the deciding ``rule``:
   a rollback target that is not an earlier deploy in the app's ArgoCD history, named by its sha or
   chart version (a branch, ``HEAD``, what runs now: ``invariant: rollback target``); a sync revision
   that is neither in that history nor the head ArgoCD reports (``invariant: sync revision``); an active freeze window (``freeze: <name>``); matching deny rules;
   no matching rule at all (``default deny``); the ``limits`` of allowing rules for ``scale``; their
   ``rate_limit`` (per action kind and service).
3. Otherwise, most restrictive wins: any matching ``approve`` rule makes it ``approve`` with
   - ``min_approvals``: the largest of those rules (default 1); ``two_person`` from 2 up,
   - ``approvers``: the **intersection** of those rules' approvers (a rule without approvers stands
     for the service's owners), compared as written (handles case-insensitively), so a person must be
     acceptable to every rule; ``U1`` and a group containing U1 are different entries. No approver in
     common, or fewer listed people than approvals needed, is a deny (``invariant: no approvers``),
   - ``expires_at``: now + the shortest ``expires_after`` (default 30 minutes).
   Only ``auto`` rules: ``auto``, except on a critical service, where it becomes ``approve`` by one
   of the service's owners (``invariant: critical never auto``), and unless an alert from a
   configured source prompted the action with nothing suspicious in the evidence
   (``context.prompted_by``, ``context.suspicious``): then too one of the owners approves
   (``invariant: only alerts run automatically``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot.deploy_history import check_sync_revision, find_rollback_target
from bot.models import PARAMS_MODEL, Action, ActionKind, Deploy
from bot.policy.context import PolicyContext, Prompt, as_utc
from bot.policy.decision import Decision, DecisionOutcome
from bot.policy.schema import DEFAULT_MIN_REPLICAS, Outcome, Policy, Rule, Service, Tier, describe_duration

DEFAULT_EXPIRY = timedelta(minutes=30)

UNKNOWN_KIND = "invariant: unknown kind"
MISSING_FIELD = "invariant: missing field"
UNKNOWN_SERVICE = "invariant: unknown service"
TARGET_MISMATCH = "invariant: target mismatch"
ROLLBACK_TARGET = "invariant: rollback target"
SYNC_REVISION = "invariant: sync revision"
SCALE_BOUNDS = "invariant: scale bounds"
CRITICAL_NEVER_AUTO = "invariant: critical never auto"
NO_APPROVERS = "invariant: no approvers"
ONLY_ALERTS_AUTO = "invariant: only alerts run automatically"
MANUAL_STEP = "invariant: manual step"
DEFAULT_DENY = "default deny"

_KINDS = ", ".join(kind.value for kind in ActionKind)


def _deny(rule: str, *reasons: str) -> Decision:
    return Decision(outcome=DecisionOutcome.DENY, rule=rule, reasons=list(reasons))


def _when(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- entry points


def evaluate_data(data: Any, *, context: PolicyContext, policy: Policy) -> Decision:
    """Evaluate an action that is still untrusted data (a model's JSON): an unknown kind or a
    malformed action is a deny decision, not an exception."""
    if not isinstance(data, Mapping):
        return _deny(MISSING_FIELD, "An action must be an object with kind, target, params and rationale.")
    kind = data.get("kind")
    if kind is None:
        return _deny(MISSING_FIELD, "The action has no kind, so Sitrep cannot tell what it would do.")
    if not isinstance(kind, str) or kind not in {k.value for k in ActionKind}:
        return _unknown_kind(kind)
    negative = _negative_replicas(ActionKind(kind), data.get("params"))
    if negative is not None:
        return negative
    try:
        action = Action.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "params" for e in exc.errors()})
        return _deny(
            MISSING_FIELD,
            f"The {kind} action is incomplete or malformed ({', '.join(fields)}), so it cannot be checked.",
        )
    return evaluate(action, context=context, policy=policy)


def evaluate(action: Action, *, context: PolicyContext, policy: Policy) -> Decision:
    """The decision for ``action``; see the module docstring for the order of the checks. It
    records what prompted the action (``context.prompted_by``) and whether the evidence was suspicious."""
    decision = _evaluate(action, context=context, policy=policy)
    return decision.model_copy(update={"prompted_by": context.prompted_by.value, "suspicious": context.suspicious})


def _evaluate(action: Action, *, context: PolicyContext, policy: Policy) -> Decision:
    early = _check_shape(action, policy)
    if early is not None:
        return early
    kind = ActionKind(action.kind)
    name = action.target.service
    service = policy.services[name]
    now = as_utc(context.now)
    runbook = str(action.params["name"]) if kind is ActionKind.RUNBOOK else None
    matching = [rule for rule in policy.rules if rule.covers(kind, name=name, service=service, runbook=runbook)]
    allowing = [rule for rule in matching if rule.decision is not Outcome.DENY]

    denials: list[tuple[str, str]] = []
    history_id: int | None = None
    if kind is ActionKind.ROLLBACK:
        target = _rollback_target(action.params, history=context.history, app=service.app_for(name))
        if isinstance(target, str):
            denials.append((ROLLBACK_TARGET, target))
        else:
            history_id = target.history_id
    if kind is ActionKind.SYNC:
        refused = check_sync_revision(context.history, wanted=str(action.params["revision"]),
                                      app=service.app_for(name))
        if refused is not None:
            denials.append((SYNC_REVISION, refused))
    for freeze in policy.freeze:
        if (
            kind in freeze.deny
            and as_utc(freeze.from_) <= now <= as_utc(freeze.to)
            and (freeze.match is None or freeze.match.matches(name=name, service=service))
        ):
            text = (
                f"The {freeze.name} change freeze is on until {_when(freeze.to)}: "
                f"no {kind.value} actions until then."
            )
            denials.append((f"freeze: {freeze.name}", f"{text} {freeze.reason}" if freeze.reason else text))
    for rule in matching:
        if rule.decision is Outcome.DENY:
            denials.append((rule.name, rule.reason or f"Rule '{rule.name}' forbids {kind.value} on {name}."))
    if not matching:
        denials.append(
            (DEFAULT_DENY, f"No rule allows {kind.value} on {name}; Sitrep does only what the policy allows.")
        )
    if kind is ActionKind.SCALE:
        denials += _scale_limits(int(action.params["replicas"]), rules=allowing, name=name, current=context.replicas)
    if kind is ActionKind.RUNBOOK:
        denials += _runbook_args(action.params, rules=allowing, name=name)
    denials += _rate_limits(kind, rules=allowing, name=name, context=context, now=now)
    if denials:
        return _deny(denials[0][0], *(reason for _, reason in denials))

    approve_rules = [rule for rule in allowing if rule.decision is Outcome.APPROVE]
    if approve_rules:
        decision = _approval(approve_rules, name=name, service=service, context=context, now=now)
    elif service.tier is Tier.CRITICAL:
        decision = _escalate_critical(allowing, kind=kind, name=name, service=service, context=context, now=now)
    elif context.prompted_by is not Prompt.ALERT or context.suspicious:
        decision = _escalate_untrusted(allowing, kind=kind, name=name, service=service, context=context, now=now)
    else:
        reasons = [f"Rule '{rule.name}' lets {kind.value} on {name} run without approval." for rule in allowing]
        decision = Decision(outcome=DecisionOutcome.AUTO, rule=allowing[0].name, reasons=reasons)
    if history_id is not None and decision.executable:
        decision = decision.model_copy(update={"target_history_id": history_id})
    if service.tier is Tier.CRITICAL and decision.outcome is DecisionOutcome.APPROVE:
        decision = decision.model_copy(update={"critical": True})
    return decision


# --------------------------------------------------------------------------- shape


def _unknown_kind(kind: Any) -> Decision:
    return _deny(UNKNOWN_KIND, f"{kind!r} is not an action Sitrep can take (it knows {_KINDS}).")


def _negative_replicas(kind: ActionKind, params: Any) -> Decision | None:
    replicas = params.get("replicas") if isinstance(params, Mapping) else None
    if kind is ActionKind.SCALE and isinstance(replicas, int) and replicas < 0:
        return _deny(SCALE_BOUNDS, f"A replica count cannot be negative (the action asks for {replicas}).")
    return None


def _check_shape(action: Action, policy: Policy) -> Decision | None:
    try:
        kind = ActionKind(action.kind)
    except ValueError:
        return _unknown_kind(action.kind)
    negative = _negative_replicas(kind, action.params)
    if negative is not None:
        return negative
    try:
        PARAMS_MODEL[kind].model_validate(action.params)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "params" for e in exc.errors()})
        return _deny(
            MISSING_FIELD, f"The {kind.value} action lacks or has a bad value for params: {', '.join(fields)}."
        )
    if kind is ActionKind.MANUAL:
        text = str(action.params.get("text", "")).strip()
        return Decision(
            outcome=DecisionOutcome.MANUAL,
            rule=MANUAL_STEP,
            reasons=["manual step: nothing to execute" + (f"; a person does this by hand: {text}" if text else ".")],
        )
    name = (action.target.service or "").strip()
    if not name:
        return _deny(MISSING_FIELD, f"The {kind.value} action names no target service.")
    service = policy.services.get(name)
    if service is None:
        known = sorted(policy.services)
        listed = ", ".join(known[:10]) + (", …" if len(known) > 10 else "") if known else "none"
        return _deny(
            UNKNOWN_SERVICE,
            f"{name!r} is not a service in the policy files, so Sitrep will not act on it (known: {listed}).",
        )
    if name != action.target.service:
        return _deny(UNKNOWN_SERVICE, f"{action.target.service!r} is not a service name as the policy writes it.")
    if action.target.namespace is not None and action.target.namespace != service.namespace:
        return _deny(
            TARGET_MISMATCH,
            f"{name} runs in namespace {service.namespace}, but the action targets {action.target.namespace}.",
        )
    if action.target.app is not None and action.target.app != service.app_for(name):
        return _deny(
            TARGET_MISMATCH,
            f"{name} is the ArgoCD app {service.app_for(name)}, but the action targets app {action.target.app}.",
        )
    return None


# --------------------------------------------------------------------------- rollback


def _rollback_target(params: Mapping[str, Any], *, history: list[Deploy], app: str) -> Deploy | str:
    """The history entry to roll back to, or why there is none (``bot.deploy_history``)."""
    return find_rollback_target(history, wanted=str(params["to_revision"]), history_id=params.get("history_id"),
                                app=app)


# --------------------------------------------------------------------------- bounds and rates


def _scale_limits(replicas: int, *, rules: list[Rule], name: str, current: int | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for rule in rules:
        limits = rule.limits
        if limits is None:
            if replicas < DEFAULT_MIN_REPLICAS:
                out.append((rule.name, f"Scaling {name} to {replicas} replicas is below the minimum of "
                                       f"{DEFAULT_MIN_REPLICAS} that applies when rule '{rule.name}' sets no "
                                       "min_replicas."))
            continue
        if limits.max_replicas is not None and replicas > limits.max_replicas:
            out.append((rule.name, f"Scaling {name} to {replicas} replicas is above the maximum of "
                                   f"{limits.max_replicas} set by rule '{rule.name}'."))
        if replicas < limits.scale_minimum:
            how = "set by" if limits.min_replicas is not None else "that applies when no min_replicas is set, for"
            out.append((rule.name, f"Scaling {name} to {replicas} replicas is below the minimum of "
                                   f"{limits.scale_minimum} {how} rule '{rule.name}'."))
        factor = limits.max_scale_factor
        if factor is None:
            continue
        if current is None:
            out.append((rule.name, f"Rule '{rule.name}' allows at most ×{factor:g} the current replicas, "
                                   f"but the current replica count of {name} is unknown."))
            continue
        ceiling = math.floor(current * factor + 1e-9)
        if replicas > ceiling and current == 0:
            out.append((rule.name, f"{name} runs 0 replicas now, so rule '{rule.name}' (at most ×{factor:g} the "
                                   "current replicas) allows no scale-up; bring it back by hand."))
        elif replicas > ceiling:
            out.append((rule.name, f"Scaling {name} from {current} to {replicas} replicas is more than rule "
                                   f"'{rule.name}' allows (at most ×{factor:g} the current replicas: {ceiling})."))
    return out


def _runbook_args(params: Mapping[str, Any], *, rules: list[Rule], name: str) -> list[tuple[str, str]]:
    """Every argument a runbook gets must be one each allowing rule lists, with a listed value."""
    args = params.get("args") or {}
    out: list[tuple[str, str]] = []
    for rule in rules:
        allowed = (rule.limits.args if rule.limits is not None else None) or {}
        for key, value in sorted(args.items()):
            if key not in allowed:
                out.append((rule.name, f"Runbook {params['name']} on {name} may not get the argument {key!r} "
                                       f"(rule '{rule.name}' allows {', '.join(sorted(allowed)) or 'none'})."))
            elif str(value) not in allowed[key]:
                out.append((rule.name, f"Runbook {params['name']} on {name} may not get {key}={str(value)[:40]!r} "
                                       f"(rule '{rule.name}' allows {', '.join(allowed[key])})."))
    return out


def _rate_limits(
    kind: ActionKind, *, rules: list[Rule], name: str, context: PolicyContext, now: datetime
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for rule in rules:
        rate = rule.rate
        if rate is None:
            continue
        since = now - rate.window
        times = sorted(
            as_utc(e.at) for e in context.executions if e.kind == kind and e.service == name and as_utc(e.at) > since
        )
        if len(times) >= rate.count:
            next_at = times[-rate.count] + rate.window
            window = describe_duration(rate.window).removeprefix("1 ")
            out.append((rule.name, f"Rate limit reached: {_plural(len(times), kind.value)} on {name} in the last "
                                   f"{window} (rule '{rule.name}' allows {rate.text}); "
                                   f"the next one is allowed after {_when(next_at)}."))
    return out


# --------------------------------------------------------------------------- approvals


def _key(approver: str) -> str:
    return approver.lower() if approver.startswith("@") else approver


def _approvers_of(rule: Rule, service: Service) -> list[str]:
    return list(rule.approvers or service.owners)


def _approval(
    rules: list[Rule], *, name: str, service: Service, context: PolicyContext, now: datetime
) -> Decision:
    wanted = {rule.name: _approvers_of(rule, service) for rule in rules}
    for rule in rules:
        if not wanted[rule.name]:
            return _deny(NO_APPROVERS, f"Rule '{rule.name}' needs approval but names no approvers, and {name} "
                                       "lists no owners: no one could approve this.")
    common = [a for a in wanted[rules[0].name] if all(_key(a) in {_key(b) for b in w} for w in wanted.values())]
    if not common:
        listed = "; ".join(f"'{r}': {', '.join(w)}" for r, w in wanted.items())
        return _deny(NO_APPROVERS, f"The rules that apply name no approver in common ({listed}), so no one "
                                   "could approve this. List the same approver in each of them.")
    need = max(rule.min_approvals or 1 for rule in rules)
    deciding = next(rule for rule in rules if (rule.min_approvals or 1) == need)
    expiry = min(rule.expiry or DEFAULT_EXPIRY for rule in rules)
    reasons = [
        f"Rule '{rule.name}' requires {_plural(rule.min_approvals or 1, 'approval')} "
        f"from {', '.join(wanted[rule.name])}."
        + (f" {rule.reason}" if rule.reason else "")
        for rule in rules
    ]
    if len(rules) > 1:
        reasons.append(f"Only approvers every one of these rules lists count: {', '.join(common)}.")
    return _approve(deciding.name, reasons, approvers=common, need=need, expiry=expiry, context=context, now=now)


def _escalate_critical(
    rules: list[Rule], *, kind: ActionKind, name: str, service: Service, context: PolicyContext, now: datetime
) -> Decision:
    names = ", ".join(f"'{rule.name}'" for rule in rules)
    if not service.owners:
        return _deny(NO_APPROVERS, f"{name} is a critical service, so Sitrep never acts on it automatically, and "
                                   f"it lists no owners who could approve {kind.value} (rule {names} says auto).")
    reasons = [f"{name} is a critical service, so Sitrep never acts on it automatically: rule {names} would "
               f"allow {kind.value}, but one of its owners ({', '.join(service.owners)}) must approve."]
    return _approve(CRITICAL_NEVER_AUTO, reasons, approvers=list(service.owners), need=1,
                    expiry=DEFAULT_EXPIRY, context=context, now=now)


_PROMPTS = {
    Prompt.REQUEST: "it was asked for in text a person typed (/incident), which anyone in the workspace can write",
    Prompt.EVIDENCE: "it comes from the analysis of collected evidence about another service than the alert's",
    Prompt.ALERT: "it was prompted by an alert",
}


def _escalate_untrusted(
    rules: list[Rule], *, kind: ActionKind, name: str, service: Service, context: PolicyContext, now: datetime
) -> Decision:
    """An ``auto`` rule applies only to actions an alert from a configured source prompted, with no
    suspicious content in the evidence; anything else waits for one of the service's owners."""
    names = ", ".join(f"'{rule.name}'" for rule in rules)
    why = _PROMPTS[context.prompted_by]
    if context.suspicious:
        why += (", and the evidence holds instruction-like text (see the brief's warning)"
                if context.prompted_by is Prompt.ALERT else "; the evidence also holds instruction-like text")
    if not service.owners:
        return _deny(ONLY_ALERTS_AUTO, f"Rule {names} would run {kind.value} on {name} automatically, but {why}, "
                                       f"so a person must approve, and {name} lists no owners who could.")
    reasons = [f"Needs a person: rule {names} would run {kind.value} on {name} automatically, but {why}. "
               f"Only actions an alert prompted run on their own; one of the owners "
               f"({', '.join(service.owners)}) must approve."]
    return _approve(ONLY_ALERTS_AUTO, reasons, approvers=list(service.owners), need=1,
                    expiry=DEFAULT_EXPIRY, context=context, now=now)


def _approve(
    rule: str,
    reasons: list[str],
    *,
    approvers: list[str],
    need: int,
    expiry: timedelta,
    context: PolicyContext,
    now: datetime,
) -> Decision:
    two_person = need >= 2
    if all(not a.startswith("@") for a in approvers):
        people = set(approvers) - ({context.requester} if two_person and context.requester else set())
        if len(people) < need:
            why = " (the requester cannot approve their own two-person request)" if two_person else ""
            return _deny(NO_APPROVERS, f"This needs {_plural(need, 'approval')} but only {len(people)} of the "
                                       f"listed approvers ({', '.join(approvers)}) can give one{why}.")
    if two_person:
        reasons.append(f"Two-person rule: {need} different people, none of them the requester, must approve.")
    expires_at = now + expiry
    reasons.append(f"The request expires at {_when(expires_at)} ({describe_duration(expiry)}).")
    return Decision(
        outcome=DecisionOutcome.APPROVE,
        rule=rule,
        reasons=reasons,
        approvers=approvers,
        min_approvals=need,
        expires_at=expires_at,
        two_person=two_person,
    )


# --------------------------------------------------------------------------- for proposers


def replica_ceiling(policy: Policy, name: str, current: int) -> int | None:
    """The most replicas a ``scale`` of ``name`` from ``current`` may ask for under the policy's
    allowing scale rules (their ``max_replicas`` and ``max_scale_factor``), so a proposer stays
    within bounds; None when no rule bounds it (or none allows a scale at all)."""
    service = policy.services.get(name)
    if service is None:
        return None
    bounds: list[int] = []
    for rule in policy.rules:
        if rule.decision is Outcome.DENY or not rule.covers(ActionKind.SCALE, name=name, service=service):
            continue
        limits = rule.limits
        if limits is None:
            continue
        if limits.max_replicas is not None:
            bounds.append(limits.max_replicas)
        if limits.max_scale_factor is not None:
            bounds.append(math.floor(current * limits.max_scale_factor))
    return min(bounds) if bounds else None
