"""The policy file format (design.md, "Policy files") as pydantic models, and its JSON Schema.

One file is a ``PolicyFile``; the loader merges every file of a directory into one ``Policy``.
Unknown keys are errors (a typo such as ``aprovers`` must not silently drop a requirement).

Value formats, checked here so a mistake is a lint error rather than a surprise at 3 am:

- approvers and owners: Slack user ids (``U0123ABCD``, ``W0123ABCD``), user-group handles (``"@sre"``;
  quote them, ``@`` cannot start a plain YAML value) or whoever is on call now for a schedule
  (``oncall:pagerduty/PABC123``, ``oncall:opsgenie/<schedule id>``, ``oncall:rota/<name>``),
- ``expires_after``: a positive duration ``90s``, ``15m``, ``2h``, ``1d``,
- ``rate_limit``: ``N/minute``, ``N/hour``, ``N/day`` or ``N/<duration>`` (``3/15m``),
- freeze ``from``/``to``: timestamps with a time zone (``2026-11-27T00:00:00Z``).

``policies/schema.json`` is ``render_schema()``; regenerate it with
``python -c "from bot.policy.schema import write_schema; write_schema()"``.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.models import ActionKind

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "policies" / "schema.json"

# --------------------------------------------------------------------------- value types

_DURATION_RE = re.compile(r"^([1-9][0-9]*)([smhd])$")
_RATE_RE = re.compile(r"^([1-9][0-9]*)/(minute|hour|day|[1-9][0-9]*[smhd])$")
_APPROVER_RE = re.compile(
    r"^(?:[UW][A-Z0-9]{2,}|@[A-Za-z0-9][A-Za-z0-9._-]*|oncall:(?:pagerduty|opsgenie|rota)/[A-Za-z0-9._-]+)$")
_SERVICE_RE = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAMED_PERIODS = {"minute": "1m", "hour": "1h", "day": "1d"}


def parse_duration(text: str) -> timedelta:
    """``15m`` → 15 minutes. Raises ``ValueError`` on anything else."""
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 2h or 1d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def describe_duration(span: timedelta) -> str:
    """``timedelta(minutes=15)`` → ``15 minutes``; for reasons a person reads."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _check_duration(value: str) -> str:
    if not _DURATION_RE.match(value):
        raise PydanticCustomError(
            "duration", "'{value}' is not a duration: write e.g. 90s, 15m, 2h or 1d", {"value": value}
        )
    return value


def _check_rate(value: str) -> str:
    if not _RATE_RE.match(value):
        raise PydanticCustomError(
            "rate_limit",
            "'{value}' is not a rate limit: write N/minute, N/hour, N/day or N/<duration> (e.g. 3/hour, 5/15m)",
            {"value": value},
        )
    return value


def _check_approver(value: str) -> str:
    if not _APPROVER_RE.match(value):
        raise PydanticCustomError(
            "approver",
            "'{value}' is neither a Slack user id (U0123ABCD, W0123ABCD), a user-group handle (\"@sre\") nor "
            "an on-call schedule (oncall:pagerduty/PABC123, oncall:opsgenie/<schedule id>, oncall:rota/<name>)",
            {"value": value},
        )
    return value


def _check_service_name(value: str) -> str:
    if not _SERVICE_RE.match(value):
        raise PydanticCustomError(
            "service_name",
            "'{value}' is not a service name: use lower-case letters, digits, '-', '.' and '_'",
            {"value": value},
        )
    return value


def _listify(value: Any) -> Any:
    """``rollback`` and ``[rollback]`` mean the same."""
    return value if isinstance(value, list) else [value]


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION_RE.pattern, "examples": ["15m", "1h"]}),
]
RateLimitText = Annotated[
    str,
    AfterValidator(_check_rate),
    WithJsonSchema({"type": "string", "pattern": _RATE_RE.pattern, "examples": ["3/hour", "5/15m"]}),
]
Approver = Annotated[
    str,
    AfterValidator(_check_approver),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _APPROVER_RE.pattern,
            "description": "a Slack user id (U…/W…), a user-group handle (@…), or whoever is on call now "
                           "for a schedule: oncall:pagerduty/<schedule id>, oncall:opsgenie/<schedule id>, "
                           "oncall:rota/<name> (the static rota file)",
        }
    ),
]
ServiceName = Annotated[
    str,
    AfterValidator(_check_service_name),
    WithJsonSchema({"type": "string", "pattern": _SERVICE_RE.pattern}),
]
NonEmpty = Annotated[str, Field(min_length=1)]


class Tier(StrEnum):
    CRITICAL = "critical"
    STANDARD = "standard"
    LOW = "low"


class Outcome(StrEnum):
    """What a rule decides. Ordered from the least to the most restrictive."""

    AUTO = "auto"
    APPROVE = "approve"
    DENY = "deny"


# a value or a non-empty list of values; always a list once validated
Kinds = Annotated[
    list[ActionKind],
    BeforeValidator(_listify, json_schema_input_type=ActionKind | list[ActionKind]),
    Field(min_length=1),
]
Tiers = Annotated[
    list[Tier], BeforeValidator(_listify, json_schema_input_type=Tier | list[Tier]), Field(min_length=1)
]
Names = Annotated[
    list[NonEmpty], BeforeValidator(_listify, json_schema_input_type=NonEmpty | list[NonEmpty]), Field(min_length=1)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- services


class Service(_Strict):
    """A service Sitrep may act on. Actions on a service not declared here are denied."""

    tier: Tier = Field(description="critical services never get an automatic action")
    namespace: NonEmpty = Field(description="Kubernetes namespace")
    argocd_app: NonEmpty | None = Field(
        default=None, description="ArgoCD application (default: the service name)"
    )
    channel: NonEmpty | None = Field(default=None, description="Slack channel for webhook-only alerts")
    owners: list[Approver] = Field(
        default_factory=list, description="who approves when a rule names no approvers"
    )
    queries: dict[str, NonEmpty] = Field(
        default_factory=dict, description="PromQL overrides by query name; {service} is substituted"
    )

    def app_for(self, name: str) -> str:
        return self.argocd_app or name


# --------------------------------------------------------------------------- rules


class Match(_Strict):
    """Which services a rule (or freeze) applies to. Every key given must match; none = all."""

    service: Names | None = None
    tier: Tiers | None = None
    namespace: Names | None = None
    runbook: Names | None = Field(
        default=None, description="runbook names this rule allows (an allowlist; only for runbook rules)"
    )

    def matches(self, *, name: str, service: Service, runbook: str | None = None) -> bool:
        return (
            (self.service is None or name in self.service)
            and (self.tier is None or service.tier in self.tier)
            and (self.namespace is None or service.namespace in self.namespace)
            and (self.runbook is None or runbook in self.runbook)
        )


#: the fewest replicas a scale may leave when its rule sets no ``min_replicas`` (scaling to 0 is an
#: outage one approval away; a rule that means it says ``min_replicas: 0``)
DEFAULT_MIN_REPLICAS = 1


class Limits(_Strict):
    """Bounds on a ``scale`` action's ``replicas``, or on a ``runbook`` action's ``args``."""

    max_replicas: int | None = Field(default=None, ge=0)
    min_replicas: int | None = Field(
        default=None, ge=0, description=f"default {DEFAULT_MIN_REPLICAS}: scaling to 0 needs min_replicas: 0"
    )
    max_scale_factor: float | None = Field(
        default=None, gt=0, description="replicas ≤ current replicas × this factor"
    )
    args: dict[NonEmpty, list[str]] | None = Field(
        default=None, description="runbook rules: the arguments a runbook may get and their allowed values; "
                                  "without it a runbook gets none"
    )

    @property
    def scale_minimum(self) -> int:
        return DEFAULT_MIN_REPLICAS if self.min_replicas is None else self.min_replicas


class RateLimit(BaseModel):
    """``3/hour`` parsed: at most ``count`` executions per (kind, service) in ``window``."""

    model_config = ConfigDict(frozen=True)
    count: int
    window: timedelta
    text: str

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        count, _, period = text.partition("/")
        return cls(count=int(count), window=parse_duration(_NAMED_PERIODS.get(period, period)), text=text)


class Rule(_Strict):
    name: NonEmpty = Field(description="shown as the rule that decided")
    action: Kinds = Field(description="an action kind or a list of kinds")
    match: Match = Field(default_factory=Match)
    decision: Outcome
    approvers: list[Approver] = Field(
        default_factory=list, description="approve rules; default: the service's owners"
    )
    min_approvals: int | None = Field(
        default=None, ge=1, description="approve rules; 2 or more makes it a two-person rule"
    )
    expires_after: Duration | None = Field(default=None, description="how long the approval buttons live")
    rate_limit: RateLimitText | None = Field(default=None, description="per (action kind, service)")
    limits: Limits | None = None
    reason: NonEmpty | None = Field(default=None, description="shown to people when this rule decides")

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        if self.decision is not Outcome.APPROVE:
            stray = [
                key
                for key in ("approvers", "min_approvals", "expires_after")
                if getattr(self, key) not in (None, [])
            ]
            if stray:
                raise PydanticCustomError(
                    "stray_key",
                    "{keys} only apply to 'decision: approve' (this rule says {decision})",
                    {"keys": ", ".join(stray), "decision": self.decision.value},
                )
        if self.decision is Outcome.DENY and (self.rate_limit or self.limits):
            raise PydanticCustomError(
                "stray_key", "rate_limit and limits do not apply to a deny rule", {}
            )
        if self.limits is not None:
            scale_keys = [k for k in ("max_replicas", "min_replicas", "max_scale_factor")
                          if getattr(self.limits, k) is not None]
            if scale_keys and ActionKind.SCALE not in self.action:
                raise PydanticCustomError(
                    "stray_key", "limits only bound scale actions ({keys}), and this rule does not cover scale",
                    {"keys": ", ".join(scale_keys)},
                )
            if self.limits.args is not None and ActionKind.RUNBOOK not in self.action:
                raise PydanticCustomError(
                    "stray_key", "limits.args only bound runbook actions, and this rule does not cover runbook", {}
                )
        if self.match.runbook is not None and self.action != [ActionKind.RUNBOOK]:
            raise PydanticCustomError(
                "stray_key", "match.runbook only applies to a rule whose action is runbook alone", {}
            )
        people = [a for a in self.approvers if not a.startswith(("@", "oncall:"))]
        if (
            self.approvers
            and len(people) == len(self.approvers)
            and (self.min_approvals or 1) > len(set(people))
        ):
            raise PydanticCustomError(
                "min_approvals",
                "min_approvals is {n} but only {k} distinct people are listed as approvers",
                {"n": self.min_approvals, "k": len(set(people))},
            )
        return self

    @property
    def expiry(self) -> timedelta | None:
        return parse_duration(self.expires_after) if self.expires_after else None

    @property
    def rate(self) -> RateLimit | None:
        return RateLimit.parse(self.rate_limit) if self.rate_limit else None

    def covers(self, kind: ActionKind, *, name: str, service: Service, runbook: str | None = None) -> bool:
        return kind in self.action and self.match.matches(name=name, service=service, runbook=runbook)


# --------------------------------------------------------------------------- freezes


class Freeze(_Strict):
    name: NonEmpty
    from_: AwareDatetime = Field(alias="from", description="start, with a time zone")
    to: AwareDatetime = Field(description="end (inclusive), with a time zone")
    deny: Kinds = Field(description="the action kinds the freeze blocks")
    match: Match | None = Field(default=None, description="default: every service")
    reason: NonEmpty | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Freeze:
        if self.to <= self.from_:
            raise PydanticCustomError("freeze_order", "'to' must be after 'from'", {})
        return self


# --------------------------------------------------------------------------- files


class PolicyFile(_Strict):
    """One ``policies/*.yml`` file. Every section is optional."""

    model_config = ConfigDict(
        title="Sitrep policy file",
        json_schema_extra={"description": "Sitrep policy: services, rules and freeze windows (design.md)."},
    )

    services: dict[ServiceName, Service] = Field(default_factory=dict)
    rules: list[Rule] = []
    freeze: list[Freeze] = []


class Policy(_Strict):
    """Every file of a policy directory merged: what the engine evaluates against."""

    services: dict[str, Service] = Field(default_factory=dict)
    rules: list[Rule] = []
    freeze: list[Freeze] = []
    files: list[str] = Field(default=[], description="where it was loaded from")

    def longest_rate_window(self) -> timedelta | None:
        """How far back the caller must look for executions (``PolicyContext.executions``)."""
        windows = [rule.rate.window for rule in self.rules if rule.rate]
        return max(windows, default=None)


# --------------------------------------------------------------------------- JSON Schema


def policy_json_schema() -> dict[str, Any]:
    schema = PolicyFile.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render_schema() -> str:
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> None:
    path.write_text(render_schema(), encoding="utf-8")
