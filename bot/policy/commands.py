"""``sitrep policy lint [DIR]`` and ``sitrep policy check ACTION_JSON``, as plain functions that print
to ``out`` and return the exit code. The CLI wires them to argparse.

Exit codes: ``lint`` 0 when the policy loads, 1 with ``file:line: message`` lines otherwise.
``check`` 0 when it printed a decision (deny included: an unknown kind or a malformed action is a
decision, as it would be for a model's proposal), 1 when the policy itself does not load, 2 when
the input is not usable (not JSON, not an object, a bad ``context``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from bot.models import utcnow
from bot.policy.context import PolicyContext
from bot.policy.decision import Decision, DecisionOutcome
from bot.policy.engine import evaluate_data
from bot.policy.loader import PolicyError, load_policy
from bot.models import ActionKind
from bot.policy.schema import DEFAULT_MIN_REPLICAS, Outcome, Policy

EXIT_OK = 0
EXIT_POLICY = 1
EXIT_INPUT = 2


def lint(directory: Path, *, out: TextIO) -> int:
    """Validate every policy file in ``directory``."""
    try:
        policy = load_policy(directory)
    except PolicyError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return EXIT_POLICY
    print(f"OK: {len(policy.files)} files, {len(policy.services)} services, {len(policy.rules)} rules", file=out)
    for note in notes(policy):
        print(f"note: {note}", file=out)
    return EXIT_OK


def notes(policy: Policy) -> list[str]:
    """What a policy means that its text does not say: the defaults that apply."""
    out = []
    for rule in policy.rules:
        if ActionKind.SCALE in rule.action and rule.decision is not Outcome.DENY:
            minimum = rule.limits.scale_minimum if rule.limits is not None else DEFAULT_MIN_REPLICAS
            said = rule.limits is not None and rule.limits.min_replicas is not None
            out.append(f"rule '{rule.name}': scale keeps at least {minimum} replica{'s' if minimum != 1 else ''}"
                       + ("" if said else f" (the default; set limits.min_replicas to change it)"))
        if ActionKind.RUNBOOK in rule.action and rule.decision is not Outcome.DENY and rule.match.runbook is None:
            out.append(f"rule '{rule.name}': allows any runbook named in SITREP_RUNBOOKS; list the ones it "
                       "allows with match.runbook")
    if any(rule.decision is Outcome.AUTO for rule in policy.rules):
        out.append("auto rules run an action on their own only when an alert from a configured source "
                   "prompted it and the evidence holds no suspicious text; otherwise an owner approves")
    return out


def check(
    action_json: str, *, policy_dir: Path, out: TextIO, now: datetime | None = None, as_json: bool = False
) -> int:
    """Print the decision for one action.

    ``action_json`` is an Action (``{"kind": …, "target": …, "params": …, "rationale": …}``), or
    ``{"action": {...}, "context": {...}}`` where the context has any of ``now``, ``requester``,
    ``history`` (ArgoCD deploys; ``app`` defaults to the target's app), ``replicas``, ``executions``
    (``[{kind, service, at}]``). A path to a file holding that JSON works too. The time is the
    context's ``now``, else ``now``, else the clock.
    """
    text = action_json
    if not text.lstrip().startswith("{") and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        print(f"error: ACTION_JSON is not valid JSON ({exc})", file=out)
        return EXIT_INPUT
    if not isinstance(data, dict):
        print("error: ACTION_JSON must be a JSON object: an action, or {\"action\": …, \"context\": …}", file=out)
        return EXIT_INPUT
    action: Any = data
    raw_context: Any = {}
    if "action" in data:
        extra = sorted(set(data) - {"action", "context"})
        if extra:
            print(f"error: unexpected keys next to \"action\": {', '.join(extra)} (only \"context\" may be there)",
                  file=out)
            return EXIT_INPUT
        action, raw_context = data["action"], data.get("context", {})
        if raw_context is None:
            raw_context = {}
    if not isinstance(raw_context, dict):
        print("error: \"context\" must be a JSON object", file=out)
        return EXIT_INPUT

    try:
        policy = load_policy(policy_dir)
    except PolicyError as exc:
        print(f"error: the policy in {policy_dir} does not load:", file=out)
        for problem in exc.problems:
            print(problem, file=out)
        return EXIT_POLICY

    try:
        context = PolicyContext.model_validate(_context_defaults(raw_context, action=action, policy=policy, now=now))
    except ValidationError as exc:
        print("error: bad \"context\":", file=out)
        for error in exc.errors(include_url=False):
            where = ".".join(str(p) for p in error["loc"])
            print(f"  {where}: {error['msg']}", file=out)
        return EXIT_INPUT

    decision = evaluate_data(action, context=context, policy=policy)
    print(decision.model_dump_json(indent=2) if as_json else render(decision), file=out)
    return EXIT_OK


def _context_defaults(raw: dict[str, Any], *, action: Any, policy: Policy, now: datetime | None) -> dict[str, Any]:
    context = dict(raw)
    context.setdefault("now", now or utcnow())
    target = action.get("target") if isinstance(action, dict) else None
    service = target.get("service") if isinstance(target, dict) else None
    app = target.get("app") if isinstance(target, dict) else None
    if isinstance(service, str) and service in policy.services:
        app = policy.services[service].app_for(service)
    history = context.get("history")
    if isinstance(history, list) and (app or service):
        context["history"] = [
            {"app": app or service, **entry} if isinstance(entry, dict) else entry for entry in history
        ]
    return context


def render(decision: Decision) -> str:
    """The decision for a person at a terminal."""
    lines = [f"decision: {decision.outcome.value}", f"rule: {decision.rule}"]
    if decision.outcome is DecisionOutcome.APPROVE:
        need = f"{decision.min_approvals} approval{'s' if decision.min_approvals != 1 else ''}"
        lines.append(f"approvers: {', '.join(decision.approvers)} ({need}"
                     + (", two-person rule)" if decision.two_person else ")"))
        if decision.expires_at is not None:
            lines.append(f"expires: {decision.expires_at.strftime('%Y-%m-%d %H:%M:%S UTC')}")
    if decision.target_history_id is not None:
        lines.append(f"rollback to ArgoCD history id: {decision.target_history_id}")
    lines.append("reasons:")
    lines += [f"  - {reason}" for reason in decision.reasons]
    return "\n".join(lines)
