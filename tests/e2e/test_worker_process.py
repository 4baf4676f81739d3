"""`sitrep serve` runs its worker as a process of its own (investigations never hold the event loop
that acks): that process investigates and posts to Slack, is started again when it dies, and stops
with serve."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.store.db import make_engine
from bot.store.queue import JobQueue
from tests.support import REPO_ROOT, run_sitrep, wait_for

ALERTS = "C0ALERTS"
TOKEN = "e2e-webhook-token-0123456789"

pytestmark = pytest.mark.timeout(150)


def worker_pid(url: str) -> int | None:
    state = httpx.get(f"{url}/readyz", timeout=10).json()["worker"]
    match = re.fullmatch(r"running \(process (\d+)\)", state)
    return int(match.group(1)) if match else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_worker_process_investigates_is_restarted_when_it_dies_and_stops_with_serve(
    fake_cloud: FakeCloud, sitrep_env: dict[str, str], workdir: Path
) -> None:
    env = {**sitrep_env, "SITREP_ALERT_CHANNELS": ALERTS, "SITREP_WEBHOOK_TOKEN": TOKEN,
           "SITREP_POLICY_DIR": str(REPO_ROOT / "policies"), "SITREP_GROUP_WAIT_SECONDS": "0"}
    body = json.loads((REPO_ROOT / "tests/fixtures/upstream/alertmanager/webhook_firing.json").read_text())
    for alert in body["alerts"]:
        alert["startsAt"] = fake_cloud.scenario.onset.isoformat().replace("+00:00", "Z")
    with run_sitrep(env, workdir=workdir) as sitrep:
        first = wait_for(lambda: worker_pid(sitrep.url), timeout=10, what="the worker process")
        assert first != sitrep.proc.pid
        response = httpx.post(f"{sitrep.url}/alerts/alertmanager", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 202, response.text
        incident = response.json()["incidents"][0]

        def briefs() -> list[dict[str, object]]:
            return [c for c in fake_cloud.slack_calls() if c["method"] in {"chat.postMessage", "chat.update"}
                    and (c.get("metadata") or {}).get("event_type") == "sitrep_brief"]

        wait_for(briefs, timeout=60, what="a brief posted by the worker process")
        done = wait_for(lambda: [json.loads(line) for line in sitrep.logs().splitlines() if '"job_done"' in line],
                        timeout=30, what="the investigation job done")
        assert {d["worker"].rsplit(":", 1)[1] for d in done} == {str(first)}  # not serve's own pid

        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: (pid := worker_pid(sitrep.url)) not in (None, first) and pid, timeout=30,
                          what="a new worker process")
        assert '"worker_process_died"' in sitrep.logs()
        engine = make_engine(f"sqlite:///{workdir / 'sitrep.db'}")
        try:
            JobQueue(engine).enqueue("say", {"incident_id": incident, "text": "said by the new worker"})
        finally:
            engine.dispose()
        wait_for(lambda: [c for c in fake_cloud.slack_calls("chat.postMessage")
                          if c.get("text") == "said by the new worker"], timeout=60,
                 what="the restarted worker process to run a job")
    wait_for(lambda: not alive(second), timeout=10, what="the worker process to stop with serve")
    assert sitrep.proc.returncode == 0
