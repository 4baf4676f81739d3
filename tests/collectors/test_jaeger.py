from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from bot.collectors.jaeger import JaegerCollector, parse_trace
from bot.models import EvidenceSource, SourceStatus, Trace
from tests.collectors.support import fixture_json, incident_request

JAEGER = "http://jaeger.test:16686"
UI = "https://jaeger.example.com"
PATH = "/api/traces"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def traces(*items: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(items), "total": 0, "limit": 0, "offset": 0, "errors": None}


def slow_trace() -> dict[str, Any]:
    """A 1.5 s trace without errors whose slowest child is a cart call."""
    return {
        "traceID": "11112222333344445555666677778888",
        "processes": {"p1": {"serviceName": "checkout"}, "p2": {"serviceName": "cart"}},
        "spans": [
            {"traceID": "1111", "spanID": "s1", "operationName": "GET /api/cart", "references": [],
             "startTime": 1764042000000000, "duration": 1500000, "processID": "p1",
             "tags": [{"key": "http.status_code", "type": "int64", "value": 200}]},
            {"traceID": "1111", "spanID": "s2", "operationName": "CartService/GetCart",
             "references": [{"refType": "CHILD_OF", "traceID": "1111", "spanID": "s1"}],
             "startTime": 1764042000100000, "duration": 1300000, "processID": "p2", "tags": []},
        ],
    }


@pytest.fixture
def jaeger() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=JAEGER, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=JAEGER) as c:
        yield c


def routes(jaeger: respx.MockRouter, *, errors: httpx.Response, slow: httpx.Response) -> tuple[respx.Route, respx.Route]:
    err = jaeger.get(PATH, params__contains={"tags": '{"error":"true"}'}).mock(return_value=errors)
    slw = jaeger.get(PATH, params__contains={"minDuration": "1s"}).mock(return_value=slow)
    return err, slw


async def test_merges_error_and_slow_traces(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    fixture = fixture_json("jaeger/traces.json")
    both = traces(*fixture["data"], slow_trace())
    routes(jaeger, errors=httpx.Response(200, json=fixture), slow=httpx.Response(200, json=both))

    result = await JaegerCollector(client, ui_url=UI).collect(incident_request())

    assert result.status is SourceStatus.OK and result.error is None
    assert [e.id for e in result.evidence] == ["traces-1", "traces-2"]  # the shared trace only once
    assert all(e.source is EvidenceSource.TRACES for e in result.evidence)
    first, second = result.evidence
    assert first.detail == (
        "trace 4bf92f35… checkout POST /api/checkout 8213 ms error (HTTP 503); "
        "deepest failing span: checkout pool.acquire (5000 ms)"
    )
    assert first.link == f"{UI}/trace/{TRACE_ID}"
    assert first.at == datetime(2025, 11, 25, 3, 41, 12, tzinfo=UTC)
    assert second.detail == (
        "trace 11112222… checkout GET /api/cart 1500 ms; slowest span: cart CartService/GetCart (1300 ms)"
    )


async def test_trace_parsing(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    routes(jaeger, errors=httpx.Response(200, json=fixture_json("jaeger/traces.json")),
           slow=httpx.Response(200, json=traces()))

    result = await JaegerCollector(client).collect(incident_request())

    trace = result.evidence[0].payload
    assert isinstance(trace, Trace)
    assert (trace.trace_id, trace.root_service, trace.root_operation) == (TRACE_ID, "checkout", "POST /api/checkout")
    assert (trace.duration_ms, trace.error, len(trace.spans)) == (8213.0, True, 8)
    spans = {s.span_id: s for s in trace.spans}
    root = spans["a1b2c3d4e5f60001"]
    assert (root.parent_id, root.status_code, root.error) == (None, 503, True)
    cart = spans["a1b2c3d4e5f60003"]
    assert (cart.service, cart.parent_id, cart.duration_ms, cart.error) == ("cart", "a1b2c3d4e5f60002", 9.0, False)
    pool = spans["a1b2c3d4e5f60004"]
    assert (pool.operation, pool.error, pool.duration_ms) == ("pool.acquire", True, 5000.0)
    charge = spans["a1b2c3d4e5f60008"]
    assert (charge.service, charge.status_code, charge.error) == ("payments", 200, False)
    assert result.evidence[0].link == f"{JAEGER}/trace/{TRACE_ID}"  # default: the API's base URL


def test_deepest_failing_span_follows_the_chain() -> None:
    raw = copy.deepcopy(fixture_json("jaeger/traces.json")["data"][0])
    # make the payments HTTP call (3 levels down) fail with a 502, without an error tag
    charge = next(s for s in raw["spans"] if s["spanID"] == "a1b2c3d4e5f60008")
    charge["tags"] = [{"key": "http.status_code", "type": "int64", "value": 502}]

    trace = parse_trace(raw)

    assert trace is not None
    failing = trace.deepest_failing_span()
    assert failing is not None
    assert (failing.span_id, failing.service, failing.error) == ("a1b2c3d4e5f60008", "payments", True)


async def test_request_params(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    err, slow = routes(jaeger, errors=httpx.Response(200, json=traces()), slow=httpx.Response(200, json=traces()))
    request = incident_request()

    result = await JaegerCollector(client).collect(request)

    assert result.status is SourceStatus.NO_DATA
    for route in (err, slow):
        params = route.calls.last.request.url.params
        assert params["service"] == "checkout"
        assert params["start"] == "1764040500000000"  # unix µs
        assert params["end"] == str(int(request.window_end.timestamp()) * 10**6)
        assert params["limit"] == "20"
    assert json.loads(err.calls.last.request.url.params["tags"]) == {"error": "true"}
    assert "minDuration" not in err.calls.last.request.url.params
    assert "tags" not in slow.calls.last.request.url.params


async def test_errors_body_reason(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    bad = httpx.Response(400, json=fixture_json("jaeger/error_400.json"))
    routes(jaeger, errors=bad, slow=bad)

    result = await JaegerCollector(client).collect(incident_request())

    assert (result.status, result.error) == (SourceStatus.ERROR, "HTTP 400: parameter 'service' is required")


async def test_500_is_error(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    jaeger.get(PATH).mock(return_value=httpx.Response(500, text="upstream"))

    result = await JaegerCollector(client).collect(incident_request())

    assert (result.status, result.error) == (SourceStatus.ERROR, "HTTP 500")


async def test_malformed_json(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    jaeger.get(PATH).mock(return_value=httpx.Response(200, text='{"data": [{"spans": [{"spanID": "x"}]}]}'))

    result = await JaegerCollector(client).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error == "malformed body: missing 'startTime'"


async def test_one_search_failing_is_partial(jaeger: respx.MockRouter, client: httpx.AsyncClient) -> None:
    routes(jaeger, errors=httpx.Response(200, json=fixture_json("jaeger/traces.json")),
           slow=httpx.Response(503, text="busy"))

    result = await JaegerCollector(client).collect(incident_request())

    assert result.status is SourceStatus.OK
    assert result.error == "1/2 queries failed: slow: HTTP 503"
    assert len(result.evidence) == 1
