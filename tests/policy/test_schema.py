"""``policies/schema.json`` is generated from the pydantic models and agrees with them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.policy.schema import SCHEMA_PATH, RateLimit, describe_duration, parse_duration, render_schema

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"


def as_json(value: Any) -> Any:
    """YAML data as JSON would carry it (timestamps become strings)."""
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH == REPO_POLICIES / "schema.json"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "policies/schema.json is stale: run "
        "`python -c 'from bot.policy.schema import write_schema; write_schema()'`"
    )


@pytest.mark.parametrize("path", sorted(REPO_POLICIES.glob("*.y*ml")), ids=lambda p: p.name)
def test_repo_policies_match_the_json_schema(path: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(as_json(yaml.safe_load(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize(
    "document",
    [
        {"rules": [{"name": "r", "action": "rollback", "decision": "approve", "aprovers": ["@sre"]}]},
        {"rules": [{"name": "r", "action": "reboot", "decision": "auto"}]},
        {"rules": [{"name": "r", "action": "restart", "decision": "allow"}]},
        {"rules": [{"name": "r", "action": "restart", "decision": "approve", "approvers": ["bob"]}]},
        {"rules": [{"name": "r", "action": "restart", "decision": "approve", "expires_after": "soon"}]},
        {"services": {"cart": {"tier": "gold", "namespace": "shop"}}},
        {"services": {"cart": {"tier": "low"}}},
        {"freeze": [{"name": "f", "from": "2026-01-01T00:00:00Z", "deny": ["sync"]}]},
        {"version": 2},
    ],
)
def test_json_schema_rejects_what_the_models_reject(document: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(document)


def test_durations_and_rates() -> None:
    assert parse_duration("90s").total_seconds() == 90
    assert describe_duration(parse_duration("2h")) == "2 hours"
    assert describe_duration(parse_duration("90s")) == "90 seconds"
    assert RateLimit.parse("3/hour").window == parse_duration("1h")
    assert RateLimit.parse("5/15m").count == 5 and RateLimit.parse("5/15m").window == parse_duration("15m")
    with pytest.raises(ValueError):
        parse_duration("0m")
