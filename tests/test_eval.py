"""The evaluation suite runs on a clean checkout and the rule-based analyzer meets its targets."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO_ROOT, subprocess_env


def test_the_eval_suite_runs_every_scenario_and_meets_the_rule_based_targets() -> None:
    done = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / "eval" / "run.py")], cwd=REPO_ROOT,
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    scenarios = sorted((REPO_ROOT / "bench" / "eval" / "scenarios").glob("*.yaml"))
    assert len(scenarios) >= 12
    assert f"rule-based analyzer (no model): {len(scenarios)} scenarios" in done.stdout
    assert "no secret leaked" in done.stdout and "PASS" in done.stdout.splitlines()[-1]
