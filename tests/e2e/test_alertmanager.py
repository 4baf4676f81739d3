"""A real Alertmanager (Debian's ``prometheus-alertmanager``) in front of Sitrep: one alert posted
to its API reaches Sitrep twice — through a ``slack_configs`` receiver (Slack, i.e. the fake Slack,
delivers the message to Sitrep as an event) and through a ``webhook_configs`` receiver — and makes
one incident and one brief, in the thread of Alertmanager's Slack message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.test_alerts import ALERTS, TOKEN, briefs, db_rows
from tests.support import REPO_ROOT, free_port, run_sitrep, settle, wait_for

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")

pytestmark = [
    pytest.mark.timeout(180),
    # CI installs it (.ci/run), so there this test never skips
    pytest.mark.skipif(BINARY is None and not os.environ.get("CI"),
                       reason="Alertmanager is not installed (apt-get install prometheus-alertmanager)"),
]


def alertmanager_config(*, slack_url: str, webhook_url: str) -> str:
    return f"""
route:
  receiver: sitrep
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: sitrep
    slack_configs:
      - api_url: {slack_url}
        channel: '#alerts'
        send_resolved: true
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The config path (written by the test) and the URL; started by ``start_alertmanager``."""
    yield tmp_path / "alertmanager.yml", f"http://127.0.0.1:{free_port()}"


def start_alertmanager(config: Path, url: str, workdir: Path) -> subprocess.Popen[bytes]:
    assert BINARY is not None
    port = url.rsplit(":", 1)[1]
    with (workdir / "alertmanager.log").open("wb") as log:
        proc = subprocess.Popen(
            [BINARY, f"--config.file={config}", f"--storage.path={workdir / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug"],
            stdout=log, stderr=subprocess.STDOUT,
        )
    def ready() -> bool:
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    wait_for(ready, timeout=30, what="Alertmanager to be ready")
    return proc


def fire(url: str, labels: dict[str, str], *, starts_at: datetime) -> None:
    alert: dict[str, Any] = {"labels": labels, "startsAt": starts_at.isoformat(),
                             "annotations": {"summary": "checkout p99 latency above 2s"},
                             "generatorURL": "http://prometheus.example.com:9090/graph"}
    response = httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5)
    assert response.status_code == 200, response.text


def test_one_alert_through_slack_and_webhook_makes_one_incident_and_one_brief(
    fake_cloud: FakeCloud, sitrep_env: dict[str, str], workdir: Path,
    alertmanager: tuple[Path, str],
) -> None:
    config, am_url = alertmanager
    env = {**sitrep_env, "SITREP_ALERT_CHANNELS": ALERTS, "SITREP_WEBHOOK_TOKEN": TOKEN,
           "SITREP_POLICY_DIR": str(REPO_ROOT / "policies"), "SITREP_GROUP_WAIT_SECONDS": "2"}
    with run_sitrep(env, workdir=workdir) as sitrep:
        fake_cloud.subscribe_slack_events(f"{sitrep.url}/slack/events", SIGNING_SECRET)
        config.write_text(alertmanager_config(slack_url=fake_cloud.incoming_webhook_url(ALERTS),
                                              webhook_url=f"{sitrep.url}/alerts/alertmanager"))
        proc = start_alertmanager(config, am_url, workdir)
        try:
            fire(am_url, {"alertname": "HighLatencyP99", "service": "checkout", "namespace": "shop",
                          "severity": "critical", "cluster": "prod-eu1"}, starts_at=fake_cloud.scenario.onset)
            message = wait_for(lambda: fake_cloud.slack_calls("incoming_webhook"), timeout=30,
                               what="Alertmanager's Slack message")[0]
            assert message["params"]["attachments"][0]["title"].startswith("[FIRING:1] HighLatencyP99")
            wait_for(lambda: db_rows(workdir, "select count(*) from alerts") == [(2,)], timeout=30,
                     what="the alert by both ways")
            [brief] = wait_for(lambda: briefs(fake_cloud), timeout=40, what="a brief")
            # nothing else follows: both alerts are in, and nothing is queued or running
            assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert len(briefs(fake_cloud)) == 1
    assert brief["thread"] == message["ts"]  # in the thread of Alertmanager's own message
    assert db_rows(workdir, "select count(*) from incidents") == [(1,)]
    origins = sorted(row[0] for row in db_rows(workdir, "select origin from alerts"))
    assert origins == ["alertmanager", "slack"]
    assert all(d["status"] == 200 for d in fake_cloud.slack_deliveries())
    assert "v2.14.2" in json.dumps(brief["blocks"])
