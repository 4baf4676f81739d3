"""The policy in force as an operator meets it: a broken file stops start-up; a broken edit of a
running Sitrep keeps the last good policy, and the logs and /readyz say so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import REPO_ROOT, run_sitrep, subprocess_env, wait_for

pytestmark = pytest.mark.timeout(90)


def edit(path: Path, text: str) -> None:
    """Write ``text`` with an mtime later than the file's, whatever the file system's timestamp
    granularity (Sitrep notices an edit by its mtime)."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
    os.utime(path, ns=(later, later))


def test_a_broken_policy_file_stops_start_up_with_its_line(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (REPO_ROOT / "policies" / "default.yml").read_text()
    (policies / "default.yml").write_text(text.replace("min_approvals: 2", "min_aprovals: 2", 1))
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
        cwd=tmp_path, env=subprocess_env(HOME=str(tmp_path), SITREP_POLICY_DIR=str(policies)),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "refusing to start" in output and "default.yml:" in output and "min_aprovals" in output


def test_a_broken_edit_keeps_the_last_good_policy(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    good = (REPO_ROOT / "policies" / "default.yml").read_text()
    (policies / "default.yml").write_text(good)
    with run_sitrep({"SITREP_POLICY_DIR": str(policies)}, workdir=tmp_path) as sitrep:
        assert httpx.get(f"{sitrep.url}/readyz").json()["policy"] == "ok"
        edit(policies / "default.yml", good + "\nrules: [oops\n")

        def kept() -> bool:
            return "last good policy kept" in httpx.get(f"{sitrep.url}/readyz").json()["policy"]

        wait_for(kept, timeout=15, what="/readyz to report the refused edit")
        said = httpx.get(f"{sitrep.url}/readyz").json()["policy"]
        assert "oops" not in said and "default.yml" not in said and "1 problem" in said  # no file contents
        assert "policy_reload_failed_keeping_last_good" in sitrep.logs()
        edit(policies / "default.yml", good)
        wait_for(lambda: httpx.get(f"{sitrep.url}/readyz").json()["policy"] == "ok", timeout=15,
                 what="the fixed policy to load")
