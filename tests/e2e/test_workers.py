"""Several `sitrep worker` processes sharing one PostgreSQL: every job runs exactly once."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.models import IncidentStatus
from bot.sandbox.server import FakeCloud
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from bot.store.queue import JobQueue
from tests.support import start_worker, stop_process, wait_for

POSTGRES_URL = os.environ.get("SITREP_TEST_POSTGRES_URL")
JOBS = 200

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: .ci/run sets SITREP_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL (set SITREP_TEST_POSTGRES_URL)")
    name = f"sitrep_w_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_two_workers_on_postgresql_run_each_of_200_jobs_exactly_once(
    fake_cloud: FakeCloud, sitrep_env: dict[str, str], workdir: Path, postgres_url: str
) -> None:
    engine = make_engine(postgres_url)
    create_schema(engine)
    store = IncidentStore(engine)
    incident = store.open_incident(service="checkout", slack_channel="C0ALERTS")
    store.update_slack(incident, root_ts="1764042091.000200")
    queue = JobQueue(engine)
    for n in range(JOBS):
        queue.enqueue("say", {"incident_id": incident, "text": f"line {n}"})
    # Slack's pace (one post a second per channel, tests/slack/test_pacing.py) would make 200 lines in
    # one thread take 200 s: this test is about each job running once, so the pace is off
    env = {**sitrep_env, "DATABASE_URL": postgres_url, "SITREP_SLACK_POST_INTERVAL": "0"}
    workers = [start_worker(env, workdir=workdir, name=f"w{i}") for i in range(2)]
    try:
        wait_for(lambda: queue.counts().get("done") == JOBS, timeout=120, what="all jobs done")
    finally:
        for worker in workers:
            stop_process(worker)
    said = Counter(c["text"] for c in fake_cloud.slack_calls("chat.postMessage"))
    assert said == Counter({f"line {n}": 1 for n in range(JOBS)})
    per_worker = [sum(1 for line in w.logs().splitlines() if '"job_done"' in line) for w in workers]
    assert sum(per_worker) == JOBS and all(per_worker), per_worker  # both took a share
    assert store.get(incident).status == IncidentStatus.OPEN.value
    engine.dispose()
