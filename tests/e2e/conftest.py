"""End-to-end rig: the fakes (Slack, Loki, Prometheus, ArgoCD, Jaeger, Anthropic) in one local HTTP
server, and ``sitrep serve`` as a subprocess pointed at them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.support import SitrepPool, SitrepProcess, free_port, subprocess_env, wait_for

SIGNING_SECRET = "e2e-signing-secret-0123456789abcdef"

#: budgets small enough that a hanging source costs the test ~2 s
FAST_BUDGETS = {
    "SITREP_SOURCE_TIMEOUT": "2",
    "SITREP_COLLECT_TIMEOUT": "2.5",
    "SITREP_LLM_TIMEOUT": "3",
    "SITREP_LLM_CHAIN_TIMEOUT": "6",
}


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as cloud:
        yield cloud


@pytest.fixture
def fake_cloud(module_cloud: FakeCloud) -> FakeCloud:
    """The module's fakes, reset: as new for each test (recorded calls, faults, model mode...)."""
    module_cloud.reset()
    return module_cloud


@pytest.fixture(scope="module")
def sitrep_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SitrepPool]:
    pool = SitrepPool(tmp_path_factory.mktemp("served"))
    yield pool
    pool.close()


@pytest.fixture
def serve(request: pytest.FixtureRequest, sitrep_pool: SitrepPool,
          fake_cloud: FakeCloud) -> Iterator[Callable[..., SitrepProcess]]:
    """``serve(env, args=(), policy=None, fresh=False)``: a ready ``sitrep serve`` of that configuration
    with an empty database, shared with the module's other tests of the same configuration (unless
    ``fresh``); its work directory is ``.workdir``. After the test it must have finished what it was doing (jobs,
    executions, verifications) and the fakes must hear nothing more from it, or it is stopped."""
    taken: list[SitrepProcess] = []

    def take(env: dict[str, str], *, args: tuple[str, ...] = (), policy: str | None = None,
             fresh: bool = False) -> SitrepProcess:
        sitrep = sitrep_pool.take(env, args=args, policy=policy, fresh=fresh)
        taken.append(sitrep)
        return sitrep

    yield take
    reports = [getattr(request.node, f"rep_{when}", None) for when in ("setup", "call")]
    passed = all(report is not None and report.passed for report in reports)
    for sitrep in taken:
        sitrep_pool.release(sitrep, keep=passed, calls=lambda: len(fake_cloud.slack_calls()))


@pytest.fixture
def signer(fake_cloud: FakeCloud) -> SlackSigner:
    return fake_cloud.signer(SIGNING_SECRET)


@pytest.fixture
def sitrep_env(fake_cloud: FakeCloud) -> dict[str, str]:
    return {**fake_cloud.env(SLACK_SIGNING_SECRET=SIGNING_SECRET), **FAST_BUDGETS}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


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
