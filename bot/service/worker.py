"""The worker: claims jobs from the durable queue and runs them, a bounded number at a time.

    claim (lease) ─▶ handler ─▶ complete
         │  heartbeat every lease/3 while it runs; a lost lease cancels the run
         └─ exception ─▶ fail: retried with backoff, or given up (the handler says so)

A worker killed mid-job stops renewing its lease; when the lease expires another worker claims the
job again. Handlers are written to be re-run: they look at what is already recorded first.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

import structlog

from bot.store.queue import Job, JobQueue

log = structlog.get_logger(__name__)


class JobHandler(Protocol):
    async def run(self, job: Job) -> None:
        """Do the job; raise to have it retried."""

    async def give_up(self, job: Job, *, error: str) -> None:
        """The last attempt failed: record it and tell the people concerned."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, JobHandler],
        *,
        name: str | None = None,
        concurrency: int = 4,
        lease: timedelta = timedelta(seconds=30),
        poll_interval: float = 0.2,
    ) -> None:
        self._queue = queue
        self._handlers = dict(handlers)
        self.name = name or worker_name()
        self._slots = asyncio.Semaphore(concurrency)
        self._lease = lease
        self._poll = poll_interval
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    @property
    def busy(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        """Claim and run jobs until ``stop`` is called."""
        log.info("worker_started", worker=self.name, kinds=sorted(self._handlers))
        while not self._stopping.is_set():
            await self._slots.acquire()
            if self._stopping.is_set():
                self._slots.release()
                break
            try:
                job = await asyncio.to_thread(self._queue.claim, self.name, kinds=list(self._handlers))
            except Exception as exc:  # the database is away: wait and try again
                self._slots.release()
                log.warning("claim_failed", worker=self.name, error=repr(exc))
                await self._sleep(2.0)
                continue
            if job is None:
                self._slots.release()
                await self._sleep(self._poll)
                continue
            task = asyncio.create_task(self._execute(job), name=f"job:{job.kind}:{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def stop(self, *, timeout: float = 25.0) -> None:
        """Stop claiming; wait for running jobs, then cancel them (their leases expire)."""
        self._stopping.set()
        if self._running:
            done, pending = await asyncio.wait(set(self._running), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def run_once(self) -> bool:
        """Claim one job and run it to the end (tests, benchmarks). False if none was runnable."""
        job = await asyncio.to_thread(self._queue.claim, self.name, kinds=list(self._handlers))
        if job is None:
            return False
        await self._slots.acquire()
        await self._execute(job)
        return True

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _execute(self, job: Job) -> None:
        bound = log.bind(worker=self.name, job_id=job.id, kind=job.kind, attempt=job.attempts)
        handler = self._handlers[job.kind]
        try:
            if job.attempts > job.max_attempts:  # earlier attempts died without a word (killed)
                await self._give_up(job, handler, error="the worker running it stopped each time", bound=bound)
                return
            bound.info("job_started")
            # every line the job logs carries its job and incident (the task copies this context)
            with structlog.contextvars.bound_contextvars(job_id=job.id,
                                                         incident_id=job.payload.get("incident_id")):
                work = asyncio.create_task(handler.run(job))
            keeper = asyncio.create_task(self._keep_lease(job, work))
            try:
                await work
            except asyncio.CancelledError:
                if self._stopping.is_set() or not work.cancelled():
                    raise
                bound.warning("job_lease_lost")  # another worker has it now
                return
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                bound.warning("job_failed", error=error)
                state = await asyncio.to_thread(self._queue.fail, job.id, worker=self.name, error=error)
                if state == "failed":
                    await _call(handler.give_up(job, error=error), bound)
                return
            finally:
                keeper.cancel()
            await asyncio.to_thread(self._queue.complete, job.id, worker=self.name)
            bound.info("job_done")
        finally:
            self._slots.release()

    async def _give_up(self, job: Job, handler: JobHandler, *, error: str, bound: Any) -> None:
        bound.error("job_given_up", error=error)
        await asyncio.to_thread(self._queue.fail, job.id, worker=self.name, error=error)
        await _call(handler.give_up(job, error=error), bound)

    async def _keep_lease(self, job: Job, work: asyncio.Task[None]) -> None:
        interval = max(self._lease.total_seconds() / 3, 0.2)
        while not work.done():
            await asyncio.sleep(interval)
            try:
                kept = await asyncio.to_thread(self._queue.heartbeat, job.id, worker=self.name)
            except Exception as exc:  # a blip: try again at the next beat
                log.warning("heartbeat_failed", job_id=job.id, error=repr(exc))
                continue
            if not kept:
                work.cancel()
                return


async def _call(coro: Any, bound: Any) -> None:
    try:
        await coro
    except Exception as exc:
        bound.error("give_up_failed", error=repr(exc))
