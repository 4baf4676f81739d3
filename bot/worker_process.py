"""``sitrep serve``'s worker as a process of its own, so investigations never hold the event loop
that acknowledges Slack and the alert webhooks (CPU-bound steps in a thread still share one GIL).

    serve ─ lifespan open ─▶ start ``sitrep worker --parent-pid <serve>`` (same code as a worker run by hand)
                 │  the child exits unexpectedly ─▶ error logged, started again (backoff 1 s … 30 s)
                 └─ shutdown ─▶ SIGTERM (the worker drains its jobs) ─▶ wait ─▶ SIGKILL

The child shares the database queue with any other worker, posts to Slack with its own client and
runs the periodic jobs that must run once (proposal expiry, the Jaeger call graph); the web process
runs the rest of its scheduler (policy reloads, verifications of the actions it executed). The child
stops by itself when its parent is gone (``--parent-pid``), so a killed ``serve`` leaves no orphan.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

#: restart delays after the child died: doubled each time, back to the first after a minute up
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
STABLE_AFTER_S = 60.0
#: how much lower the worker process's CPU priority is than serve's (nice steps)
WORKER_NICENESS = 10


class WorkerProcess:
    def __init__(self, *, stop_timeout: float, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self._stop_timeout = stop_timeout
        self._env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._last_exit: int | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    @property
    def state(self) -> str:
        """For /readyz: ``running (process N)``, ``starting``, or why it is being restarted."""
        if self.pid is not None:
            return f"running (process {self.pid})"
        if self._last_exit is not None:
            return f"restarting: the worker process exited with {self._last_exit}"
        return "starting"

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="worker-process")

    def send_signal(self, sig: int) -> None:
        """Pass a signal on (SIGHUP: reload the policy); nothing when the process is not running."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    async def stop(self) -> None:
        """SIGTERM the child (it finishes its jobs), wait ``stop_timeout``, then SIGKILL it."""
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout=self._stop_timeout)
            except TimeoutError:
                log.error("worker_process_killed", pid=proc.pid, after_s=self._stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        log.info("worker_process_stopped", exit=proc.returncode if proc is not None else None)

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_FIRST_S
        while not self._stopping.is_set():
            started = loop.time()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "worker", "--parent-pid", str(os.getpid()),
                    env=self._env, cwd=self._cwd, stdin=asyncio.subprocess.DEVNULL,
                    start_new_session=True)  # a terminal's Ctrl-C reaches serve, which stops it
            except OSError as exc:
                log.error("worker_process_not_started", error=repr(exc), restart_in_s=delay)
            else:
                _lower_priority(self._proc.pid)
                log.info("worker_process_started", pid=self._proc.pid)
                self._last_exit = await self._proc.wait()
                if self._stopping.is_set():
                    return
                log.error("worker_process_died", pid=self._proc.pid, exit=self._last_exit, restart_in_s=delay,
                          detail="investigations wait in the queue until it is back")
            if loop.time() - started > STABLE_AFTER_S:
                delay = RESTART_FIRST_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            delay = min(delay * 2, RESTART_MAX_S)
            self.restarts += 1


def _lower_priority(pid: int) -> None:
    """Acks first: the worker runs ``WORKER_NICENESS`` below serve, so on a busy core the scheduler
    hands the CPU to the web process as soon as a request arrives. Set before the child starts its
    threads (they inherit it); where that is not possible the worker just runs at the same priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19))
    except (AttributeError, OSError) as exc:
        log.warning("worker_priority_unchanged", error=repr(exc))
