"""End-to-end rig: the fakes (Slack, Loki, Prometheus, ArgoCD, Jaeger, Anthropic) in one local HTTP
server, and ``sitrep serve`` as a subprocess pointed at them (``fake_cloud``, ``sitrep_env``, ``signer``,
``serve``, ``workdir``: tests/conftest.py, shared with the security and fault tests); here, the demo."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

import pytest

from tests.support import FAST_BUDGETS, SIGNING_SECRET, free_port, subprocess_env, wait_for

__all__ = ["FAST_BUDGETS", "SIGNING_SECRET", "Demo"]


@dataclass(frozen=True)
class Demo:
    """A running `sitrep demo`: its URL and the file its terminal output goes to."""

    url: str
    log: Path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`sitrep demo --no-browser` as a subprocess on a free port, once for the module's tests."""
    home = tmp_path_factory.mktemp("demo")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (home / "demo.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo", "--no-browser", "--port", str(port)],
                                cwd=home, env=subprocess_env(HOME=str(home)), stdout=log,
                                stderr=subprocess.STDOUT)

    def up() -> bool:
        try:
            return httpx.get(f"{url}/demo", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, timeout=60, what="the demo page")
        yield Demo(url=url, log=home / "demo.log")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode in (0, -15), "sitrep demo did not stop cleanly on SIGTERM"


@pytest.fixture
def demo(demo_run: Demo) -> str:
    """The URL of the module's running `sitrep demo`."""
    return demo_run.url
