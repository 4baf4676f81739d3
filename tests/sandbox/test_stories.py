"""The demo's four scenarios served side by side: each query gets the data of the service it
selects, each story tells its own tale, and a fix heals only the service it was applied to."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.sandbox.scenario import Scenario, ScenarioFeed
from bot.sandbox.server import FakeCloud
from bot.sandbox.stories import GIB, STORIES, DependencyFailure, FalseAlarm, MemoryLeak, all_stories
from tests.support import wait_for

NOW = datetime(2025, 11, 25, 3, 44, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeCloud]:
    with FakeCloud(all_stories()) as cloud:
        yield cloud


def get(cloud: FakeCloud, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(f"{cloud.url}{path}", timeout=5, **kwargs)  # type: ignore[arg-type]


def post(cloud: FakeCloud, path: str, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{cloud.url}{path}", timeout=5, **kwargs)  # type: ignore[arg-type]


def last_value(cloud: FakeCloud, query: str) -> float:
    now = time.time()
    body = get(cloud, "/prometheus/api/v1/query_range", params={
        "query": query, "start": now - 1800, "end": now, "step": "60"}).json()
    (series,) = body["data"]["result"]
    return float(series["values"][-1][1])


def test_each_service_gets_its_own_story(cloud: FakeCloud) -> None:
    memory = 'sum(container_memory_working_set_bytes{service="%s"})'
    assert last_value(cloud, memory % "cart") > 1.5 * GIB  # the leak
    assert last_value(cloud, memory % "checkout") < 0.6 * GIB
    errors = 'sum(rate(http_requests_total{service="%s",code=~"5.."}[5m])) / sum(rate(http_requests_total{service="%s"}[5m]))'
    assert last_value(cloud, errors % ("orders", "orders")) > 0.2
    assert last_value(cloud, errors % ("search", "search")) < 0.01  # the false alarm is healthy now

    logs = get(cloud, "/loki/loki/api/v1/query_range", params={
        "query": '{service="orders"} |= "payments"', "limit": "50"}).json()
    lines = [v[1] for stream in logs["data"]["result"] for v in stream["values"]]
    assert lines and all("connection refused" in line for line in lines)
    assert {stream["stream"]["service"] for stream in logs["data"]["result"]} == {"orders"}

    traces = get(cloud, "/jaeger/api/traces", params={"service": "orders", "tags": '{"error":"true"}'}).json()
    services = {p["serviceName"] for t in traces["data"] for p in t["processes"].values()}
    assert traces["data"] and services == {"orders", "payments"}

    headers = {"Authorization": f"Bearer {cloud.credentials.argocd_token}"}
    apps = get(cloud, "/argocd/api/v1/applications", headers=headers).json()["items"]
    assert {a["metadata"]["name"] for a in apps} == {"checkout", "cart", "orders", "search"}
    health = {a["metadata"]["name"]: a["status"]["health"]["status"] for a in apps}
    assert health == {"checkout": "Degraded", "cart": "Healthy", "orders": "Healthy", "search": "Healthy"}
    cart = next(a for a in apps if a["metadata"]["name"] == "cart")
    assert len(cart["status"]["history"]) == 2  # no recent deploy to blame


def test_a_restart_heals_only_the_restarted_service() -> None:
    with FakeCloud(all_stories(), live=True) as cloud:
        cloud.sandbox.argocd.heals = True
        headers = {"Authorization": f"Bearer {cloud.credentials.argocd_token}"}
        memory = 'sum(container_memory_working_set_bytes{service="cart"})'
        assert last_value(cloud, memory) > 1.5 * GIB
        answer = post(cloud, "/argocd/api/v1/applications/cart/resource/actions", headers=headers,
                                 params={"namespace": "shop", "resourceName": "cart", "kind": "Deployment",
                                         "group": "apps", "version": "v1"}, content=json.dumps("restart"))
        assert answer.status_code == 200

        def recovered() -> float | None:  # the fix shows in the metrics a moment after it landed
            now = time.time()
            body = get(cloud, "/prometheus/api/v1/query", params={"query": memory, "time": now}).json()
            return now if float(body["data"]["result"][0]["value"][1]) < 0.6 * GIB else None

        now = wait_for(recovered, timeout=10, what="cart's memory back to its baseline")
        p99 = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))'
        body = get(cloud, "/prometheus/api/v1/query", params={"query": p99, "time": now}).json()
        assert float(body["data"]["result"][0]["value"][1]) > 5  # checkout still failing


def test_stories_are_distinct_and_deterministic() -> None:
    stories = all_stories(NOW)
    assert [s.name for s in stories] == list(STORIES)
    assert len({s.service for s in stories}) == 4
    again = all_stories(NOW)
    assert [s.log_entries for s in stories] == [s.log_entries for s in again]
    leak = MemoryLeak(now=NOW)
    assert leak.metric_value("memory", leak.now_s - 1800) < 0.6 * GIB < 1.8 * GIB < leak.metric_value("memory", leak.now_s)
    assert any("OOMKilled" in e.line for e in leak.log_entries)
    alarm = FalseAlarm(now=NOW)
    assert alarm.metric_value("p99_latency", alarm.onset_s + 10) > 2
    assert alarm.metric_value("p99_latency", alarm.now_s) < 0.5
    assert not any('"level":"error"' in e.line for e in alarm.log_entries)
    assert DependencyFailure(now=NOW).root_cause_service == "payments"


def test_a_feed_refuses_two_scenarios_on_one_service() -> None:
    with pytest.raises(ValueError, match="distinct services"):
        ScenarioFeed([Scenario(now=NOW), Scenario(now=NOW)])
