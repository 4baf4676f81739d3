"""The environment variables operators set (design.md's list, ``.env.example``) are the ones
``Settings`` reads, each into its attribute, however the fields are grouped in the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

#: design.md, "Environment": the external contract
DESIGN = {
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "SITREP_ALERT_CHANNELS",
    "LOKI_URL", "LOKI_TENANT", "PROMETHEUS_URL", "ARGOCD_URL", "ARGOCD_TOKEN", "JAEGER_URL",
    "KUBERNETES_API_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
    "SITREP_MODEL", "SITREP_ESCALATION_MODEL", "SITREP_FALLBACK_MODEL", "DATABASE_URL", "SITREP_POLICY_DIR",
    "SITREP_SERVICE_LABEL", "SITREP_LOKI_SELECTOR", "SITREP_JOB_LEASE_SECONDS", "GRAFANA_URL", "SITREP_DRY_RUN",
    "SITREP_WEBHOOK_TOKEN", "SITREP_API_TOKEN", "PORT", "LOG_LEVEL", "LOG_FORMAT",
}

#: every variable Settings reads. A renamed variable breaks every deployment that sets the old
#: name, so a setting is added here (and to .env.example) or removed from here on purpose.
ACCEPTED = DESIGN | {
    "SITREP_SLACK_POST_INTERVAL", "SITREP_SLACK_POST_BURST", "SITREP_SOCKET_PING_SECONDS",
    "SITREP_ALLOW_EXTERNAL_USERS", "KUBERNETES_TOKEN", "SITREP_GRAFANA_LOKI_DATASOURCE",
    "SITREP_SOURCE_TIMEOUT", "SITREP_COLLECT_TIMEOUT", "SITREP_NAME_PATTERN", "SITREP_PROMQL",
    "SITREP_DEFAULT_NAMESPACE", "PAGERDUTY_API_URL", "PAGERDUTY_TOKEN", "OPSGENIE_API_URL", "OPSGENIE_API_KEY",
    "SITREP_ONCALL_ROTA", "SITREP_LLM_TIMEOUT", "SITREP_LLM_CHAIN_TIMEOUT", "SITREP_LLM_HOURLY_BUDGET_USD",
    "SITREP_JOB_MAX_ATTEMPTS", "SITREP_MAX_INVESTIGATIONS", "SITREP_QUEUE_HIGH_WATER", "SITREP_VERIFY_DELAYS",
    "SITREP_EXPIRY_SWEEP_SECONDS", "SITREP_EXECUTION_TIMEOUT", "SITREP_ARGOCD_SUSPEND_AUTO_SYNC",
    "SITREP_RUNBOOKS", "SITREP_RUNBOOK_SECRET", "SITREP_METRICS_TOKEN", "SITREP_WEBHOOK_MAX_BYTES",
    "SITREP_INCIDENT_PER_USER", "SITREP_INCIDENT_PER_CHANNEL", "SITREP_INCIDENT_WINDOW_MINUTES",
    "SITREP_SERVICE_INVESTIGATIONS_PER_HOUR", "SITREP_GROUP_WINDOW_SECONDS", "SITREP_GROUP_WAIT_SECONDS",
    "SITREP_REFIRE_AFTER_SECONDS", "SITREP_GROUP_LABELS",
}


def env_names() -> set[str]:
    """The variables Settings reads: its field names upper-cased, as long as no prefix or alias
    says otherwise (checked here, so that adding one fails this test instead of renaming silently)."""
    assert Settings.model_config.get("env_prefix", "") == ""
    assert Settings.model_config.get("case_sensitive") is False
    for name, field in Settings.model_fields.items():
        assert field.alias is None and field.validation_alias is None, name
    return {name.upper() for name in Settings.model_fields}


def example_names() -> set[str]:
    """Every ``NAME=`` line of .env.example, commented-out examples included."""
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))


def test_settings_reads_exactly_the_documented_variables() -> None:
    names = env_names()
    assert DESIGN - names == set(), "design.md's variables"
    assert example_names() - names == set(), ".env.example's variables"
    assert names ^ ACCEPTED == set()


def _another_value(name: str, default: Any) -> str:
    """A value for ``name`` that differs from its default once parsed."""
    if name == "LOG_FORMAT":
        return "json" if default == "console" else "console"
    if isinstance(default, bool):
        return "false" if default else "true"
    if isinstance(default, int | float):
        return str(default + 1)
    if isinstance(default, list):
        return "1.5,2.5" if default and isinstance(default[0], float) else "a,b"
    if isinstance(default, dict):
        return '{"from_the_environment": "x"}'
    return f"{default or ''}from-the-environment"


def test_each_variable_sets_its_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ACCEPTED:
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)
    for name in ACCEPTED:
        monkeypatch.setenv(name, _another_value(name, getattr(defaults, name.lower())))
    settings = Settings(_env_file=None)
    unchanged = sorted(name for name in ACCEPTED if getattr(settings, name.lower()) == getattr(defaults, name.lower()))
    assert unchanged == []
    assert isinstance(settings.slack_bot_token, SecretStr)
    assert settings.slack_bot_token.get_secret_value() == "from-the-environment"


def test_env_example_is_read_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ACCEPTED:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.sitrep_alert_channels == ["C0ALERTS"]
    assert settings.sitrep_verify_delays == [60.0, 180.0, 300.0]
    assert settings.slack_app_token is None  # `SLACK_APP_TOKEN=` means unset
    assert settings.slack_signing_secret is not None
    assert settings.slack_signing_secret.get_secret_value() == "your-signing-secret"
    assert settings.sitrep_group_labels == ["node", "database", "db", "db_instance"]
