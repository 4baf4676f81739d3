"""Schema-driven fuzzing (schemathesis) of the alert webhooks and the REST API of a running
`sitrep serve`: generated bodies, parameters and headers, with and without the right token —
never a 5xx, and every answer is the status its route documents."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.sandbox.server import FakeCloud
from tests.support import REPO_ROOT, SitrepProcess

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(300)
WEBHOOK_TOKEN = "fuzz-webhook-token-FAKE-1"
API_TOKEN = "fuzz-api-token-FAKE-2"


def schemathesis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # the one installed with the test extras beside this interpreter, not another on PATH
    beside = Path(sys.executable).with_name("schemathesis")
    command = [str(beside)] if beside.exists() else [sys.executable, "-m", "schemathesis.cli"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize(("paths", "token"), [
    ("/alerts/", WEBHOOK_TOKEN),   # the webhooks, authorised: bodies are what gets fuzzed
    ("/api/v1/", API_TOKEN),       # the REST API, authorised: ids, cursors, limits
    ("/", "not-the-token"),        # everything, with a wrong token
])
def test_no_generated_request_gets_a_server_error(
        fake_cloud: FakeCloud, sitrep_env: dict[str, str], workdir: Path, serve: Serve, paths: str,
        token: str) -> None:
    env = {**sitrep_env, "SITREP_WEBHOOK_TOKEN": WEBHOOK_TOKEN, "SITREP_API_TOKEN": API_TOKEN,
           "SITREP_POLICY_DIR": str(REPO_ROOT / "policies")}
    sitrep = serve(env, args=("--no-worker",))  # one server for the three runs
    result = schemathesis(
        "run", f"{sitrep.url}/openapi.json",
        "--checks", "not_a_server_error,status_code_conformance,response_schema_conformance",
        "--include-path-regex", f"^{paths}",
        "--exclude-path", "/slack/events",  # signed requests: covered by the signature tests
        "-H", f"Authorization: Bearer {token}",
        "--max-examples", "40", "--seed", "7", "--request-timeout", "20",
        "--phases", "examples,coverage,fuzzing",
        cwd=workdir,
    )
    logs = sitrep.logs()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in logs, logs[-4000:]
