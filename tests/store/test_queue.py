"""The durable queue as workers meet it: one claimant per job, leases that expire, bounded retries."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.store.db import create_schema, make_engine
from bot.store.queue import JobQueue


def test_each_job_is_claimed_by_exactly_one_of_many_workers(engine: Engine) -> None:
    queue = JobQueue(engine)
    ids = {queue.enqueue("investigate", {"n": i}) for i in range(60)}

    def work(worker: str) -> list[int]:
        done = []
        while (job := queue.claim(worker)) is not None:
            assert queue.complete(job.id, worker=worker)
            done.append(job.id)
        return done

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, [f"w{i}" for i in range(4)]))
    claimed = [job_id for done in results for job_id in done]
    assert sorted(claimed) == sorted(ids)  # every job once, none twice
    assert queue.depth() == 0


def test_a_dead_workers_job_is_taken_over_when_its_lease_expires(engine: Engine) -> None:
    queue = JobQueue(engine, lease=timedelta(milliseconds=300))
    job_id = queue.enqueue("investigate", {"service": "checkout"})
    first = queue.claim("dead-worker")
    assert first is not None and first.id == job_id
    assert queue.claim("other") is None  # leased
    time.sleep(0.4)
    second = queue.claim("other")
    assert second is not None and second.id == job_id and second.attempts == 2
    assert not queue.complete(job_id, worker="dead-worker")  # the old owner lost it
    assert queue.complete(job_id, worker="other")


def test_heartbeat_keeps_the_lease(engine: Engine) -> None:
    queue = JobQueue(engine, lease=timedelta(milliseconds=400))
    queue.enqueue("investigate", {})
    job = queue.claim("w1")
    assert job is not None
    for _ in range(3):
        time.sleep(0.2)
        assert queue.heartbeat(job.id, worker="w1")
    assert queue.claim("w2") is None


def test_failures_back_off_then_give_up(engine: Engine) -> None:
    queue = JobQueue(engine, backoff=timedelta(milliseconds=100))
    job_id = queue.enqueue("investigate", {}, max_attempts=2)
    job = queue.claim("w")
    assert job is not None and not job.last_attempt
    assert queue.fail(job_id, worker="w", error="Loki exploded") == "queued"
    assert queue.claim("w") is None  # backing off
    time.sleep(0.15)
    job = queue.claim("w")
    assert job is not None and job.last_attempt
    assert queue.fail(job_id, worker="w", error="again") == "failed"
    row = queue.get(job_id)
    assert row is not None and row.state == "failed" and row.last_error == "again"
    assert queue.claim("w") is None


def test_the_same_work_is_enqueued_once(engine: Engine) -> None:
    queue = JobQueue(engine)
    assert queue.enqueue("investigate", {}, dedup_key="alert:abc") is not None
    assert queue.enqueue("investigate", {}, dedup_key="alert:abc") is None
    assert queue.depth() == 1


def test_polling_and_counting_do_not_wait_for_another_processs_write_on_sqlite(tmp_path: Path) -> None:
    """An idle worker polls the queue and each webhook counts the backlog: on SQLite neither takes
    nor waits for the write lock that another process (here a raw connection) holds."""
    engine = make_engine(f"sqlite:///{tmp_path / 'sitrep.db'}")
    create_schema(engine)
    queue = JobQueue(engine)
    queue.enqueue("say", {})
    writer = sqlite3.connect(tmp_path / "sitrep.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert queue.depth() == 1 and queue.counts() == {"queued": 1}
        assert queue.claim("idle-worker", kinds=["investigate"]) is None  # nothing of its kind
        assert time.monotonic() - started < 1.0  # the busy timeout is 15 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        engine.dispose()
