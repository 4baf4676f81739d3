"""Builders shared by the policy tests: a reference policy, actions, contexts and ArgoCD history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.models import Action, ActionKind, Deploy
from bot.policy.context import Execution, PolicyContext
from bot.policy.schema import Policy

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def deploy(history_id: int, tag: str, *, at: datetime, app: str = "checkout", current: bool = False) -> Deploy:
    sha = (f"{history_id:02d}" + tag.replace(".", "").replace("v", "")).ljust(40, "f")[:40]
    return Deploy(app=app, history_id=history_id, revision=sha, target_revision=tag, deployed_at=at, current=current)


#: checkout's ArgoCD history, oldest first; v2.14.3 (id 13) runs now
HISTORY = [
    deploy(10, "v2.14.0", at=NOW - timedelta(days=5)),
    deploy(11, "v2.14.1", at=NOW - timedelta(days=3)),
    deploy(12, "v2.14.2", at=NOW - timedelta(days=1)),
    deploy(13, "v2.14.3", at=NOW - timedelta(hours=3), current=True),
]

BASE: dict[str, Any] = {
    "services": {
        "checkout": {"tier": "critical", "namespace": "shop", "argocd_app": "checkout",
                     "owners": ["@checkout-oncall"]},
        "cart": {"tier": "standard", "namespace": "shop", "argocd_app": "cart", "owners": ["@cart-team"]},
        "recs": {"tier": "low", "namespace": "shop", "owners": ["@discovery"]},
        "ledger": {"tier": "critical", "namespace": "payments"},
        "batch": {"tier": "low", "namespace": "jobs"},
    },
    "rules": [
        {"name": "critical rollbacks need two SREs", "action": "rollback", "match": {"tier": "critical"},
         "decision": "approve", "approvers": ["@sre", "U0SRE1"], "min_approvals": 2,
         "expires_after": "15m", "rate_limit": "2/hour"},
        {"name": "other rollbacks need one SRE", "action": "rollback", "match": {"tier": ["standard", "low"]},
         "decision": "approve", "approvers": ["@sre"], "expires_after": "30m"},
        {"name": "low restarts run on their own", "action": "restart", "match": {"tier": "low"},
         "decision": "auto", "rate_limit": "3/hour"},
        {"name": "standard restarts need the owners", "action": "restart", "match": {"tier": "standard"},
         "decision": "approve"},
        {"name": "no critical restarts", "action": "restart", "match": {"tier": "critical"},
         "decision": "deny", "reason": "Restarting a critical service drops in-flight requests."},
        {"name": "scale within bounds", "action": "scale", "match": {"namespace": "shop"},
         "decision": "approve", "approvers": ["@sre"],
         "limits": {"max_replicas": 20, "max_scale_factor": 2}, "rate_limit": "3/hour"},
        {"name": "runbooks run on their own", "action": ["runbook"], "decision": "auto"},
        {"name": "syncs in shop need an SRE", "action": "sync", "match": {"namespace": "shop"},
         "decision": "approve", "approvers": ["@sre"]},
    ],
    "freeze": [
        {"name": "Black Friday", "from": "2026-11-27T00:00:00Z", "to": "2026-11-30T23:59:59Z",
         "deny": ["sync", "scale", "restart"]},
    ],
}

#: several rules on the same actions, to check that the most restrictive wins
LAYERED: dict[str, Any] = {
    "services": {
        "cart": {"tier": "standard", "namespace": "shop", "owners": ["@cart-team"]},
    },
    "rules": [
        {"name": "cart restarts are fine", "action": "restart", "match": {"service": "cart"}, "decision": "auto"},
        {"name": "standard restarts need an owner", "action": "restart", "match": {"tier": "standard"},
         "decision": "approve", "approvers": ["@cart-team", "@sre"], "expires_after": "1h"},
        {"name": "shop restarts need two SREs", "action": "restart", "match": {"namespace": "shop"},
         "decision": "approve", "approvers": ["@SRE", "U0AAA", "U0BBB"], "min_approvals": 2,
         "expires_after": "10m"},
        {"name": "scale cart freely", "action": "scale", "decision": "auto"},
        {"name": "never scale cart", "action": "scale", "match": {"service": "cart"}, "decision": "deny"},
        {"name": "sync by team a", "action": "sync", "decision": "approve", "approvers": ["@team-a"]},
        {"name": "sync by team b", "action": "sync", "decision": "approve", "approvers": ["@team-b"]},
        {"name": "runbooks by two named people", "action": "runbook", "decision": "approve",
         "approvers": ["U0AAA", "U0BBB"], "min_approvals": 2},
    ],
}

EMPTY: dict[str, Any] = {"services": BASE["services"]}

POLICIES: dict[str, Policy] = {
    "base": Policy.model_validate(BASE),
    "layered": Policy.model_validate(LAYERED),
    "empty": Policy.model_validate(EMPTY),
}


def act(kind: str, service: str = "checkout", *, namespace: str | None = None, app: str | None = None,
        **params: Any) -> dict[str, Any]:
    """An action as JSON-like data (what a model proposes)."""
    target: dict[str, Any] = {"service": service}
    if namespace is not None:
        target["namespace"] = namespace
    if app is not None:
        target["app"] = app
    return {"kind": kind, "target": target, "params": params, "rationale": "test"}


def action(kind: str, service: str = "checkout", **params: Any) -> Action:
    return Action.model_validate(act(kind, service, **params))


def ran(kind: str, service: str, *ago: timedelta) -> list[Execution]:
    return [Execution(kind=ActionKind(kind), service=service, at=NOW - delta) for delta in ago]


def minutes(*counts: int) -> list[timedelta]:
    return [timedelta(minutes=count) for count in counts]


def context(**overrides: Any) -> PolicyContext:
    values: dict[str, Any] = {"now": NOW, "requester": "U0REQ", "history": HISTORY, "replicas": 3}
    values.update(overrides)
    return PolicyContext.model_validate(values)
