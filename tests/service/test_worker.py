"""The worker: bounded concurrency, retries with a give-up message, lease keeping and takeover."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.service.worker import Worker
from bot.store.queue import Job, JobQueue


class Recorder:
    def __init__(self, *, fail_times: int = 0, seconds: float = 0.0) -> None:
        self.runs: list[int] = []
        self.given_up: list[tuple[int, str]] = []
        self.running = 0
        self.most_at_once = 0
        self._fail_times = fail_times
        self._seconds = seconds

    async def run(self, job: Job) -> None:
        self.runs.append(job.id)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self._seconds)
            if len(self.runs) <= self._fail_times:
                raise ConnectionError("Slack answered 503")
        finally:
            self.running -= 1

    async def give_up(self, job: Job, *, error: str) -> None:
        self.given_up.append((job.id, error))


async def drain(worker: Worker, queue: JobQueue, *, timeout: float = 10) -> None:
    task = asyncio.create_task(worker.run())
    async def empty() -> None:
        while queue.depth():
            await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(empty(), timeout)
    finally:
        await worker.stop(timeout=2)
        await task


@pytest.mark.asyncio
async def test_jobs_run_once_each_and_never_more_at_once_than_allowed(engine: Engine) -> None:
    queue = JobQueue(engine)
    ids = {queue.enqueue("investigate", {"n": n}) for n in range(12)}
    handler = Recorder(seconds=0.05)
    await drain(Worker(queue, {"investigate": handler}, concurrency=3, poll_interval=0.02), queue)
    assert sorted(handler.runs) == sorted(ids)
    assert handler.most_at_once == 3


@pytest.mark.asyncio
async def test_a_failing_job_is_retried_then_given_up_with_the_error(engine: Engine) -> None:
    queue = JobQueue(engine, backoff=timedelta(milliseconds=20))
    job_id = queue.enqueue("investigate", {}, max_attempts=3)
    handler = Recorder(fail_times=99)
    await drain(Worker(queue, {"investigate": handler}, poll_interval=0.02), queue)
    assert handler.runs == [job_id] * 3
    assert handler.given_up == [(job_id, "ConnectionError: Slack answered 503")]
    row = queue.get(job_id)
    assert row is not None and row.state == "failed"


@pytest.mark.asyncio
async def test_a_job_that_fails_once_succeeds_on_retry(engine: Engine) -> None:
    queue = JobQueue(engine, backoff=timedelta(milliseconds=20))
    job_id = queue.enqueue("investigate", {})
    handler = Recorder(fail_times=1)
    await drain(Worker(queue, {"investigate": handler}, poll_interval=0.02), queue)
    row = queue.get(job_id)
    assert row is not None and row.state == "done" and handler.given_up == []


@pytest.mark.asyncio
async def test_a_long_job_keeps_its_lease_so_no_one_else_runs_it(engine: Engine) -> None:
    queue = JobQueue(engine, lease=timedelta(milliseconds=600))
    queue.enqueue("investigate", {})
    handler = Recorder(seconds=2.0)  # three lease lengths
    first = Worker(queue, {"investigate": handler}, name="a", lease=timedelta(milliseconds=600), poll_interval=0.05)
    second = Worker(queue, {"investigate": handler}, name="b", lease=timedelta(milliseconds=600), poll_interval=0.05)
    tasks = [asyncio.create_task(first.run()), asyncio.create_task(second.run())]
    # until the job is done (a takeover would have happened while it ran: the lease ran out thrice)
    async def done() -> None:
        while queue.depth() or not handler.runs or handler.running:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(done(), 10)
    for worker in (first, second):
        await worker.stop(timeout=2)
    await asyncio.gather(*tasks)
    assert len(handler.runs) == 1 and queue.depth() == 0


@pytest.mark.asyncio
async def test_a_job_whose_worker_died_every_time_is_given_up_and_said(engine: Engine) -> None:
    queue = JobQueue(engine, lease=timedelta(milliseconds=100))
    job_id = queue.enqueue("investigate", {}, max_attempts=2)
    for name in ("killed-1", "killed-2"):  # claimed, then the process died without a word
        assert queue.claim(name) is not None
        await asyncio.sleep(0.15)
    handler = Recorder()
    await drain(Worker(queue, {"investigate": handler}, poll_interval=0.02), queue)
    assert handler.runs == [] and [j for j, _ in handler.given_up] == [job_id]
