"""Shared fixtures. Storage tests run against SQLite always and against PostgreSQL when one is available
(``SITREP_TEST_POSTGRES_URL``; `.ci/run` starts a server and sets it, so CI never skips it).

The end-to-end rig (e2e, security and fault tests): ``fake_cloud`` (every fake upstream in one local
server), ``sitrep_env`` (Sitrep's environment pointing at it), ``signer`` (signs Slack requests), and
``serve`` (a running ``sitrep serve`` of a configuration). One cloud and one pool of servers serve a
whole test session (each pytest-xdist worker its own): every test starts with the fakes as new, their
story ending now, and an empty database, and a server is started once per configuration instead of
once per test — two processes and seconds of CPU each, most of the suite's time before."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from bot.store.db import create_schema, make_engine
from tests.support import FAST_BUDGETS, SIGNING_SECRET, SitrepPool, SitrepProcess

POSTGRES_URL = os.environ.get("SITREP_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'sitrep.db'}")
        create_schema(engine)
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: .ci/run sets SITREP_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL (set SITREP_TEST_POSTGRES_URL)")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(POSTGRES_URL, search_path=schema)
    create_schema(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


#: pytest-xdist workers for the whole suite (`-n auto`, pyproject's addopts): one more than the two CPUs
#: of CI's machine, for the end-to-end tests' waits on timers and budgets (four were no faster on two
#: CPUs, and the more processes share them, the more a test's own timing bounds are squeezed)
WORKERS = 3


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: ``WORKERS`` for the suite or a directory; for test files named on the command line,
    at most one worker each, and none for a single file (a worker costs seconds of start-up)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    files = {arg.split("::")[0] for arg in config.args}
    if files and all(name.endswith(".py") for name in files):
        return 0 if len(files) == 1 else min(len(files), WORKERS)
    return WORKERS


#: Modules whose tests take `sitrep serve` processes of the same configurations: one pytest-xdist unit
#: of work each (below), so one worker runs them and starts those servers once.
SHARED_SERVERS = {
    **dict.fromkeys(("tests/e2e/test_remediation.py", "tests/e2e/test_app_home.py", "tests/e2e/test_revert.py",
                     "tests/e2e/test_postmortem.py"), "servers: start() with a policy"),
    **dict.fromkeys(("tests/e2e/test_incident_command.py", "tests/e2e/test_incident_management.py",
                     "tests/e2e/test_transparency.py", "tests/faults/test_slack_faults.py",
                     "tests/security/test_slack_requests.py"), "servers: sitrep_env"),
}

#: The longest modules (or groups), longest first, as a serial run on an idle machine times them (s):
#: collected first in this order, so that pytest-xdist hands them out first (`--no-loadscope-reorder`)
#: and the many short modules fill the gaps at the end, instead of a long one running alone after
#: everything else is done. Then the other modules that start servers; then the rest.
LONGEST = (
    "servers: start() with a policy",            # ~50
    "servers: sitrep_env",                        # ~45
    "tests/e2e/test_oncall_approvers.py",         # 43
    "tests/e2e/test_argocd_shapes.py",            # 32
    "tests/e2e/test_alerts.py",                   # 31
    "tests/security/test_fuzz.py",                # 30
    "tests/policy/test_engine_properties.py",     # 25, all CPU (hypothesis)
    "tests/faults/test_upstream_faults.py",       # 23
    "tests/e2e/test_demo.py",                     # 20
    "tests/e2e/test_socket_mode.py",              # 16
    "tests/e2e/test_worker_process.py",           # 14
    "tests/e2e/test_demo_browser.py",             # 13
    "tests/e2e/test_untrusted_text.py",           # 13
    "tests/security/test_secrets_and_urls.py",    # 12
)
LONG = ("tests/e2e/", "tests/security/", "tests/faults/")


def work_unit(path: str) -> str:
    """What pytest-xdist hands to one worker: the module's group of ``SHARED_SERVERS``, or the module."""
    return SHARED_SERVERS.get(path, path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def order(item: pytest.Item) -> int:
        unit = work_unit(item.nodeid.split("::")[0])
        return LONGEST.index(unit) if unit in LONGEST else len(LONGEST) + (0 if unit.startswith(LONG) else 1)

    items.sort(key=order)  # stable: the modules stay whole and in order


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole modules to a worker, as ``--dist loadfile`` does, except that the ``SHARED_SERVERS``
    modules of one group go to one worker together."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndServerGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid.split("::", 1)[0])

    return ModulesAndServerGroups(config, log)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each phase's report on the item (``item.rep_setup``, ``rep_call``): fixtures that keep a
    server for the next test stop it instead when the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# --------------------------------------------------------------------------------- end-to-end rig


@pytest.fixture(scope="session")
def rig_cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as cloud:
        yield cloud


@pytest.fixture
def fake_cloud(rig_cloud: FakeCloud) -> FakeCloud:
    """The session's fakes, as new for each test: nothing recorded, no faults, the model's mode
    ``scenario``, and the story ending now (as that of a cloud started now)."""
    rig_cloud.reset(restart_story=True)
    return rig_cloud


#: the session's pool of servers, for the hook below
_pools: list[SitrepPool] = []


@pytest.fixture(scope="session")
def sitrep_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SitrepPool]:
    pool = SitrepPool(tmp_path_factory.mktemp("served"))
    _pools.append(pool)
    yield pool
    _pools.remove(pool)
    pool.close()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The servers of a module (or of a ``SHARED_SERVERS`` group) stop when its last test is done: an
    idle server's two processes still poll and sweep (~17 ms of CPU a second), and kept to the end
    of the session a dozen of them took CPU that the other tests' processes needed."""
    unit = work_unit(item.nodeid.split("::")[0])
    if _pools and (nextitem is None or work_unit(nextitem.nodeid.split("::")[0]) != unit):
        for pool in _pools:
            pool.close()


@pytest.fixture
def serve(request: pytest.FixtureRequest, sitrep_pool: SitrepPool,
          fake_cloud: FakeCloud) -> Iterator[Callable[..., SitrepProcess]]:
    """``serve(env, args=(), policy=None, fresh=False)``: a ready ``sitrep serve`` of that configuration
    with an empty database, shared with the session's other tests of the same configuration (unless
    ``fresh``); its work directory is ``.workdir``. After the test it must have finished what it was
    doing (jobs, executions, verifications) and the fakes must hear nothing more from it, or it is
    stopped, as it is when the test failed."""
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


# One fake cloud (every sandbox upstream on one local port) per test module; each test that asks for
# ``cloud`` starts from a clean slate (no faults, no records). A module overrides ``module_cloud`` to
# start it differently (e.g. with a Loki tenant).


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as cloud:
        yield cloud


@pytest.fixture
def cloud(module_cloud: FakeCloud) -> Iterator[FakeCloud]:
    module_cloud.reset()
    yield module_cloud
    module_cloud.reset()
