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
