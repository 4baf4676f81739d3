"""Test rig helpers shared by the end-to-end tests: run ``sitrep serve`` as a real subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


#: the checkout under test; subprocesses import ``bot`` from here, whatever else is installed
REPO_ROOT = Path(__file__).resolve().parents[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """A clean environment for a ``sitrep`` subprocess: no developer settings leak in."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SitrepProcess:
    """A ``sitrep serve`` subprocess on a free port, its stderr captured to a file."""

    def __init__(self, *, proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def run_sitrep(env: dict[str, str], *, workdir: Path, startup_timeout: float = 30.0,
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
    sitrep = SitrepProcess(proc=proc, url=url, log_path=log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sitrep serve exited with {proc.returncode}:\n{sitrep.logs()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sitrep serve did not become ready:\n{sitrep.logs()}")
            time.sleep(0.1)
        yield sitrep
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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
