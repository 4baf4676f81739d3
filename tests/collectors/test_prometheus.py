from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from bot.collectors.prometheus import PrometheusCollector, describe_series, step_for
from bot.models import EvidenceSource, MetricSeries, SourceStatus
from bot.settings import Settings
from tests.collectors.support import fixture_json, incident_request

PROM = "http://prometheus.test:9090"
PATH = "/api/v1/query_range"
P99 = 'histogram_quantile(0.99, sum by (le) (rate(x_bucket{service="checkout"}[5m])))'
ERRORS = 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m]))'


def matrix(*series: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(series)}}


@pytest.fixture
def prom() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=PROM, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=PROM) as c:
        yield c


def answer(prom: respx.MockRouter, query: str, response: httpx.Response) -> respx.Route:
    return prom.get(PATH, params__contains={"query": query}).mock(return_value=response)


async def test_parses_matrix_and_skips_empty_query(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    answer(prom, P99, httpx.Response(200, json=fixture_json("prometheus/query_range_matrix.json")))
    answer(prom, ERRORS, httpx.Response(200, json=matrix()))

    result = await PrometheusCollector(client, queries={"error_ratio": ERRORS, "p99_latency": P99}).collect(
        incident_request()
    )

    assert result.status is SourceStatus.OK and result.error is None
    assert len(result.evidence) == 1
    item = result.evidence[0]
    assert (item.id, item.source) == ("metrics-1", EvidenceSource.METRICS)
    assert isinstance(item.payload, MetricSeries)
    assert item.payload.name == "p99_latency" and item.payload.query == P99
    assert item.payload.labels == {"service": "checkout", "namespace": "shop", "quantile": "0.99"}
    assert item.payload.points[0] == (datetime(2025, 11, 25, 3, 31, tzinfo=UTC), 0.182)
    assert [v for _, v in item.payload.points] == [0.182, 0.201, 0.195, 8.2, 8.4]
    assert item.detail == (
        "p99_latency (namespace=shop, quantile=0.99, service=checkout): 0.182 → 8.4 "
        "(baseline median 0.195, peak 8.4 at 03:42Z)"
    )
    assert item.at == datetime(2025, 11, 25, 3, 42, tzinfo=UTC)
    assert item.link is not None and item.link.startswith(f"{PROM}/graph?g0.expr=histogram_quantile")


async def test_request_params_and_step(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = answer(prom, P99, httpx.Response(200, json=matrix()))
    request = incident_request(minutes=360)

    await PrometheusCollector(client, queries={"p99_latency": P99}).collect(request)

    params = route.calls.last.request.url.params
    assert float(params["start"]) == request.window_start.timestamp()  # unix seconds
    assert float(params["end"]) == request.window_end.timestamp()
    step = int(params["step"].removesuffix("s"))
    assert (request.window_end - request.window_start).total_seconds() / step + 1 <= 120


async def test_explicit_step_and_queries_per_service(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = prom.get(PATH).mock(return_value=httpx.Response(200, json=matrix()))
    settings = Settings(_env_file=None)

    result = await PrometheusCollector(client, queries=settings.promql_for, step="30s").collect(
        incident_request(service="payments")
    )

    assert result.status is SourceStatus.NO_DATA
    sent = [call.request.url.params for call in route.calls]
    assert len(sent) == len(settings.sitrep_promql) == 13  # RED + resources + saturation
    assert {p["step"] for p in sent} == {"30s"}
    assert all('service="payments"' in p["query"] or 'horizontalpodautoscaler="payments"' in p["query"]
               for p in sent)


@pytest.mark.parametrize(
    ("minutes", "step"), [(5, "15s"), (30, "16s"), (60, "31s"), (24 * 60, "727s")]
)
def test_step_for_caps_points(minutes: int, step: str) -> None:
    start = datetime(2025, 11, 25, tzinfo=UTC)
    assert step_for(start, start + timedelta(minutes=minutes)) == step
    assert minutes * 60 / int(step[:-1]) + 1 <= 121


async def test_nan_and_inf_values(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    series = {"metric": {}, "values": [[1764041460, "NaN"], [1764041520, "0.2"], [1764041580, "+Inf"], [1764041640, "0.3"]]}
    answer(prom, P99, httpx.Response(200, json=matrix(series)))

    result = await PrometheusCollector(client, queries={"p99_latency": P99}).collect(incident_request())

    payload = result.evidence[0].payload
    assert isinstance(payload, MetricSeries)
    values = [v for _, v in payload.points]
    assert math.isnan(values[0]) and values[2] == math.inf
    assert result.evidence[0].detail == (
        "p99_latency (service=checkout): NaN → 0.3 (baseline median 0.2, peak +Inf at 03:33Z)"
    )


async def test_bad_data_reason(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    answer(prom, P99, httpx.Response(400, json=fixture_json("prometheus/error_bad_data.json")))

    result = await PrometheusCollector(client, queries={"p99_latency": P99}).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error == (
        'bad_data: invalid parameter "query": 1:15: parse error: unexpected "}" in label matching, expected string'
    )


async def test_500_is_error(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    prom.get(PATH).mock(return_value=httpx.Response(500, text="oops"))

    result = await PrometheusCollector(client, queries={"p99_latency": P99, "error_ratio": ERRORS}).collect(
        incident_request()
    )

    assert (result.status, result.error) == (SourceStatus.ERROR, "HTTP 500")


async def test_partial_failure_is_ok_with_note(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    answer(prom, P99, httpx.Response(200, json=fixture_json("prometheus/query_range_matrix.json")))
    answer(prom, ERRORS, httpx.Response(503, json={"status": "error", "errorType": "timeout", "error": "query timed out"}))

    result = await PrometheusCollector(client, queries={"p99_latency": P99, "error_ratio": ERRORS}).collect(
        incident_request()
    )

    assert result.status is SourceStatus.OK
    assert result.error == "1/2 queries failed: error_ratio: timeout: query timed out"
    assert [e.payload.name for e in result.evidence] == ["p99_latency"]  # type: ignore[union-attr]


async def test_malformed_json(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    prom.get(PATH).mock(return_value=httpx.Response(200, text="<html>proxy</html>"))

    result = await PrometheusCollector(client, queries={"p99_latency": P99}).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error is not None and result.error.startswith("malformed body:")


async def test_vector_is_malformed(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    prom.get(PATH).mock(return_value=httpx.Response(200, json=fixture_json("prometheus/query_vector.json")))

    result = await PrometheusCollector(client, queries={"p99_latency": P99}).collect(incident_request())

    assert (result.status, result.error) == (SourceStatus.ERROR, "malformed body: resultType 'vector', expected matrix")


async def test_all_empty_is_no_data(prom: respx.MockRouter, client: httpx.AsyncClient) -> None:
    prom.get(PATH).mock(return_value=httpx.Response(200, json=matrix()))

    result = await PrometheusCollector(client, queries={"p99_latency": P99, "error_ratio": ERRORS}).collect(
        incident_request()
    )

    assert (result.status, result.error, result.evidence) == (SourceStatus.NO_DATA, None, [])


def test_describe_series_large_numbers_and_other_day() -> None:
    day = datetime(2025, 11, 24, 23, 0, tzinfo=UTC)
    series = MetricSeries(name="memory", query="q", points=[(day, 1.5e9), (day + timedelta(minutes=1), 2.1e9)])

    text = describe_series(series, service="checkout", ref=datetime(2025, 11, 25, 1, 0, tzinfo=UTC))

    assert text == "memory (service=checkout): 1.5G → 2.1G (baseline median 1.5G, peak 2.1G at 2025-11-24 23:01Z)"


# --------------------------------------------------------------------------- saturation facts

SATURATION_END = datetime(2025, 11, 25, 3, 50, tzinfo=UTC)


def saturation_series(labels: dict[str, str], values: list[float], *, end: datetime = SATURATION_END
                      ) -> dict[str, Any]:
    start = end.timestamp() - 30 * (len(values) - 1)
    return {"metric": labels, "values": [[start + 30 * i, str(v)] for i, v in enumerate(values)]}


def answer_queries(prom: respx.MockRouter, queries: dict[str, str], answers: dict[str, dict[str, Any]]) -> None:
    """Each query gets its answer by name (``matrix()`` when none is given)."""
    for name, query in queries.items():
        answer(prom, query, httpx.Response(200, json=answers.get(name, matrix())))


SATURATION_CASES = [
    ("request_rate", {"service": "invoices"}, [420.0] * 24 + [1300.0] * 16,
     "request_rate_vs_baseline", "request rate 3.1× baseline (420 → 1300 req/s)"),
    ("cpu_throttling", {"namespace": "billing", "pod": "invoices-6f8b9c7d5-q7w2z", "container": "invoices"},
     [0.05] * 20 + [0.41] * 20, "cpu_throttling",
     "CPU throttled 41% (pod invoices-6f8b9c7d5-q7w2z, container invoices)"),
    ("memory_vs_limit", {"namespace": "media", "pod": "thumbnailer-5d4f-abcde", "container": "thumbnailer"},
     [0.6] * 30 + [0.97] * 10, "memory_vs_limit",
     "memory 97% of limit (pod thumbnailer-5d4f-abcde, container thumbnailer) at 03:45Z"),
    ("oom_killed", {"namespace": "media", "pod": "thumbnailer-5d4f-abcde", "container": "thumbnailer"},
     [1.0, 2.0, 3.0, 3.0], "oom_killed", "3 OOMKilled restarts in 15m (pod thumbnailer-5d4f-abcde), first at 03:48Z"),
    ("hpa_at_max", {"namespace": "billing", "horizontalpodautoscaler": "invoices"}, [12.0] * 16,
     "hpa_at_max", "HPA invoices at max 12/12 replicas since 03:42Z"),
    ("filesystem_available", {"instance": "db-0", "mountpoint": "/var/lib/postgresql", "fstype": "ext4"},
     [0.2] * 20 + [0.02] * 20, "filesystem_available", "/var/lib/postgresql 2% free on db-0 at 03:40Z"),
    ("probe_success", {"instance": "https://payments.example.com/health", "job": "blackbox"},
     [1.0] * 30 + [0.4] * 10, "probe_success",
     "probe https://payments.example.com/health success 0.4 (5m average, recent)"),
    ("cert_expiry_days", {"instance": "https://payments.example.com", "job": "blackbox"},
     [-1.9, -2.0], "cert_expiry_days", "certificate for https://payments.example.com expires in -2 days (expired)"),
]


@pytest.mark.parametrize(("query_name", "labels", "values", "series_name", "fact"), SATURATION_CASES,
                         ids=[case[0] for case in SATURATION_CASES])
async def test_each_saturation_template_gives_its_fact(
    prom: respx.MockRouter, client: httpx.AsyncClient, query_name: str, labels: dict[str, str],
    values: list[float], series_name: str, fact: str
) -> None:
    queries = Settings(_env_file=None).promql_for("invoices")
    answer_queries(prom, queries, {query_name: matrix(saturation_series(labels, values))})
    request = incident_request(end=SATURATION_END, minutes=30, service="invoices")

    result = await PrometheusCollector(client, queries=queries).collect(request)

    assert result.status is SourceStatus.OK and result.error is None
    facts = [e for e in result.evidence if isinstance(e.payload, MetricSeries) and e.payload.name == series_name]
    assert [e.detail for e in facts] == [fact]
    [item] = facts
    assert item.source is EvidenceSource.METRICS and item.id == f"metrics-{len(result.evidence)}"
    assert isinstance(item.payload, MetricSeries) and item.payload.query == queries[query_name]
    assert item.link is not None and item.link.startswith(f"{PROM}/graph?g0.expr=")
    if query_name != "request_rate":  # a saturation query is a fact or nothing, never a raw series
        assert len(result.evidence) == 1


async def test_absent_or_unremarkable_saturation_series_add_nothing(
    prom: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    queries = Settings(_env_file=None).promql_for("invoices")
    pod = {"namespace": "billing", "pod": "invoices-1", "container": "invoices"}
    answer_queries(prom, queries, {
        "p99_latency": fixture_json("prometheus/query_range_matrix.json"),
        "memory_vs_limit": matrix(saturation_series(pod, [0.55] * 40)),
        "cpu_throttling": matrix(saturation_series(pod, [0.03] * 40)),
        "probe_success": matrix(saturation_series({"instance": "https://x"}, [1.0] * 40)),
        "cert_expiry_days": matrix(saturation_series({"instance": "https://x"}, [61.0] * 40)),
    })

    result = await PrometheusCollector(client, queries=queries).collect(incident_request(service="invoices"))

    assert result.status is SourceStatus.OK and result.error is None  # empty answers are no failure
    assert [e.payload.name for e in result.evidence if isinstance(e.payload, MetricSeries)] == ["p99_latency"]


async def test_a_sum_doubling_during_a_rollout_is_no_memory_fact(prom: respx.MockRouter,
                                                                  client: httpx.AsyncClient) -> None:
    queries = Settings(_env_file=None).promql_for("profile")
    rollout = fixture_json("prometheus/query_range_rolling_deploy.json")
    # per pod, old and new, each at ~half its limit: the max by pod never doubles
    old = saturation_series({"namespace": "web", "pod": "profile-7f9-old", "container": "profile"}, [0.53] * 30,
                            end=datetime(2025, 11, 25, 3, 40, tzinfo=UTC))
    new = saturation_series({"namespace": "web", "pod": "profile-8a1-new", "container": "profile"}, [0.52] * 24,
                            end=datetime(2025, 11, 25, 3, 50, tzinfo=UTC))
    answer_queries(prom, queries, {"memory": rollout, "memory_vs_limit": matrix(old, new)})
    request = incident_request(end=datetime(2025, 11, 25, 3, 50, tzinfo=UTC), minutes=20, service="profile")

    result = await PrometheusCollector(client, queries=queries).collect(request)

    [memory] = result.evidence
    assert isinstance(memory.payload, MetricSeries) and memory.payload.name == "memory"
    assert "peak 2.28G at 03:38Z" in memory.detail
    assert memory.detail.endswith("transient: the peak was short and it is back at baseline")
    assert not any("memory" in e.detail and "limit" in e.detail for e in result.evidence)


async def test_a_saturation_query_failing_is_a_partial_note(prom: respx.MockRouter,
                                                            client: httpx.AsyncClient) -> None:
    queries = Settings(_env_file=None).promql_for("invoices")
    answer_queries(prom, queries, {"p99_latency": fixture_json("prometheus/query_range_matrix.json")})
    answer(prom, queries["hpa_at_max"], httpx.Response(422, json={
        "status": "error", "errorType": "execution", "error": "many-to-many matching not allowed"}))

    result = await PrometheusCollector(client, queries=queries).collect(incident_request(service="invoices"))

    assert result.status is SourceStatus.OK
    assert result.error == "1/13 queries failed: hpa_at_max: execution: many-to-many matching not allowed"
