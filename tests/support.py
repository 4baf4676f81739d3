"""Test rig helpers shared by the end-to-end tests: run ``sitrep serve`` as a real subprocess."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


#: the checkout under test; subprocesses import ``bot`` from here, whatever else is installed
REPO_ROOT = Path(__file__).resolve().parents[1]

#: the Slack signing secret of the rig's `sitrep serve` (``sitrep_env``) and of its ``signer``
SIGNING_SECRET = "e2e-signing-secret-0123456789abcdef"

#: budgets small enough that a hanging source costs the test ~2 s
FAST_BUDGETS = {
    "SITREP_SOURCE_TIMEOUT": "2",
    "SITREP_COLLECT_TIMEOUT": "2.5",
    "SITREP_LLM_TIMEOUT": "3",
    "SITREP_LLM_CHAIN_TIMEOUT": "6",
}


def subprocess_env(**extra: str) -> dict[str, str]:
    """A clean environment for a ``sitrep`` subprocess: no developer settings leak in."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), **extra}


#: Ports handed to subprocesses come from below Linux's ephemeral range (32768-60999), so neither an
#: outgoing connection nor another ``bind(port 0)`` takes one between the check here and the
#: subprocess's own bind; each pytest-xdist worker has a slice of its own, entered at a random place
#: so that two test runs at the same time rarely try the same port.
PORT_BASE, PORT_SLICE, PORT_SLICES = 20000, 1000, 12
_ports_given: set[int] = set()


def free_port() -> int:
    """A local TCP port nobody listens on, never handed out twice by this process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    low = PORT_BASE + (index % PORT_SLICES) * PORT_SLICE
    start = secrets.randbelow(PORT_SLICE)  # not `random`: a seeded test run would always start at one place
    for step in range(PORT_SLICE):
        port = low + (start + step) % PORT_SLICE
        if port in _ports_given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise RuntimeError(f"no free port in {low}-{low + PORT_SLICE - 1}")


class SitrepProcess:
    """A ``sitrep serve`` subprocess on a free port, its stderr captured to a file; ``workdir`` holds
    its SQLite database (``sitrep.db``) unless ``DATABASE_URL`` says otherwise."""

    def __init__(self, *, proc: subprocess.Popen[bytes], url: str, log_path: Path,
                 workdir: Path | None = None) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path
        self.workdir = workdir if workdir is not None else log_path.parent

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_sitrep(env: dict[str, str], *, workdir: Path, startup_timeout: float = 60.0,
               args: tuple[str, ...] = ()) -> Iterator[SitrepProcess]:
    """``sitrep serve`` (with ``args``, e.g. ``--no-worker``) on a free port, ready when it yields."""
    port = free_port()
    full_env = sitrep_env(env, workdir=workdir, PORT=str(port))
    log_path = workdir / "sitrep-serve.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=workdir, env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    sitrep = SitrepProcess(proc=proc, url=url, log_path=log_path, workdir=workdir)
    try:
        deadline = time.monotonic() + startup_timeout
        with httpx.Client(timeout=1) as client:  # one client: a new one per poll costs a TLS context
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"sitrep serve exited with {proc.returncode}:\n{sitrep.logs()}")
                try:
                    if client.get(f"{url}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sitrep serve did not become ready:\n{sitrep.logs()}")
                time.sleep(0.05)
        yield sitrep
    finally:
        stop_process(sitrep)


def sitrep_env(env: dict[str, str], *, workdir: Path, **extra: str) -> dict[str, str]:
    defaults = {"HOME": str(workdir), "DATABASE_URL": f"sqlite:///{workdir / 'sitrep.db'}",
                "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    return subprocess_env(**{**defaults, **env, **extra})


def start_worker(env: dict[str, str], *, workdir: Path, name: str = "worker") -> SitrepProcess:
    """A ``sitrep worker`` subprocess (stop it with ``stop_process`` or kill it)."""
    log_path = workdir / f"sitrep-{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], cwd=workdir,
                                env=sitrep_env(env, workdir=workdir), stdout=log_file,
                                stderr=subprocess.STDOUT)
    return SitrepProcess(proc=proc, url="", log_path=log_path)


def stop_process(process: SitrepProcess, *, timeout: float = 30) -> None:
    if process.proc.poll() is None:
        process.proc.send_signal(signal.SIGINT)
        try:
            process.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.proc.kill()
            process.proc.wait()


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------
# One `sitrep serve` for many tests


def empty_database(path: Path) -> None:
    """Delete every row a running Sitrep stored in its SQLite database (the schema and its migration
    stamp stay): ids start again at 1, as in a new database."""
    with closing(sqlite3.connect(path, timeout=30)) as db, db:
        tables = [row[0] for row in db.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' "
            "and name != 'alembic_version'")]
        for table in tables:
            db.execute(f'delete from "{table}"')
        if db.execute("select 1 from sqlite_master where name = 'sqlite_sequence'").fetchone():
            db.execute("delete from sqlite_sequence")


def unfinished_work(path: Path, *, jobs: bool = True) -> list[str]:
    """What a Sitrep using the SQLite database at ``path`` still has to do: queued or running jobs
    (unless ``jobs`` is false: nothing runs them), executions not finished, real executions whose
    verification has not posted its final verdict."""
    with closing(sqlite3.connect(path, timeout=30)) as db:
        def count(query: str) -> int:
            return int(db.execute(query).fetchone()[0])

        left = []
        if jobs and (busy := count("select count(*) from jobs where state in ('queued', 'running')")):
            left.append(f"{busy} jobs queued or running")
        if count("select count(*) from executions where finished_at is null"):
            left.append("an execution running")
        verified = count("select count(*) from timeline_events where type = 'VERIFICATION_RESULT' "
                         "and json_extract(data, '$.final')")
        if count("select count(*) from executions where ok and not dry_run") > verified:
            left.append("a verification running")
        return left


def settle(sitrep: SitrepProcess, *, calls: Callable[[], int] | None = None, jobs: bool = True,
           timeout: float = 30.0) -> bool:
    """Wait until ``sitrep`` has nothing left to do (``unfinished_work``) and ``calls`` (what the fakes
    recorded) stays the same across two looks 0.1 s apart; false if that does not happen in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = calls() if calls is not None else 0
        if not unfinished_work(sitrep.workdir / "sitrep.db", jobs=jobs):
            time.sleep(0.1)
            if calls is None or calls() == before:
                return True
        time.sleep(0.1)
    return False


@dataclass
class _Pooled:
    stack: ExitStack
    sitrep: SitrepProcess
    args: tuple[str, ...]
    policy: str | None = None


class SitrepPool:
    """``sitrep serve`` processes kept for several tests (a session's), one per configuration: its
    environment, arguments and policy text. ``take`` gives a test the server of its configuration with
    an empty database (the fakes are reset by the caller), instead of starting one (two processes and
    seconds of CPU each). After a test, ``release`` waits until the server has nothing left to do;
    one that does not settle, or whose test failed, is stopped, and the next test starts a new one.
    At most ``max_servers`` run at once (about 300 MB each): the least recently taken is stopped to
    make room."""

    def __init__(self, root: Path, *, max_servers: int = 6) -> None:
        self._root = root
        self._max_servers = max_servers
        self._servers: dict[tuple[Any, ...], _Pooled] = {}  # least recently taken first

    def take(self, env: dict[str, str], *, args: tuple[str, ...] = (), policy: str | None = None,
             fresh: bool = False) -> SitrepProcess:
        """The server of this configuration, started if there is none; ``fresh``: a new one that no
        other test shares (for a test whose outcome a server's in-memory caches would change). A
        server with a policy is given another policy as an operator would: the file is rewritten
        and the server told to reload it (SIGHUP; serve passes it on to its worker process)."""
        key = (tuple(sorted(env.items())), args, policy is not None, secrets.token_hex(8) if fresh else None)
        pooled = self._servers.pop(key, None)
        if pooled is not None and pooled.sitrep.proc.poll() is None and self._swap_policy(pooled, policy):
            empty_database(self.database(pooled.sitrep))
            self._servers[key] = pooled
            return pooled.sitrep
        if pooled is not None:
            pooled.stack.close()
        while len(self._servers) >= self._max_servers:  # the least recently taken makes room
            oldest = next(iter(self._servers))
            self._note(f"stopping {self._servers[oldest].sitrep.workdir.name}: making room")
            self._stop(oldest)
        workdir = self._root / f"sitrep-{len(list(self._root.glob('sitrep-*')))}"
        workdir.mkdir(parents=True)
        if policy is not None:
            (workdir / "policies").mkdir()
            (workdir / "policies" / "policy.yml").write_text(policy)
            env = {**env, "SITREP_POLICY_DIR": str(workdir / "policies")}
        stack = ExitStack()
        sitrep = stack.enter_context(run_sitrep(env, workdir=workdir, args=args))
        self._servers[key] = _Pooled(stack, sitrep, args, policy)
        self._note(f"started {workdir.name}: {' '.join(args)} policy {hash(policy) % 10**6 if policy else None} "
                   f"{'fresh ' if fresh else ''}{sorted(k for k in env if k.startswith('SITREP_'))}")
        return sitrep

    def _swap_policy(self, pooled: _Pooled, policy: str | None, *, timeout: float = 15.0) -> bool:
        """Put ``policy`` in force on ``pooled``'s server (both its processes); false if it did not
        say so in time."""
        if policy == pooled.policy:
            return True
        path = pooled.sitrep.workdir / "policies" / "policy.yml"
        before = pooled.sitrep.logs().count('"policy_reloaded"')
        staged = path.with_name(".policy.yml.new")  # whole or not at all: the periodic check may read it
        staged.write_text(policy or "")
        os.replace(staged, path)
        pooled.sitrep.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while pooled.sitrep.logs().count('"policy_reloaded"') < before + 2:  # serve and its worker
            if time.monotonic() > deadline or pooled.sitrep.proc.poll() is not None:
                self._note(f"stopping {pooled.sitrep.workdir.name}: the new policy was not loaded in {timeout:.0f} s")
                pooled.stack.close()
                return False
            time.sleep(0.05)
        pooled.policy = policy
        return True

    def _note(self, line: str) -> None:
        """What the pool did, in ``pool.log`` beside the servers' directories (which test waited on
        a start, which server was stopped and why)."""
        with (self._root / "pool.log").open("a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    @staticmethod
    def database(sitrep: SitrepProcess) -> Path:
        return sitrep.workdir / "sitrep.db"

    def release(self, sitrep: SitrepProcess, *, keep: bool, calls: Callable[[], int] | None = None,
                timeout: float = 30.0) -> None:
        """Keep ``sitrep`` for the next test once its work is done and ``calls`` (what the fakes
        recorded) stays the same across two looks; stop it if ``keep`` is false, it was ``fresh`` or it
        does not settle."""
        key = next((k for k, p in self._servers.items() if p.sitrep is sitrep), None)
        if key is None:
            return
        fresh = key[-1] is not None
        jobs = "--no-worker" not in self._servers[key].args
        if keep and not fresh and sitrep.proc.poll() is None and settle(sitrep, calls=calls, jobs=jobs,
                                                                         timeout=timeout):
            return
        self._note(f"stopping {sitrep.workdir.name}: " + ("its test failed" if not keep else "fresh" if fresh
                   else f"exited with {sitrep.proc.returncode}" if sitrep.proc.poll() is not None
                   else f"still busy after {timeout:.0f} s: {unfinished_work(self.database(sitrep), jobs=jobs)}"))
        self._stop(key)

    def _stop(self, key: tuple[Any, ...]) -> None:
        pooled = self._servers.pop(key)
        pooled.stack.close()

    def stop_using(self, url: str) -> None:
        """Stop the servers pointed at ``url`` (a fake cloud that is going away)."""
        for key in [k for k in self._servers if any(url in value for _, value in k[0])]:
            self._stop(key)

    def close(self) -> None:
        """Stop every server, all at once (each takes a second or so to drain and stop its worker)."""
        if self._servers:
            self._note(f"stopping {', '.join(p.sitrep.workdir.name for p in self._servers.values())}: "
                       "their tests are done")
        for pooled in self._servers.values():
            if pooled.sitrep.proc.poll() is None:
                pooled.sitrep.proc.send_signal(signal.SIGINT)
        for pooled in self._servers.values():
            try:
                pooled.sitrep.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pooled.sitrep.proc.kill()
        for key in list(self._servers):
            self._stop(key)
