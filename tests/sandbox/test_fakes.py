"""The fakes over real HTTP: upstream shapes, faults, the Slack Web API as slack_sdk calls it, the
Anthropic Messages API as the anthropic SDK calls it, and the FakeCloud runner itself."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import SectionBlock
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Action, BriefDraft
from bot.sandbox.scenario import Scenario
from bot.sandbox.server import FakeCloud
from bot.settings import DEFAULT_PROMQL

if TYPE_CHECKING:  # the SDK takes ~2 s to import: only the test process that runs these tests pays it
    import anthropic

SERVICE = "checkout"


def ns(seconds: float) -> str:
    return str(int(seconds * 1e9))


def us(seconds: float) -> int:
    return int(seconds * 1e6)


def promql(name: str, *, service: str = SERVICE, label: str = "service") -> str:
    return DEFAULT_PROMQL[name].replace("{label}", label).replace("{service}", service)


def argocd_headers(cloud: FakeCloud) -> dict[str, str]:
    return {"Authorization": f"Bearer {cloud.credentials.argocd_token}"}


# =========================================================================== Loki


def loki_query(cloud: FakeCloud, query: str, **params: Any) -> httpx.Response:
    s = cloud.scenario
    defaults = {"start": ns(s.now_s - 1800), "end": ns(s.now_s + 1), "limit": "500",
                "direction": "backward"}
    return httpx.get(f"{cloud.env()['LOKI_URL']}/loki/api/v1/query_range",
                     params={"query": query, **defaults, **params},
                     headers={"X-Scope-OrgID": "tenant-a"})


def entries(body: dict[str, Any]) -> list[tuple[int, str, dict[str, str]]]:
    return [(int(ts), line, stream["stream"])
            for stream in body["data"]["result"] for ts, line in stream["values"]]


def test_loki_streams_have_loki_shape_and_tell_the_story(cloud: FakeCloud) -> None:
    s = cloud.scenario
    response = loki_query(cloud, '{service="checkout"}')
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "streams"
    assert "summary" in body["data"]["stats"]
    for stream in body["data"]["result"]:
        assert set(stream["stream"]) >= {"service", "namespace", "pod", "level"}
        for ts, line in stream["values"]:
            assert isinstance(ts, str) and ts.isdigit() and isinstance(line, str)
        stamps = [int(ts) for ts, _ in stream["values"]]
        assert stamps == sorted(stamps, reverse=True)  # backward: newest first
    lines = entries(body)
    assert 150 <= len(lines) <= 500
    errors = [(ts, json.loads(line)) for ts, line, labels in lines if labels["level"] == "error"]
    assert len(errors) > 100
    assert all(ts >= s.onset_s * 1e9 for ts, _ in errors)
    pool = [f for _, f in errors if f["msg"] == "timeout acquiring connection from pool"]
    assert pool and all(f["pool"] == "orders-db" and f["max"] == 10 and f["trace_id"] for f in pool)
    assert any(f["msg"] == "POST /api/checkout 503" for _, f in errors)
    starting = [(ts, line) for ts, line, _ in lines if "starting checkout version v2.14.3 pool_max 10" in line]
    assert starting and all(abs(ts / 1e9 - s.deployed_at.timestamp()) < 5 for ts, _ in starting)
    infos_before = [ts for ts, _, labels in lines if labels["level"] == "info" and ts < s.onset_s * 1e9]
    assert len(infos_before) > 50


def test_loki_honours_limit_direction_window_and_line_filters(cloud: FakeCloud) -> None:
    s = cloud.scenario
    newest = entries(loki_query(cloud, '{service="checkout"}', limit="10").json())
    oldest = entries(loki_query(cloud, '{service="checkout"}', limit="10", direction="forward").json())
    assert len(newest) == len(oldest) == 10
    assert min(ts for ts, _, _ in newest) > max(ts for ts, _, _ in oldest)

    window = entries(loki_query(cloud, '{service="checkout"}', start=ns(s.now_s - 120),
                                end=ns(s.now_s - 60)).json())
    assert window and all(s.now_s - 120 <= ts / 1e9 < s.now_s - 60 for ts, _, _ in window)

    contains = entries(loki_query(cloud, '{service="checkout"} |= "orders-db"').json())
    assert contains and all("orders-db" in line for _, line, _ in contains)
    regex = entries(loki_query(cloud, '{service="checkout"} |~ "(?i)(error|exception|timeout)"').json())
    assert regex and all("error" in line.lower() or "timeout" in line for _, line, _ in regex)
    parsed = entries(loki_query(cloud, '{service="checkout"} | json | level="error"').json())
    assert parsed and all(labels["level"] == "error" and labels["msg"] for _, _, labels in parsed)

    rfc3339 = loki_query(cloud, '{service="checkout"}', start=s.onset.isoformat(), end=s.now.isoformat())
    assert rfc3339.status_code == 200 and entries(rfc3339.json())
    assert loki_query(cloud, '{service="cart"}').json()["data"]["result"] == []


def test_loki_metric_query_is_a_matrix(cloud: FakeCloud) -> None:
    s = cloud.scenario
    response = loki_query(cloud, 'sum by (level) (count_over_time({service="checkout"}[1m]))',
                          start=ns(s.now_s - 600), end=ns(s.now_s), step="60")
    body = response.json()
    assert body["data"]["resultType"] == "matrix"
    by_level = {item["metric"]["level"]: item["values"] for item in body["data"]["result"]}
    assert set(by_level) == {"error", "info"}
    assert all(isinstance(t, int | float) and isinstance(v, str) for t, v in by_level["error"])
    assert max(float(v) for _, v in by_level["error"]) >= 30


@pytest.mark.parametrize("query", ['{service="checkout"', 'service="checkout"', "", '{service=""}',
                                   '{service="checkout"} |~ "("'])
def test_loki_rejects_bad_logql_with_plain_text_400(cloud: FakeCloud, query: str) -> None:
    response = loki_query(cloud, query)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip()


def test_loki_labels(cloud: FakeCloud) -> None:
    url = cloud.env()["LOKI_URL"]
    labels = httpx.get(f"{url}/loki/api/v1/labels").json()
    assert labels == {"status": "success", "data": ["container", "level", "namespace", "pod", "service"]}
    values = httpx.get(f"{url}/loki/api/v1/label/level/values").json()
    assert values["data"] == ["error", "info"]


# =========================================================================== Prometheus


def prom_range(cloud: FakeCloud, query: str, *, minutes: int = 30, step: str = "30",
               post: bool = False) -> httpx.Response:
    end = time.time()
    params = {"query": query, "start": f"{end - minutes * 60:.3f}", "end": f"{end:.3f}", "step": step}
    url = f"{cloud.env()['PROMETHEUS_URL']}/api/v1/query_range"
    return httpx.post(url, data=params) if post else httpx.get(url, params=params)


def series_values(response: httpx.Response) -> list[tuple[float, float]]:
    body = response.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "matrix"
    [series] = body["data"]["result"]
    assert series["metric"]["service"] == SERVICE
    return [(float(t), float(v)) for t, v in series["values"]]


#: saturation signals checkout does not have: not OOMKilled, HPA below max, no node filesystem of its own
ABSENT_FOR_CHECKOUT = ("oom_killed", "hpa_at_max", "filesystem_available")


@pytest.mark.parametrize("name", [n for n in DEFAULT_PROMQL if n not in ABSENT_FOR_CHECKOUT])
def test_prometheus_answers_every_default_query_with_one_matrix_series(cloud: FakeCloud, name: str) -> None:
    values = series_values(prom_range(cloud, promql(name)))
    assert 55 <= len(values) <= 62  # 30 min at 30 s
    assert all(isinstance(v, float) for _, v in values)


@pytest.mark.parametrize("name", ABSENT_FOR_CHECKOUT)
def test_prometheus_answers_an_absent_signal_with_no_series(cloud: FakeCloud, name: str) -> None:
    body = prom_range(cloud, promql(name)).json()
    assert body == {"status": "success", "data": {"resultType": "matrix", "result": []}}


def test_prometheus_series_show_the_incident(cloud: FakeCloud) -> None:
    onset = cloud.scenario.onset_s

    def split(name: str) -> tuple[list[float], list[float]]:
        values = series_values(prom_range(cloud, promql(name), step="15s"))
        return [v for t, v in values if t < onset], [v for t, v in values if t >= onset]

    before, after = split("p99_latency")
    assert before and after
    assert all(0.15 < v < 0.25 for v in before) and all(7.5 < v < 9 for v in after)
    before, after = split("error_ratio")
    assert all(v < 0.002 for v in before) and all(0.1 < v < 0.14 for v in after)
    before, after = split("cpu")
    assert abs(sum(after) / len(after) - sum(before) / len(before)) < 0.05
    before, after = split("restarts")
    assert set(before + after) == {0.0}


def test_prometheus_post_form_step_and_other_label_names(cloud: FakeCloud) -> None:
    assert len(series_values(prom_range(cloud, promql("cpu"), step="1m", post=True))) in (30, 31)
    assert series_values(prom_range(cloud, promql("p99_latency", label="app")))
    unknown = prom_range(cloud, promql("p99_latency", service="cart")).json()
    assert unknown == {"status": "success", "data": {"resultType": "matrix", "result": []}}
    other_metric = prom_range(cloud, 'sum(rate(grpc_server_handled_total{service="checkout"}[5m]))')
    assert other_metric.json()["data"]["result"] == []


@pytest.mark.parametrize(("query", "step"), [('sum(rate(http_requests_total{service="checkout"[5m]))', "30"),
                                             ("", "30"), (promql("cpu"), "0"), (promql("cpu"), "0.01")])
def test_prometheus_bad_requests_are_bad_data(cloud: FakeCloud, query: str, step: str) -> None:
    response = prom_range(cloud, query, step=step)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data" and body["error"]


def test_prometheus_instant_query_is_a_vector(cloud: FakeCloud) -> None:
    response = httpx.get(f"{cloud.env()['PROMETHEUS_URL']}/api/v1/query",
                         params={"query": promql("p99_latency")})
    [item] = response.json()["data"]["result"]
    assert response.json()["data"]["resultType"] == "vector"
    assert float(item["value"][1]) > 7


# =========================================================================== ArgoCD


def test_argocd_application_has_the_history_oldest_first(cloud: FakeCloud) -> None:
    s = cloud.scenario
    response = httpx.get(f"{cloud.env()['ARGOCD_URL']}/api/v1/applications/checkout",
                         headers=argocd_headers(cloud))
    assert response.status_code == 200
    app = response.json()
    history = app["status"]["history"]
    assert [h["id"] for h in history] == [11, 12, 13]
    assert [h["source"]["targetRevision"] for h in history] == ["v2.14.1", "v2.14.2", "v2.14.3"]
    current = history[-1]
    assert current["revision"].startswith("c4d5e6f7")
    assert current["initiatedBy"] == {"username": "alice"}
    deployed = time.mktime(time.strptime(current["deployedAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(deployed - (s.now_s - 360)) < 2
    previous = history[-2]["deployedAt"]
    assert previous < current["deployedAt"]
    assert app["status"]["health"]["status"] == "Degraded"
    assert app["status"]["sync"]["revision"] == current["revision"]
    assert "automated" in app["spec"]["syncPolicy"]
    assert (s.culprit_history_id, s.previous_history_id) == (13, 12)


def test_argocd_auth_and_not_found_errors_are_grpc_gateway_shaped(cloud: FakeCloud) -> None:
    url = f"{cloud.env()['ARGOCD_URL']}/api/v1/applications"
    missing = httpx.get(f"{url}/checkout")
    assert missing.status_code == 401
    assert missing.json() == {"error": "no session information", "code": 16,
                              "message": "no session information"}
    wrong = httpx.get(f"{url}/checkout", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == 16
    unknown = httpx.get(f"{url}/payments", headers=argocd_headers(cloud))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "application 'payments' not found", "code": 5,
                              "message": "application 'payments' not found"}
    listed = httpx.get(url, params={"selector": "team=payments"}, headers=argocd_headers(cloud))
    assert [a["metadata"]["name"] for a in listed.json()["items"]] == ["checkout"]


def test_argocd_rollback_and_sync_are_recorded(cloud: FakeCloud) -> None:
    url = f"{cloud.env()['ARGOCD_URL']}/api/v1/applications/checkout"
    rollback = httpx.post(f"{url}/rollback", headers=argocd_headers(cloud),
                          json={"name": "checkout", "id": 12, "dryRun": False, "prune": False})
    assert rollback.status_code == 200 and rollback.json()["metadata"]["name"] == "checkout"
    sync = httpx.post(f"{url}/sync", headers=argocd_headers(cloud),
                      json={"name": "checkout", "revision": "8b1e0f4c", "prune": False})
    assert sync.status_code == 200
    bad = httpx.post(f"{url}/rollback", headers=argocd_headers(cloud), json={"id": 99})
    assert bad.status_code == 400 and bad.json()["code"] == 3
    unauthenticated = httpx.post(f"{url}/rollback", json={"id": 12})
    assert unauthenticated.status_code == 401
    operations = cloud.argocd_operations()
    assert [(o["op"], o["body"].get("id")) for o in operations] == [("rollback", 12), ("sync", None),
                                                                   ("rollback", 99)]
    assert operations[1]["body"]["revision"] == "8b1e0f4c"
    assert cloud.credentials.argocd_token not in json.dumps(cloud.upstream_calls("argocd"))


# =========================================================================== Jaeger


def jaeger_traces(cloud: FakeCloud, **params: Any) -> httpx.Response:
    s = cloud.scenario
    defaults = {"service": SERVICE, "start": us(s.now_s - 1800), "end": us(s.now_s + 1), "limit": 20}
    return httpx.get(f"{cloud.env()['JAEGER_URL']}/api/traces", params={**defaults, **params})


def test_jaeger_services(cloud: FakeCloud) -> None:
    body = httpx.get(f"{cloud.env()['JAEGER_URL']}/api/services").json()
    assert {"checkout", "cart", "orders-db"} <= set(body["data"])
    assert body["total"] == len(body["data"]) and body["errors"] is None


def test_jaeger_error_traces_lead_to_orders_db(cloud: FakeCloud) -> None:
    response = jaeger_traces(cloud, tags=json.dumps({"error": "true"}))
    assert response.status_code == 200
    body = response.json()
    assert body["errors"] is None and body["total"] == 0 and body["limit"] == 0
    traces = body["data"]
    assert 5 <= len(traces) <= 10
    for trace in traces:
        processes = trace["processes"]
        spans = {span["spanID"]: span for span in trace["spans"]}
        root = next(span for span in spans.values() if not span["references"])
        assert root["operationName"] == "POST /api/checkout"
        assert processes[root["processID"]]["serviceName"] == "checkout"
        failing = [span for span in spans.values()
                   if any(t["key"] == "error" and t["value"] is True for t in span["tags"])]
        db = next(span for span in failing if processes[span["processID"]]["serviceName"] == "orders-db")
        assert 4_900_000 <= db["duration"] <= 5_100_000
        assert db["references"] == [{"refType": "CHILD_OF", "traceID": trace["traceID"],
                                     "spanID": root["spanID"]}]
        cart = [span for span in spans.values() if processes[span["processID"]]["serviceName"] == "cart"]
        assert cart and not any(t["key"] == "error" for span in cart for t in span["tags"])
    starts = [min(span["startTime"] for span in t["spans"]) for t in traces]
    assert starts == sorted(starts, reverse=True)


def test_jaeger_filters_duration_limit_window_and_ids(cloud: FakeCloud) -> None:
    s = cloud.scenario
    everything = jaeger_traces(cloud).json()["data"]
    assert len(everything) == 10
    healthy = [t for t in everything if not any(tag["key"] == "error" for sp in t["spans"] for tag in sp["tags"])]
    assert len(healthy) == 2 and all(t["spans"][0]["duration"] < 500_000 for t in healthy)
    assert len(jaeger_traces(cloud, minDuration="1s").json()["data"]) == 8
    assert len(jaeger_traces(cloud, limit=3).json()["data"]) == 3
    assert jaeger_traces(cloud, start=us(s.now_s + 10), end=us(s.now_s + 20)).json()["data"] == []
    assert jaeger_traces(cloud, service="payments").json()["data"] == []
    one = httpx.get(f"{cloud.env()['JAEGER_URL']}/api/traces/4bf92f3577b34da6a3ce929d0e0e4736").json()
    assert [t["traceID"] for t in one["data"]] == ["4bf92f3577b34da6a3ce929d0e0e4736"]


def test_jaeger_errors_are_jaeger_shaped(cloud: FakeCloud) -> None:
    url = cloud.env()["JAEGER_URL"]
    no_service = httpx.get(f"{url}/api/traces")
    assert no_service.status_code == 400
    assert no_service.json() == {"data": None, "total": 0, "limit": 0, "offset": 0,
                                 "errors": [{"code": 400, "msg": "parameter 'service' is required"}]}
    assert jaeger_traces(cloud, minDuration="fast").status_code == 400
    assert httpx.get(f"{url}/api/traces/ffffffffffffffffffffffffffffffff").status_code == 404


# =========================================================================== faults


def test_status_fault_uses_the_upstreams_error_shape_then_clears(cloud: FakeCloud) -> None:
    cloud.set_faults({"loki": {"status": 500}, "prometheus": {"status": 503},
                      "argocd": {"status": 403}, "jaeger": {"status": 502, "times": 1}})
    assert loki_query(cloud, '{service="checkout"}').status_code == 500
    prom = prom_range(cloud, promql("cpu"))
    assert prom.status_code == 503 and prom.json()["status"] == "error"
    argo = httpx.get(f"{cloud.env()['ARGOCD_URL']}/api/v1/applications/checkout",
                     headers=argocd_headers(cloud))
    assert argo.status_code == 403 and argo.json()["code"] == 7
    assert jaeger_traces(cloud).status_code == 502
    assert jaeger_traces(cloud).status_code == 200  # times: 1
    cloud.clear_faults()
    assert loki_query(cloud, '{service="checkout"}').status_code == 200


def test_malformed_fault_cuts_the_body(cloud: FakeCloud) -> None:
    cloud.set_faults(argocd={"malformed": True})
    response = httpx.get(f"{cloud.env()['ARGOCD_URL']}/api/v1/applications/checkout",
                         headers=argocd_headers(cloud))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_delay_fault_delays(cloud: FakeCloud) -> None:
    cloud.set_faults(prometheus={"delay_ms": 450})
    started = time.perf_counter()
    response = prom_range(cloud, promql("cpu"))
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.45


def test_fault_scoped_to_a_path(cloud: FakeCloud) -> None:
    cloud.set_faults(jaeger={"status": 500, "path": "/api/traces"})
    assert httpx.get(f"{cloud.env()['JAEGER_URL']}/api/services").status_code == 200
    assert jaeger_traces(cloud).status_code == 500


async def test_hang_times_the_client_out_without_blocking_others(cloud: FakeCloud) -> None:
    cloud.set_faults({"jaeger": {"hang": True}})
    env = cloud.env()
    s = cloud.scenario
    async with httpx.AsyncClient() as client:
        hung = asyncio.create_task(client.get(f"{env['JAEGER_URL']}/api/traces",
                                              params={"service": SERVICE}, timeout=1.0))
        await asyncio.sleep(0.05)
        other = await client.get(f"{env['LOKI_URL']}/loki/api/v1/query_range",
                                 params={"query": '{service="checkout"}', "end": ns(s.now_s)}, timeout=2)
        assert other.status_code == 200
        assert not hung.done(), "the other request was answered while the hung one still waits"
        with pytest.raises(httpx.ReadTimeout):
            await hung
    cloud.clear_faults()
    assert jaeger_traces(cloud).status_code == 200


def test_unknown_fault_target_is_rejected(cloud: FakeCloud) -> None:
    response = httpx.post(f"{cloud.url}/_control/faults", json={"elasticsearch": {"status": 500}})
    assert response.status_code == 400
    response = httpx.post(f"{cloud.url}/_control/faults", json={"loki": {"statuz": 500}})
    assert response.status_code == 400


# =========================================================================== Slack


def slack_client(cloud: FakeCloud, token: str | None = None) -> AsyncWebClient:
    env = cloud.env()
    return AsyncWebClient(token=token or env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"])


async def test_slack_records_chat_post_message_with_objects(cloud: FakeCloud) -> None:
    client = slack_client(cloud)
    root = await client.chat_postMessage(channel="C0INCIDENT", text="Investigating checkout")
    blocks = [SectionBlock(text="*checkout* p99 200 ms → 8.2 s"),
              {"type": "context", "elements": [{"type": "mrkdwn", "text": "logs-1"}]}]
    metadata = {"event_type": "sitrep_brief",
                "event_payload": {"incident_id": 1, "status": "COMPLETED", "root_cause_service": "checkout"}}
    brief = await client.chat_postMessage(channel="C0INCIDENT", thread_ts=root["ts"], text="brief",
                                          blocks=blocks, metadata=metadata)
    assert brief["ok"] and brief["channel"] == "C0INCIDENT"
    assert float(brief["ts"]) > float(root["ts"])
    assert brief["message"]["thread_ts"] == root["ts"]
    assert brief["message"]["metadata"] == metadata

    [first, second] = cloud.slack_calls("chat.postMessage")
    assert first["ts"] == root["ts"] and first["thread_ts"] is None
    assert second["ts"] == brief["ts"] and second["thread_ts"] == root["ts"]
    assert second["channel"] == "C0INCIDENT" and second["text"] == "brief"
    assert isinstance(second["blocks"], list) and isinstance(second["blocks"][0], dict)
    assert second["blocks"][0]["type"] == "section"
    assert second["metadata"] == metadata
    assert second["content_type"].startswith("application/json")
    assert cloud.credentials.slack_bot_token not in json.dumps(cloud.slack_calls())


async def test_slack_update_and_other_methods(cloud: FakeCloud) -> None:
    client = slack_client(cloud)
    posted = await client.chat_postMessage(channel="C0INCIDENT", text="Collecting…")
    updated = await client.chat_update(channel="C0INCIDENT", ts=posted["ts"], text="done",
                                       blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "done"}}])
    assert updated["ts"] == posted["ts"] and updated["message"]["text"] == "done"
    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="C0INCIDENT", ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"

    await client.reactions_add(channel="C0ALERTS", timestamp="1764042000.000100", name="eyes")
    [reaction] = cloud.slack_calls("reactions.add")
    assert reaction["params"]["name"] == "eyes" and reaction["channel"] == "C0ALERTS"
    assert reaction["raw"] == {"channel": "C0ALERTS", "timestamp": "1764042000.000100", "name": "eyes"}

    ephemeral = await client.chat_postEphemeral(channel="C0INCIDENT", user="U0ONCALL", text="only you")
    assert ephemeral["message_ts"]
    assert (await client.auth_test())["bot_id"] == "B0SITREP"
    assert (await client.conversations_info(channel="C0ALERTS"))["channel"]["name"] == "alerts"
    assert (await client.users_info(user="U0SRE1"))["user"]["name"] == "sre-ana"
    sre = await client.usergroups_users_list(usergroup="S0SRE")
    assert sre["users"] == ["U0SRE1", "U0SRE2", "U0SRE3"]
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Reject"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "why?"}}]}
    opened = await client.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["id"].startswith("V")
    again = await client.views_update(view_id=opened["view"]["id"], view=view)
    assert again["view"]["id"] == opened["view"]["id"]
    home = await client.views_publish(user_id="U0ONCALL", view={"type": "home", "blocks": []})
    assert home["view"]["type"] == "home"
    replies = await client.conversations_replies(channel="C0INCIDENT", ts=posted["ts"])
    assert [m["text"] for m in replies["messages"]] == ["done"]
    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("chat.scheduleNuke", json={"channel": "C0INCIDENT"})
    assert unknown.value.response["error"] == "unknown_method"


async def test_slack_file_upload_v2_flow(cloud: FakeCloud) -> None:
    client = slack_client(cloud)
    response = await client.files_upload_v2(channel="C0INCIDENT", content="timeline", filename="t.md",
                                            title="Timeline")
    assert response["ok"]
    methods = [c["method"] for c in cloud.slack_calls()]
    assert methods == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    complete = cloud.slack_calls("files.completeUploadExternal")[0]
    assert isinstance(complete["params"]["files"], list)  # JSON string in the request, decoded


async def test_slack_auth_errors(cloud: FakeCloud) -> None:
    with pytest.raises(SlackApiError) as wrong:
        await slack_client(cloud, token="xoxb-not-the-token").auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    anonymous = httpx.post(f"{cloud.env()['SLACK_API_URL']}chat.postMessage",
                           data={"channel": "C0INCIDENT", "text": "hi"})
    assert anonymous.json() == {"ok": False, "error": "not_authed"}


def test_slack_form_bodies_are_normalised(cloud: FakeCloud) -> None:
    env = cloud.env()
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
    metadata = {"event_type": "sitrep_brief", "event_payload": {"incident_id": 7}}
    response = httpx.post(f"{env['SLACK_API_URL']}chat.postMessage",
                          headers={"Authorization": f"Bearer {env['SLACK_BOT_TOKEN']}"},
                          data={"channel": "C0INCIDENT", "text": "hi", "blocks": json.dumps(blocks),
                                "metadata": json.dumps(metadata)})
    assert response.json()["ok"]
    [call] = cloud.slack_calls("chat.postMessage")
    assert call["blocks"] == blocks and call["metadata"] == metadata
    assert isinstance(call["raw"]["blocks"], str)


async def test_slack_rate_limit_fault(cloud: FakeCloud) -> None:
    cloud.set_faults({"slack": {"status": 429, "retry_after": 1, "times": 1}})
    client = slack_client(cloud)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C0INCIDENT", text="hi")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    assert limited.value.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="C0INCIDENT", text="hi"))["ok"]


def test_response_url_sink_records_the_body(cloud: FakeCloud) -> None:
    url = cloud.response_url("abc123")
    assert url == f"{cloud.url}/_response_url/abc123"
    response = httpx.post(url, json={"response_type": "ephemeral", "text": "Usage: /incident <service>"})
    assert response.status_code == 200
    [call] = cloud.response_url_calls("abc123")
    assert call["params"]["response_type"] == "ephemeral" and call["text"].startswith("Usage")


# =========================================================================== Anthropic

EVIDENCE_PROMPT = """\
<evidence source="prometheus">
[metrics-1] p99_latency (service=checkout): 0.199 → 8.4
[metrics-2] error_ratio (service=checkout): 0.001 → 0.12
</evidence>
<evidence source="argocd">
[deploys-1] checkout deployed v2.14.3 (rev c4d5e6f, history 13) at 06:24:18Z by alice — current
[deploys-2] checkout deployed v2.14.2 (rev 8b1e0f4, history 12) — previous
</evidence>
<evidence source="loki">
[logs-1] error (×57) timeout acquiring connection from pool (pool=orders-db max=10)
</evidence>
Jaeger: timeout
"""


def anthropic_client(cloud: FakeCloud, **options: Any) -> anthropic.AsyncAnthropic:
    import anthropic

    env = cloud.env()
    return anthropic.AsyncAnthropic(api_key=env["ANTHROPIC_API_KEY"], base_url=env["ANTHROPIC_BASE_URL"],
                                    max_retries=0, **options)


async def ask(client: anthropic.AsyncAnthropic, *, timeout: float = 5.0) -> anthropic.types.Message:
    return await client.messages.create(
        model="claude-haiku-4-5", max_tokens=2048, system="You are Sitrep. Cite like [logs-3].",
        messages=[{"role": "user", "content": EVIDENCE_PROMPT}],
        tools=[{"name": "submit_brief", "description": "Submit the brief",
                "input_schema": BriefDraft.model_json_schema()}],
        tool_choice={"type": "tool", "name": "submit_brief"}, timeout=timeout,
    )


async def test_anthropic_scenario_mode_writes_a_grounded_brief(cloud: FakeCloud) -> None:
    async with anthropic_client(cloud) as client:
        message = await ask(client)
    assert message.stop_reason == "tool_use" and message.model == "claude-haiku-4-5"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    [block] = message.content
    assert block.type == "tool_use" and block.name == "submit_brief"
    draft = BriefDraft.model_validate(block.input)
    draft.check_grounded({"metrics-1", "metrics-2", "deploys-1", "deploys-2", "logs-1"})
    assert {e.source.value for e in draft.evidence} == {"metrics", "deploys", "logs"}
    assert {e.id for e in draft.evidence} == {"metrics-1", "deploys-1", "logs-1"}
    assert draft.category.value == "deploy_regression"
    assert draft.root_cause.service == "checkout" and draft.root_cause.confidence.value == "HIGH"
    assert "checkout" in draft.root_cause.statement and "v2.14.3" in draft.root_cause.statement
    rollback: Action = draft.actions[0]
    assert rollback.kind.value == "rollback"
    # a deploy is named by its identity (the git sha here), not by its tag
    assert rollback.params == {"to_revision": cloud.scenario.rollback_revision, "history_id": 12}
    assert cloud.scenario.rollback_revision == "8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"
    assert rollback.target.app == "checkout" and rollback.target.namespace == "shop"
    assert any("Traces" in u for u in draft.unknowns)
    assert len(draft.summary) <= 3

    [call] = cloud.anthropic_calls()
    assert call["body"]["messages"][0]["content"] == EVIDENCE_PROMPT
    assert cloud.credentials.anthropic_api_key not in json.dumps(call)


async def test_anthropic_invalid_reply_and_text_modes(cloud: FakeCloud) -> None:
    async with anthropic_client(cloud) as client:
        cloud.anthropic_mode("invalid")
        invalid = await ask(client)
        with pytest.raises(ValidationError):
            BriefDraft.model_validate(invalid.content[0].input)  # type: ignore[union-attr]
        cloud.anthropic_mode("reply", input={"title": "scripted"})
        scripted = await ask(client)
        assert scripted.content[0].input == {"title": "scripted"}  # type: ignore[union-attr]
        cloud.anthropic_mode("text", times=1)
        text = await ask(client)
        assert text.stop_reason == "end_turn" and text.content[0].type == "text"
        back = await ask(client)
        assert back.stop_reason == "tool_use"


async def test_anthropic_error_and_hang_modes(cloud: FakeCloud) -> None:
    import anthropic

    async with anthropic_client(cloud) as client:
        cloud.anthropic_mode("error", status=529)
        with pytest.raises(anthropic.APIStatusError) as overloaded:
            await ask(client)
        assert overloaded.value.status_code == 529
        assert overloaded.value.body == {"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}
        cloud.anthropic_mode("hang")
        started = time.perf_counter()
        with pytest.raises(anthropic.APITimeoutError):
            await ask(client, timeout=0.5)
        assert time.perf_counter() - started < 3


def test_anthropic_requires_a_key(cloud: FakeCloud) -> None:
    url = f"{cloud.env()['ANTHROPIC_BASE_URL']}/v1/messages"
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    missing = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
    assert missing.status_code == 401
    assert missing.json()["type"] == "error" and missing.json()["error"]["type"] == "authentication_error"
    ok = httpx.post(url, json=body, headers={"anthropic-version": "2023-06-01",
                                             "x-api-key": cloud.credentials.anthropic_api_key})
    assert ok.status_code == 200 and ok.json()["content"][0]["type"] == "text"


# =========================================================================== FakeCloud


def test_env_points_sitrep_at_the_fakes(cloud: FakeCloud) -> None:
    env = cloud.env(SLACK_SIGNING_SECRET="s3cret", ANTHROPIC_API_KEY=None)
    assert env["LOKI_URL"] == f"{cloud.url}/loki"
    assert env["PROMETHEUS_URL"] == f"{cloud.url}/prometheus"
    assert env["ARGOCD_URL"] == f"{cloud.url}/argocd"
    assert env["JAEGER_URL"] == f"{cloud.url}/jaeger"
    assert env["SLACK_API_URL"] == f"{cloud.url}/slack/api/"
    assert env["ANTHROPIC_BASE_URL"] == f"{cloud.url}/anthropic"
    assert env["SLACK_BOT_TOKEN"].startswith("xoxb-test")
    assert env["SLACK_SIGNING_SECRET"] == "s3cret"
    assert "ANTHROPIC_API_KEY" not in env
    assert env["ARGOCD_TOKEN"] == cloud.credentials.argocd_token


def test_reset_makes_the_cloud_as_new_for_the_next_test(cloud: FakeCloud) -> None:
    """Tests that share one cloud (and one `sitrep serve`) rely on reset() forgetting everything."""
    fresh = httpx.get(f"{cloud.url}/jaeger/api/dependencies", params={"endTs": 0}).json()["data"]
    cloud.subscribe_slack_events("http://127.0.0.1:9/slack/events", "secret")
    cloud.on_call(pagerduty={"PSRE01": ["sre-ana@example.com"]}, opsgenie={"sre": ["sre-bo@example.com"]})
    cloud.jaeger_dependencies([("checkout", "fraud")])
    cloud.argocd_deploy("v2.14.4", by="bob")
    cloud.anthropic_mode("hang")
    cloud.set_faults(loki={"status": 500})
    cloud.reset()
    assert httpx.post(f"{cloud.url}/_control/oncall", json={}).json() == {"pagerduty": {}, "opsgenie": {}}
    assert cloud.sandbox.slack.event_subscription is None and cloud.slack_deliveries() == []
    assert httpx.get(f"{cloud.url}/jaeger/api/dependencies", params={"endTs": 0}).json()["data"] == fresh
    assert "v2.14.4" not in json.dumps(cloud.argocd_application())
    assert httpx.get(f"{cloud.url}/_control/anthropic").json()["mode"] == "scenario"
    assert httpx.get(f"{cloud.url}/").json()["faults"] == {}


def test_reset_can_restart_the_story_so_that_it_ends_now() -> None:
    long_ago = datetime(2025, 11, 25, 3, 44, 12, tzinfo=UTC)
    with FakeCloud(Scenario(now=long_ago)) as cloud:
        cloud.sandbox.feed.recover(long_ago.timestamp())
        cloud.reset()
        assert cloud.scenario.now == long_ago  # a plain reset keeps the story where it is
        cloud.reset(restart_story=True)
        moved = cloud.scenario
        assert abs((moved.now - datetime.now(UTC)).total_seconds()) < 5 and moved.recovered_at is None
        assert moved.onset == moved.now - (long_ago - Scenario(now=long_ago).onset)  # the same story
        deployed = cloud.argocd_application()["status"]["history"][-1]["deployedAt"]
        assert deployed.startswith(f"{moved.deployed_at:%Y-%m-%dT%H:%M}")


def test_fake_cloud_stops_cleanly_even_with_a_request_hanging() -> None:
    before = set(threading.enumerate())
    with FakeCloud() as cloud:
        cloud.set_faults(loki={"hang": True})
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{cloud.env()['LOKI_URL']}/loki/api/v1/labels", timeout=0.3)
        cloud.set_faults(jaeger={"hang": True})
        started = time.perf_counter()
    assert time.perf_counter() - started < 5
    assert set(threading.enumerate()) <= before


async def test_fake_cloud_async_context_manager() -> None:
    async with FakeCloud() as cloud:
        async with httpx.AsyncClient(base_url=cloud.url) as client:
            index = (await client.get("/")).json()
    assert index["scenario"]["service"] == "checkout"
    assert set(index["fakes"]) == {"loki", "prometheus", "argocd", "jaeger", "slack", "anthropic",
                                    "pagerduty", "opsgenie"}
