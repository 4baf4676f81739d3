"""`sitrep` as a user runs it: a real subprocess, a clean environment."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import parse_duration
from bot.models import AnalysisStatus, Brief
from tests.support import REPO_ROOT, subprocess_env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = subprocess_env(HOME=str(cwd), **(env or {}))
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=clean,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "serve" in result.stdout and "investigate" in result.stdout


def test_investigate_on_a_fresh_machine_says_what_is_not_configured(tmp_path: Path) -> None:
    result = run_cli("investigate", "checkout", "--since", "30m", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "AI analysis unavailable — rule-based brief" in result.stdout
    for source in ("Loki", "Prometheus", "ArgoCD", "Jaeger"):
        assert f"{source}: not configured" in result.stdout
    # how to fix it goes to stderr, not into the result
    assert "LOKI_URL=" in result.stderr and "ANTHROPIC_API_KEY" in result.stderr
    assert "LOKI_URL=" not in result.stdout.split("Manual step")[0]


def test_investigate_json_prints_only_the_brief(tmp_path: Path) -> None:
    result = run_cli("investigate", "checkout", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    brief = Brief.model_validate_json(result.stdout)
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert set(brief.analysis.sources) == {"loki", "prometheus", "argocd", "jaeger", "kubernetes"}
    assert json.loads(result.stdout)["root_cause"]["service"] == "checkout"


def test_a_bad_duration_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("investigate", "checkout", "--since", "soon", cwd=tmp_path)
    assert result.returncode == 2
    assert "not a duration" in result.stderr


@pytest.mark.parametrize(("text", "expected"), [("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)),
                                                ("2h", timedelta(hours=2)), ("1d", timedelta(days=1))])
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0m", "30", "m30", "-5m", "1w"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_policy_lint_accepts_the_shipped_policy_and_names_the_line_of_a_typo(tmp_path: Path) -> None:
    shipped = REPO_ROOT / "policies"
    ok = run_cli("policy", "lint", str(shipped), cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    text = (shipped / "default.yml").read_text()
    assert "min_approvals: 2" in text
    (broken / "default.yml").write_text(text.replace("min_approvals: 2", "min_aprovals: 2", 1))
    line = text.splitlines().index(next(l for l in text.splitlines() if "min_approvals: 2" in l)) + 1
    bad = run_cli("policy", "lint", str(broken), cwd=tmp_path)
    assert bad.returncode == 1
    assert f"default.yml:{line}:" in bad.stdout + bad.stderr


def test_policy_check_prints_the_decision_and_rule(tmp_path: Path) -> None:
    action = json.dumps({"kind": "restart", "target": {"service": "checkout", "namespace": "shop"},
                         "params": {}, "rationale": "stuck pods"})
    result = run_cli("policy", "check", action, "--policy-dir", str(REPO_ROOT / "policies"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "deny" in result.stdout.lower()
    assert "no restarts of critical services" in result.stdout
