"""Alerts end to end: alert-channel messages and webhooks into a real `sitrep serve`, briefs in the
alert's thread, dedup across retries and channels, bad bodies kept and answered, a killed worker."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.support import REPO_ROOT, SitrepProcess, settle, start_worker, stop_process, wait_for

Serve = Callable[..., SitrepProcess]

ALERTS = "C0ALERTS"
TOKEN = "e2e-webhook-token-0123456789"
API_TOKEN = "e2e-api-token-0123456789"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "upstream"

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
def alert_env(sitrep_env: dict[str, str]) -> dict[str, str]:
    return {**sitrep_env, "SITREP_ALERT_CHANNELS": ALERTS, "SITREP_WEBHOOK_TOKEN": TOKEN,
            "SITREP_POLICY_DIR": str(REPO_ROOT / "policies"), "SITREP_GROUP_WAIT_SECONDS": "2",
            "SITREP_API_TOKEN": API_TOKEN}


@pytest.fixture
def queue_env(alert_env: dict[str, str]) -> dict[str, str]:
    """For a `sitrep serve --no-worker` whose queue the test drains (or not) itself: short leases,
    and webhooks refused from the first queued job on."""
    return {**alert_env, "SITREP_JOB_LEASE_SECONDS": "3", "SITREP_QUEUE_HIGH_WATER": "1"}


def alertmanager_body(cloud: FakeCloud, *, status: str = "firing") -> dict[str, Any]:
    name = "webhook_firing.json" if status == "firing" else "webhook_resolved.json"
    body = json.loads((FIXTURES / "alertmanager" / name).read_text())
    for alert in body["alerts"]:  # the scenario happens now
        alert["startsAt"] = cloud.scenario.onset.isoformat().replace("+00:00", "Z")
    return body


def alert_message_event(signer: SlackSigner, *, ts: str = "1764042091.000200") -> dict[str, Any]:
    event = json.loads((FIXTURES / "alertmanager" / "slack_message_event.json").read_text())["event"]
    return {**event, "channel": ALERTS, "ts": ts, "event_ts": ts}


def post_webhook(sitrep: SitrepProcess, body: bytes | dict[str, Any], *, token: str | None = TOKEN,
                 route: str = "alertmanager") -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{sitrep.url}/alerts/{route}", content=content, headers=headers, timeout=30)


def briefs(cloud: FakeCloud) -> list[dict[str, Any]]:
    """Calls that put a brief in Slack, latest state per message."""
    latest: dict[str, dict[str, Any]] = {}
    posts = {c.get("ts"): c for c in cloud.slack_calls("chat.postMessage")}
    for call in cloud.slack_calls():
        if call["method"] in {"chat.update", "chat.postMessage"} and \
                (call.get("metadata") or {}).get("event_type") == "sitrep_brief":
            thread = call.get("thread_ts") or (posts.get(call["ts"]) or {}).get("thread_ts")
            latest[call["ts"]] = {**call, "thread": thread}
    return list(latest.values())


def thread_messages(cloud: FakeCloud, thread_ts: str) -> list[dict[str, Any]]:
    return [c for c in cloud.slack_calls("chat.postMessage") if c.get("thread_ts") == thread_ts]


def db_rows(workdir: Path, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(workdir / "sitrep.db")) as db:
        return db.execute(query).fetchall()


def test_an_alert_message_gets_one_brief_in_its_thread_however_often_slack_delivers_it(
    fake_cloud: FakeCloud, signer: SlackSigner, alert_env: dict[str, str], serve: Serve
) -> None:
    # the investigation starts 2 s after the alert (the group wait), the 👀 must not wait
    sitrep = serve(alert_env)
    event = alert_message_event(signer)
    body = signer.event_body(event, event_id="Ev0AM000001")
    delivered = time.time()
    for retry in range(3):  # the first delivery and Slack's retries
        headers = signer.headers(body)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        response = httpx.post(f"{sitrep.url}/slack/events", content=body, headers=headers, timeout=10)
        assert response.status_code == 200
    [brief] = wait_for(lambda: briefs(fake_cloud), timeout=30, what="a brief")
    assert brief["channel"] == ALERTS and brief["thread"] == event["ts"]  # in the alert's own thread
    reacted = [c for c in fake_cloud.slack_calls("reactions.add") if c["ok"]]
    reactions = [(c["params"]["name"], c["params"]["timestamp"]) for c in reacted]
    assert reactions == [("eyes", event["ts"]), ("white_check_mark", event["ts"])]  # on the alert itself
    # 👀 comes with the acknowledgement, before the investigation waits for related alerts
    assert reacted[0]["at"] - delivered < 1.0, "the alert was not marked as seen within a second"
    text = json.dumps(brief["blocks"])
    assert "checkout" in text and "v2.14.2" in text
    assert db_rows(sitrep.workdir, "select count(*) from incidents") == [(1,)]
    wait_for(lambda: db_rows(sitrep.workdir, "select state from jobs where kind = 'investigate'") == [("done",)],
             timeout=10, what="the investigation job done (the chart follows the brief)")
    metrics = httpx.get(f"{sitrep.url}/metrics", timeout=10).text
    assert 'sitrep_alerts_total{outcome="opened"} 1.0' in metrics
    assert 'sitrep_jobs{kind="investigate",state="done"} 1.0' in metrics
    assert 'sitrep_collector_calls_total{source="loki",status="ok"} 1.0' in metrics
    assert re.search(r'sitrep_llm_cost_usd_total\{model="[^"]+"\} [0-9.e-]+', metrics)
    assert re.search(r'sitrep_llm_tokens_total\{direction="input",model="[^"]+"\} [1-9]', metrics)
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))  # all said and done
    assert len(briefs(fake_cloud)) == 1


def test_an_unreadable_message_in_an_alert_channel_gets_a_reply_and_is_kept(
    fake_cloud: FakeCloud, signer: SlackSigner, alert_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(alert_env)
    event = signer.message_event(channel=ALERTS, text="lunch is here 🍕", user="U0DEV")
    response = signer.post(f"{sitrep.url}/slack/events", signer.event_body(event))
    assert response.status_code == 200
    reply = wait_for(lambda: thread_messages(fake_cloud, event["ts"]), timeout=10, what="a reply")
    assert "could not read this alert" in reply[0]["text"]
    assert db_rows(sitrep.workdir, "select route from dead_letters") == [("slack",)]
    assert db_rows(sitrep.workdir, "select count(*) from incidents") == [(0,)]


def test_sitreps_own_messages_in_an_alert_channel_are_not_alerts(
    fake_cloud: FakeCloud, signer: SlackSigner, alert_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(alert_env)
    own = signer.message_event(channel=ALERTS, text="🔎 Investigating checkout", bot_id="B0SITREP")
    own["app_id"] = "A0SITREP"
    assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(own)).status_code == 200
    person = signer.message_event(channel=ALERTS, text="ok", user="U0DEV")
    assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(person)).status_code == 200
    wait_for(lambda: thread_messages(fake_cloud, person["ts"]), timeout=10, what="the reply to the person")
    assert not thread_messages(fake_cloud, own["ts"])  # no "could not read" to itself
    assert db_rows(sitrep.workdir, "select count(*) from dead_letters") == [(1,)]


def test_a_webhook_alert_posts_a_root_message_in_the_services_channel_and_threads_its_brief(
    fake_cloud: FakeCloud, alert_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(alert_env)
    response = post_webhook(sitrep, alertmanager_body(fake_cloud))
    assert response.status_code == 202, response.text
    assert response.json()["outcomes"] == ["opened"]
    [brief] = wait_for(lambda: briefs(fake_cloud), timeout=30, what="a brief")
    roots = [c for c in fake_cloud.slack_calls("chat.postMessage")
             if c["channel"] == ALERTS and not c.get("thread_ts")]
    assert len(roots) == 1 and brief["thread"] == roots[0]["ts"]
    assert fake_cloud.slack_calls("reactions.add") == []  # no reactions on Sitrep's own message

    incident = httpx.get(f"{sitrep.url}/api/v1/incidents/{response.json()['incidents'][0]}",
                         headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10).json()
    assert [(a["name"], a["origin"], a["state"]) for a in incident["alerts"]] == [
        ("HighLatencyP99", "alertmanager", "firing")]
    assert incident["slack"] == {"channel": ALERTS, "ts": roots[0]["ts"]}

    resolved = post_webhook(sitrep, alertmanager_body(fake_cloud, status="resolved"))
    assert resolved.json()["outcomes"] == ["resolved"]
    closing = wait_for(lambda: [m for m in thread_messages(fake_cloud, roots[0]["ts"])
                                if "incident closed" in (m.get("text") or "")],
                       timeout=15, what="the all-resolved line")
    assert closing
    assert db_rows(sitrep.workdir, "select status from incidents") == [("resolved",)]


def test_the_same_alert_by_webhook_and_in_slack_is_one_incident_and_one_brief(
    fake_cloud: FakeCloud, signer: SlackSigner, alert_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(alert_env)  # the Slack twin comes within the group wait (2 s)
    assert post_webhook(sitrep, alertmanager_body(fake_cloud)).status_code == 202
    event = alert_message_event(signer)
    assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(event)).status_code == 200
    [brief] = wait_for(lambda: briefs(fake_cloud), timeout=30, what="a brief")
    assert brief["thread"] == event["ts"]  # under Alertmanager's own message, no extra root
    assert not [c for c in fake_cloud.slack_calls("chat.postMessage") if not c.get("thread_ts")]
    assert db_rows(sitrep.workdir, "select outcome from alerts order by id") == [("opened",), ("duplicate",)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>not json</html>", "not JSON"),
        (json.dumps({"version": "4", "alerts": "many"}).encode(), "alerts"),
        (json.dumps({"version": "4", "status": "firing", "alerts": [{"status": "firing", "annotations": {},
                     "startsAt": "2026-11-25T03:41:00Z"}]}).encode(), "labels"),
        (json.dumps({"version": "4", "status": "firing", "alerts": [{"status": "firing",
                     "labels": {"alertname": "Nameless"}, "annotations": {},
                     "startsAt": "2026-11-25T03:41:00Z"}]}).encode(), "service"),
    ],
    ids=["not-json", "wrong-types", "missing-labels", "no-service"],
)
def test_malformed_webhook_bodies_get_400_with_the_reason_and_are_kept(
    fake_cloud: FakeCloud, alert_env: dict[str, str], serve: Serve, body: bytes, reason: str
) -> None:
    sitrep = serve(alert_env)
    response = post_webhook(sitrep, body)
    assert response.status_code == 400 and reason in response.json()["error"]
    assert db_rows(sitrep.workdir, "select count(*) from dead_letters") == [(1,)]


def test_webhooks_refuse_missing_tokens_and_huge_bodies_without_a_5xx(
    fake_cloud: FakeCloud, alert_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(alert_env)
    body = alertmanager_body(fake_cloud)
    assert post_webhook(sitrep, body, token=None).status_code == 401
    assert post_webhook(sitrep, body, token="wrong").status_code == 401
    huge = post_webhook(sitrep, b'{"version": "4", "alerts": ["' + b"x" * 10_000_000 + b'"]}')
    assert huge.status_code == 413 and "limit" in huge.json()["error"]
    assert post_webhook(sitrep, body, token=None, route="grafana").status_code == 401
    assert db_rows(sitrep.workdir, "select reason from dead_letters") == [
        ("body of 10000032 bytes is over the 1000000-byte limit",)]
    assert db_rows(sitrep.workdir, "select count(*) from incidents") == [(0,)]


def test_a_worker_killed_mid_investigation_is_taken_over_and_the_thread_gets_one_brief(
    fake_cloud: FakeCloud, signer: SlackSigner, queue_env: dict[str, str], serve: Serve
) -> None:
    env = queue_env  # leases of 3 s
    fake_cloud.anthropic_mode("hang")  # the first worker is stuck in the model call when it dies
    sitrep = serve(env, args=("--no-worker",))
    workdir = sitrep.workdir  # the workers share its database
    event = alert_message_event(signer)
    assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(event)).status_code == 200
    first = start_worker(env, workdir=workdir, name="first")
    try:
        wait_for(lambda: fake_cloud.anthropic_calls(), timeout=30, what="the first worker to reach the model")
    finally:
        first.proc.kill()  # kill -9
        first.proc.wait()
    fake_cloud.anthropic_mode("scenario")
    second = start_worker(env, workdir=workdir, name="second")
    try:
        brief = wait_for(lambda: [b for b in briefs(fake_cloud) if b["thread"] == event["ts"]],
                         timeout=60, what="the brief after the takeover")
        assert len(brief) == 1
        wait_for(lambda: db_rows(workdir, "select state, attempts from jobs where kind='investigate'")
                 == [("done", 2)], timeout=10, what="the job done on its second attempt")
    finally:
        stop_process(second)
    placeholders = [c for c in thread_messages(fake_cloud, event["ts"]) if c["method"] == "chat.postMessage"]
    assert len(placeholders) == 1  # the first attempt's message was updated, not doubled
    assert db_rows(workdir, "select count(*) from alerts") == [(1,)]


def test_above_the_high_water_mark_webhooks_get_429_but_slack_events_are_still_taken(
    fake_cloud: FakeCloud, signer: SlackSigner, queue_env: dict[str, str], serve: Serve
) -> None:
    env = queue_env  # a high-water mark of 1
    sitrep = serve(env, args=("--no-worker",))  # nothing drains the queue
    workdir = sitrep.workdir
    assert post_webhook(sitrep, alertmanager_body(fake_cloud)).status_code == 202
    other = alertmanager_body(fake_cloud)
    other["alerts"][0]["labels"] |= {"service": "payments", "alertname": "HighErrorRate"}
    refused = post_webhook(sitrep, other)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    event = signer.message_event(channel=ALERTS, text="service=search is down", user="U0DEV")
    assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(event)).status_code == 200
    services = sorted(row[0] for row in db_rows(workdir, "select service from alerts"))
    assert services == ["checkout", "search"]  # the refused one is the sender's to retry
