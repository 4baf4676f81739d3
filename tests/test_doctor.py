"""`sitrep doctor` against the sandbox: everything right is all ✓ and exit 0; each thing broken is
exactly its ✗ with its fix and exit 1; `--json` parses; no secret value is ever printed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.doctor import Status, render_json, render_text, run_doctor
from bot.doctor.report import Report
from bot.sandbox.server import FakeCloud
from bot.settings import Settings
from bot.slack.scopes import BOT_SCOPES
from bot.store.db import create_schema, make_engine
from tests.support import REPO_ROOT, subprocess_env

TENANT = "team-a"


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[FakeCloud]:
    with FakeCloud(loki_tenant=TENANT) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database with every migration applied, as `sitrep serve` leaves it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('doctor') / 'sitrep.db'}"
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    return url


@pytest.fixture
def env(cloud: FakeCloud, database: str) -> dict[str, str]:
    """Sitrep pointed at every sandbox service, with an alert channel, a migrated database, the policy."""
    return {**cloud.env(), "SITREP_ALERT_CHANNELS": "C0ALERTS", "DATABASE_URL": database,
            "SITREP_POLICY_DIR": str(REPO_ROOT / "policies"), "SITREP_SOURCE_TIMEOUT": "2"}


def settings_from(env: dict[str, str], **overrides: str | None) -> Settings:
    merged = {**env, **{k: v for k, v in overrides.items() if v is not None}}
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
    values: dict[str, Any] = {k.lower(): v for k, v in merged.items()}
    if "sitrep_promql" in values:  # the environment's JSON, decoded as pydantic-settings does
        values["sitrep_promql"] = json.loads(values["sitrep_promql"])
    return Settings(_env_file=None, **values)


def doctor(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", "doctor", *args], cwd=cwd,
                          env=subprocess_env(HOME=str(cwd), **env), capture_output=True, text=True, timeout=60)


def failures(report: Report) -> list[tuple[str, str]]:
    return [(r.section, r.name) for r in report.results if r.status is Status.FAIL]


def secrets_of(cloud: FakeCloud) -> list[str]:
    creds = cloud.credentials
    return [creds.slack_bot_token, creds.slack_signing_secret, creds.argocd_token, creds.anthropic_api_key,
            creds.kubernetes_token, creds.pagerduty_token, creds.opsgenie_key]


def test_the_scopes_doctor_wants_are_the_bot_scopes_manifest_yml_grants() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "manifest.yml").read_text(encoding="utf-8"))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES), \
        "manifest.yml's bot scopes and bot/slack/scopes.py must list the same scopes"


# ---------------------------------------------------------------------------- the command, end to end


def test_everything_right_is_all_ticks_and_exit_0(cloud: FakeCloud, env: dict[str, str], tmp_path: Path) -> None:
    result = doctor(env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    marks = [line.strip()[0] for line in out.splitlines() if line.startswith("  ") and line.strip()[:1] in "✓✗–"]
    assert set(marks) == {"✓"} and len(marks) == 21, out
    assert out.rstrip().endswith("21 ✓, 0 ✗, 0 not configured — ready.")
    for line in ("✓ bot token: @sitrep", "✓ bot scopes: all 13", "✓ alert channel C0ALERTS", "✓ labels: 5 labels "
                 f"for tenant {TENANT}", "✓ service label: 'service' exists", "✓ PromQL templates for checkout",
                 "✓ applications, get", "auto-sync on for checkout", "✓ services", "✓ permissions in shop",
                 "✓ Anthropic claude-haiku-4-5", "✓ migrations: at head", "✓ lint:", "✓ API key"):
        assert line in out, f"{line!r} missing from:\n{out}"
    # what each check called is shown, with the tenant header it sent but never a credential
    assert f"called: GET {cloud.url}/loki/loki/api/v1/labels (X-Scope-OrgID: {TENANT})" in out
    assert f"called: POST {cloud.url}/kubernetes/apis/authorization.k8s.io/v1/selfsubjectaccessreviews ×3" in out
    for secret in secrets_of(cloud):
        assert secret not in out and secret not in result.stderr


async def test_two_things_broken_are_exactly_those_crosses_with_their_fixes(
        cloud: FakeCloud, env: dict[str, str], tmp_path: Path) -> None:
    cloud.grants(slack_scopes=[s for s in BOT_SCOPES if s != "reactions:write"], argocd_deny=["applications/get"])
    text = render_text(await run_doctor(settings_from(env)))  # what `sitrep doctor` prints
    lines = text.splitlines()
    crosses = [line.strip() for line in lines if line.strip().startswith("✗")]
    assert crosses == [
        "✗ bot scopes: missing reactions:write (the token has 12 of the 13 bot scopes in manifest.yml)",
        "✗ applications, get: sitrep may not get applications (can-i says no): Sitrep cannot read deploy history",
    ]
    fixes = [lines[i + 1:i + 8] for i, line in enumerate(lines) if line.strip().startswith("✗")]
    scope_fix = next(line for line in fixes[0] if "fix:" in line)
    assert "Bot Token Scopes: add reactions:write" in scope_fix and "reinstall the app" in scope_fix
    argocd_fix = next(line for line in fixes[1] if "fix:" in line)
    assert "p, sitrep, applications, get, */*, allow" in argocd_fix
    assert "/api/v1/account/can-i/applications/get/*/*" in "\n".join(fixes[1])

    as_json = await asyncio.to_thread(doctor, env, "--json", cwd=tmp_path)
    assert as_json.returncode == 1, as_json.stdout + as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["summary"]["fail"] == 2
    failed = [(c["section"], c["check"]) for c in report["checks"] if c["status"] == "fail"]
    assert failed == [("slack", "bot scopes"), ("argocd", "applications, get")]
    assert all(c["fix"] for c in report["checks"] if c["status"] == "fail")
    assert all(c["called"] for c in report["checks"] if c["section"] != "slack" or c["check"] != "how Slack reaches "
                                                                                                  "Sitrep")
    for secret in secrets_of(cloud):
        for stream in (text, as_json.stdout, as_json.stderr):
            assert secret not in stream


# ---------------------------------------------------------------------------- one thing broken at a time

Break = Callable[[FakeCloud], dict[str, str | None]]


def _grants(env: dict[str, str | None] | None = None, **grants: Any) -> Break:
    def apply(cloud: FakeCloud) -> dict[str, str | None]:
        cloud.grants(**grants)
        return dict(env or {})
    return apply


def _env(**overrides: str | None) -> Break:
    return lambda cloud: overrides


BROKEN: list[tuple[str, Break, tuple[str, str], str]] = [
    ("wrong Loki tenant", _env(LOKI_TENANT="team-b"), ("loki", "labels"), "set LOKI_TENANT"),
    ("no Loki tenant for a multi-tenant Loki", _env(LOKI_TENANT=None), ("loki", "labels"), "set LOKI_TENANT"),
    ("Loki selector on a label the logs lack", _env(SITREP_LOKI_SELECTOR='{app="{service}"}'),
     ("loki", "service label"), "SITREP_LOKI_SELECTOR"),
    ("Prometheus service label nobody uses", _env(SITREP_SERVICE_LABEL="app"), ("prometheus", "service label"),
     "SITREP_SERVICE_LABEL"),
    ("a broken PromQL template", _env(SITREP_PROMQL='{"request_rate": "sum(rate(http_requests_total[5m]"}'),
     ("prometheus", "PromQL templates for checkout"), "SITREP_PROMQL"),
    ("bot not in the alert channel", _grants(slack_not_member=["C0ALERTS"]), ("slack", "alert channel C0ALERTS"),
     "/invite @sitrep"),
    ("a private alert channel the bot is not in",
     _grants({"SITREP_ALERT_CHANNELS": "G0PRIVATE"}, slack_not_member=["G0PRIVATE"]),
     ("slack", "alert channel G0PRIVATE"), "/invite @sitrep"),
    ("wrong Slack bot token", _env(SLACK_BOT_TOKEN="xoxb-not-the-right-one"), ("slack", "bot token"),
     "Bot User OAuth Token"),
    ("neither signing secret nor app token", _env(SLACK_SIGNING_SECRET=None), ("slack", "how Slack reaches Sitrep"),
     "SLACK_SIGNING_SECRET"),
    ("ArgoCD token from elsewhere", _env(ARGOCD_TOKEN="argocd-some-other-token"), ("argocd", "token"),
     "generate-token"),
    ("Kubernetes may not scale in shop", _grants(kubernetes_deny=["patch deployments/scale@shop"]),
     ("kubernetes", "permissions in shop"), "deploy/kubernetes/role.yaml"),
    ("wrong Anthropic key", _env(ANTHROPIC_API_KEY="sk-ant-wrong-key-0123456789"),
     ("model", "Anthropic claude-haiku-4-5 (SITREP_MODEL)"), "ANTHROPIC_API_KEY"),
    ("a model name Anthropic does not know", _env(SITREP_MODEL="haiku-latest"),
     ("model", "Anthropic haiku-latest (SITREP_MODEL)"), "set SITREP_MODEL"),
    ("wrong PagerDuty token", _env(PAGERDUTY_TOKEN="pd-wrong-token-0123"), ("pagerduty", "API key"),
     "PAGERDUTY_TOKEN"),
]


@pytest.mark.parametrize(("case", "breaks", "expected", "fix"), BROKEN, ids=[case[0] for case in BROKEN])
async def test_one_thing_broken_is_one_cross_with_its_fix(
        cloud: FakeCloud, env: dict[str, str], case: str, breaks: Break, expected: tuple[str, str], fix: str) -> None:
    overrides = breaks(cloud)
    settings = settings_from(env, **overrides)
    report = await run_doctor(settings)
    assert failures(report) == [expected], render_text(report)
    failed = next(r for r in report.results if r.status is Status.FAIL)
    assert fix in (failed.fix or ""), failed
    assert report.exit_code == 1
    text, as_json = render_text(report), render_json(report)
    for secret in [*secrets_of(cloud), *(v for v in overrides.values() if v and "wrong" in v)]:
        assert secret not in text and secret not in as_json


async def test_a_socket_mode_app_token_is_checked_as_serve_checks_it(cloud: FakeCloud, env: dict[str, str]) -> None:
    link = cloud.socket_mode()
    good = await run_doctor(settings_from(env, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=link.app_token))
    assert failures(good) == [], render_text(good)
    assert "Socket Mode app token" in render_text(good)
    wrong = "xapp-1-A0SANDBOX01-wrong"
    bad = await run_doctor(settings_from(env, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=wrong))
    assert failures(bad) == [("slack", "Socket Mode app token")], render_text(bad)
    failed = next(r for r in bad.results if r.status is Status.FAIL)
    assert "invalid_auth" in failed.detail and "connections:write" in (failed.fix or "")
    assert wrong not in render_text(bad) and link.app_token not in render_text(good)


async def test_a_hanging_service_fails_within_its_budget_and_the_rest_still_answer(
        cloud: FakeCloud, env: dict[str, str]) -> None:
    cloud.set_faults(jaeger={"hang": True})
    started = time.monotonic()
    report = await run_doctor(settings_from(env, SITREP_SOURCE_TIMEOUT="0.5"))
    assert time.monotonic() - started < 5
    assert failures(report) == [("jaeger", "services")]
    failed = next(r for r in report.results if r.status is Status.FAIL)
    assert "no answer from" in failed.detail and "within 0.5 s" in failed.detail
    assert "JAEGER_URL" in (failed.fix or "")


async def test_what_is_not_configured_is_neutral_except_slack(env: dict[str, str]) -> None:
    unset = {key: None for key in ("LOKI_URL", "PROMETHEUS_URL", "ARGOCD_URL", "JAEGER_URL", "KUBERNETES_API_URL",
                                   "ANTHROPIC_API_KEY", "PAGERDUTY_TOKEN", "OPSGENIE_API_KEY")}
    report = await run_doctor(settings_from(env, **unset), service_account_dir=Path("/nonexistent"))
    assert report.ok, render_text(report)
    text = render_text(report)
    for title in ("Loki", "Prometheus", "ArgoCD", "Jaeger", "Kubernetes", "Model", "PagerDuty", "Opsgenie"):
        assert f"{title}\n  –  not configured: " in text
    assert "LOKI_URL=http://loki:3100" in text

    no_slack = await run_doctor(settings_from(env, **unset, SLACK_BOT_TOKEN=None))
    assert failures(no_slack) == [("slack", "bot token")]
    assert "SLACK_BOT_TOKEN is not set" in render_text(no_slack)


async def test_a_database_without_migrations_and_a_broken_policy_fail(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "bad.yml").write_text("services:\n  checkout:\n    tier: urgent\n    namespace: shop\n")
    report = await run_doctor(settings_from(env, DATABASE_URL=f"sqlite:///{empty}", SITREP_POLICY_DIR=str(policies)))
    assert failures(report) == [("database", "migrations"), ("policy", "lint")], render_text(report)
    database, policy = (r for r in report.results if r.status is Status.FAIL)
    assert "no migrations applied" in database.detail and "sitrep serve" in (database.fix or "")
    assert "bad.yml:3:" in policy.detail and "sitrep policy lint" in (policy.fix or "")


async def test_a_password_in_a_url_is_never_printed(cloud: FakeCloud, env: dict[str, str]) -> None:
    loki = env["LOKI_URL"].replace("http://", "http://logs:loki-pass-4321@")
    report = await run_doctor(settings_from(env, LOKI_URL=loki))
    assert report.ok, render_text(report)
    loki_lines = [r for r in report.results if r.section == "loki"]
    assert loki_lines[0].called == [f"GET {cloud.url}/loki/loki/api/v1/labels (X-Scope-OrgID: {TENANT})"]
    assert "loki-pass-4321" not in render_text(report) and "loki-pass-4321" not in render_json(report)


async def test_a_database_that_does_not_answer_fails_without_showing_its_password(env: dict[str, str]) -> None:
    from tests.support import free_port

    url = f"postgresql+psycopg://sitrep:db-pass-9876@127.0.0.1:{free_port()}/sitrep"
    report = await run_doctor(settings_from(env, DATABASE_URL=url))
    assert failures(report) == [("database", "migrations")], render_text(report)
    failed = next(r for r in report.results if r.status is Status.FAIL)
    assert "cannot read the schema version" in failed.detail and "DATABASE_URL" in (failed.fix or "")
    assert failed.called == [f"read alembic_version in postgresql+psycopg://sitrep:***@{url.split('@')[1]}"]
    assert "db-pass-9876" not in render_text(report) + render_json(report)


def _openai_server(models: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/models" and request.headers["authorization"] == "Bearer sk-local-0123"
        return httpx.Response(200, json={"object": "list", "data": [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "vllm"} for m in models]})
    return httpx.MockTransport(answer)


@pytest.mark.parametrize(("served", "ok"), [(["qwen2.5-7b-instruct", "llama3.1-8b"], True), (["llama3.1-8b"], False)])
async def test_an_openai_compatible_server_must_list_the_model(served: list[str], ok: bool) -> None:
    settings = Settings(_env_file=None, openai_base_url="http://vllm:8000/v1", openai_api_key="sk-local-0123",
                        sitrep_model="qwen2.5-7b-instruct", slack_bot_token=None,
                        database_url="sqlite:///./nonexistent-doctor.db")  # type: ignore[call-arg]
    report = await run_doctor(settings, transport=_openai_server(served))
    model = [r for r in report.results if r.section == "model"]
    assert [r.status for r in model] == [Status.OK if ok else Status.FAIL]
    assert model[0].called == ["GET http://vllm:8000/v1/models"]
    if not ok:
        assert "does not list qwen2.5-7b-instruct (SITREP_MODEL)" in model[0].detail
    assert "sk-local-0123" not in render_text(report)
