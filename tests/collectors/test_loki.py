from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from bot.collectors.factory import build_collectors
from bot.collectors.loki import CONFIG_PATTERN, LokiCollector
from bot.models import EvidenceSource, LogLine, SourceName, SourceStatus
from bot.settings import Settings
from tests.collectors.support import fixture_json, fixture_text, incident_request

LOKI = "http://loki.test"
PATH = "/loki/api/v1/query_range"
SELECTOR = '{service="checkout"}'
ERROR_QUERY = SELECTOR + ' |~ "(?i)(error|exception|fatal|panic|timeout)"'
CONFIG_QUERY = SELECTOR + ' |~ "' + CONFIG_PATTERN + '"'


def ns(text: str) -> str:
    return str(int(datetime.fromisoformat(text).timestamp()) * 10**9)


def streams(*streams: dict[str, Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "streams", "result": list(streams)}}


@pytest.fixture
def loki() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=LOKI, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=LOKI) as c:
        yield c


def routes(loki: respx.MockRouter, *, errors: httpx.Response, general: httpx.Response,
           config: httpx.Response | None = None) -> tuple[respx.Route, respx.Route]:
    err = loki.get(PATH, params__contains={"query": ERROR_QUERY}).mock(return_value=errors)
    same = (errors.status_code, errors.content) == (general.status_code, general.content)
    loki.get(PATH, params__contains={"query": CONFIG_QUERY}).mock(  # the change-line query fails like both others
        return_value=config or (errors if same else httpx.Response(200, json=streams())))
    gen = loki.get(PATH, params__contains={"query": SELECTOR}).mock(return_value=general)
    return err, gen


async def test_error_lines_come_first_and_identical_messages_merge(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    body = fixture_json("loki/query_range_streams.json")
    error_stream, info_stream = body["data"]["result"]
    newer_info = copy.deepcopy(info_stream)
    newer_info["values"] = [[ns("2025-11-25T03:44:00+00:00"), '{"level":"info","msg":"health check ok"}']]
    routes(loki, errors=httpx.Response(200, json=streams(error_stream)),
           general=httpx.Response(200, json=streams(newer_info, error_stream, info_stream)))

    result = await LokiCollector(client, selector='{service="{service}"}').collect(incident_request())

    assert result.status is SourceStatus.OK and result.error is None
    assert [e.id for e in result.evidence] == ["logs-1", "logs-2", "logs-3", "logs-4"]
    assert all(e.source is EvidenceSource.LOGS for e in result.evidence)
    assert [e.payload.level for e in result.evidence] == ["error", "error", "info", "info"]  # type: ignore[union-attr]
    first = result.evidence[0]
    assert first.detail == (
        "03:41:12Z error (×2) timeout acquiring connection from pool (pool=orders-db max=10 in_use=10 "
        "wait_ms=5000 trace_id=4bf92f3577b34da6a3ce929d0e0e4736)"
    )
    assert first.at == datetime(2025, 11, 25, 3, 41, 12, tzinfo=UTC)
    assert isinstance(first.payload, LogLine)
    assert first.payload.labels["pod"] == "checkout-7d9f8b6c5-x2k4q"
    assert result.evidence[1].detail.startswith("03:41:03Z error POST /api/checkout 503")
    # info lines after every error line, newest first
    assert result.evidence[2].detail == "03:44:00Z info health check ok"
    # the start-up line reports configuration: a change line
    assert result.evidence[3].detail == "config: 03:38:10Z info starting checkout (version=v2.14.3 pool_max=10)"
    assert result.evidence[3].payload.config and not result.evidence[2].payload.config  # type: ignore[union-attr]


async def test_request_params(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    err, gen = routes(loki, errors=httpx.Response(200, json=streams()), general=httpx.Response(200, json=streams()))
    request = incident_request()

    await LokiCollector(client, selector='{service="{service}"}', limit=50).collect(request)

    assert err.call_count == 1 and gen.call_count == 1
    for route, query in ((err, ERROR_QUERY), (gen, SELECTOR)):
        params = route.calls.last.request.url.params
        assert params["query"] == query
        assert params["start"] == "1764040500000000000"  # 03:15:00Z in unix ns
        assert params["end"] == "1764042300000000000"  # 03:45:00Z
        assert int(params["end"]) == int(request.window_end.timestamp()) * 10**9
        assert params["direction"] == "backward"
        assert params["limit"] == "50"
    config = next(c.request.url.params for c in loki.calls if c.request.url.params["query"] == CONFIG_QUERY)
    assert config["limit"] == "200"  # change lines are few among many: read further back


async def test_level_from_line_when_no_label(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    stream = {
        "stream": {"service": "checkout"},
        "values": [
            [ns("2025-11-25T03:44:00+00:00"), "level=info msg=ok"],
            [ns("2025-11-25T03:43:00+00:00"), "panic: runtime error: nil map"],
            [ns("2025-11-25T03:42:00+00:00"), "ts=... level=warn msg=slow"],
            [ns("2025-11-25T03:40:00+00:00"), '{"severity":"ERROR","message":"boom"}'],
        ],
    }
    routes(loki, errors=httpx.Response(200, json=streams()), general=httpx.Response(200, json=streams(stream)))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    levels = [e.payload.level for e in result.evidence]  # type: ignore[union-attr]
    assert levels == ["panic", "error", "warn", "info"]  # a Go panic is an error, newest first
    assert result.evidence[0].detail == "03:43:00Z panic panic: runtime error: nil map"
    assert result.evidence[1].detail == "03:40:00Z error boom"


async def test_detected_level_label(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    stream = {"stream": {"detected_level": "ERROR"}, "values": [[ns("2025-11-25T03:44:00+00:00"), "x failed"]]}
    routes(loki, errors=httpx.Response(200, json=streams(stream)), general=httpx.Response(200, json=streams()))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert result.evidence[0].payload.level == "error"  # type: ignore[union-attr]


async def test_cap_keeps_errors_and_truncates_detail(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    infos = {"stream": {"level": "info"},
             "values": [[str(1764042000_000000000 + i * 10**9), f"info line {i}"] for i in range(30)]}
    long_error = {"stream": {"level": "error"},
                  "values": [[str(1764041000_000000000), "E" + "x" * 1000]]}
    routes(loki, errors=httpx.Response(200, json=streams(long_error)),
           general=httpx.Response(200, json=streams(infos)))

    result = await LokiCollector(client, selector=SELECTOR, limit=5).collect(incident_request())

    assert len(result.evidence) == 5
    assert result.evidence[0].payload.level == "error"  # type: ignore[union-attr]
    assert len(result.evidence[0].detail) <= 300 and result.evidence[0].detail.endswith("…")
    assert [e.detail.split()[-1] for e in result.evidence[1:]] == ["29", "28", "27", "26"]


async def test_400_plain_text_reason(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    bad = httpx.Response(400, text=fixture_text("loki/error_400.txt"))
    routes(loki, errors=bad, general=bad)

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error == "HTTP 400: parse error at line 1, col 11: syntax error: unexpected IDENTIFIER, expecting STRING"
    assert result.describe().startswith("Loki: error HTTP 400: parse error")


async def test_500_is_error(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    routes(loki, errors=httpx.Response(500, text="internal"), general=httpx.Response(500, text="internal"))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert (result.status, result.error, result.evidence) == (SourceStatus.ERROR, "HTTP 500", [])
    assert result.elapsed_s > 0


async def test_malformed_json_is_error(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    routes(loki, errors=httpx.Response(200, text="{not json"), general=httpx.Response(200, text="{not json"))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error is not None and result.error.startswith("malformed body: not JSON")


async def test_wrong_shape_is_error(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    matrix = httpx.Response(200, json=fixture_json("loki/query_range_matrix.json"))
    routes(loki, errors=matrix, general=matrix)

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error == "malformed body: resultType 'matrix', expected streams"


async def test_empty_is_no_data(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    routes(loki, errors=httpx.Response(200, json=streams()), general=httpx.Response(200, json=streams()))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert (result.status, result.error, result.evidence) == (SourceStatus.NO_DATA, None, [])


async def test_one_query_failing_is_partial(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    routes(loki, errors=httpx.Response(502), general=httpx.Response(200, json=fixture_json("loki/query_range_streams.json")))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert result.status is SourceStatus.OK
    assert result.error == "1/3 queries failed: errors: HTTP 502"
    assert len(result.evidence) == 3


async def test_timeout_inside_collector(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    loki.get(PATH).mock(side_effect=httpx.ReadTimeout("slow"))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    assert result.status is SourceStatus.TIMEOUT
    assert result.describe() == "Loki: timeout"


@pytest.mark.parametrize(("tenant", "expected"), [("team-a", "team-a"), (None, None)])
async def test_factory_sets_tenant_header(loki: respx.MockRouter, tenant: str | None, expected: str | None) -> None:
    route = loki.get(PATH).mock(return_value=httpx.Response(200, json=streams()))
    settings = Settings(_env_file=None, loki_url=LOKI, loki_tenant=tenant, prometheus_url=None,
                        argocd_url=None, jaeger_url=None)

    async with build_collectors(settings) as collector_set:
        collector = collector_set.collectors[SourceName.LOKI]
        assert collector is not None
        await collector.collect(incident_request())

    assert route.call_count == 3
    for call in route.calls:
        assert call.request.headers.get("X-Scope-OrgID") == expected
    assert {call.request.url.params["query"] for call in route.calls} == {SELECTOR, ERROR_QUERY, CONFIG_QUERY}


async def test_log_evidence_links_to_grafana_explore_only_when_grafana_is_configured(
        loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    body = fixture_json("loki/query_range_streams.json")
    routes(loki, errors=httpx.Response(200, json=body), general=httpx.Response(200, json=body))
    request = incident_request()

    plain = await LokiCollector(client, selector='{service="{service}"}').collect(request)
    assert all(e.link is None for e in plain.evidence)

    linked = await LokiCollector(client, selector='{service="{service}"}', grafana_url="https://grafana.example/",
                                 grafana_datasource="P8E80F9AEF21F6940").collect(request)
    link = httpx.URL(linked.evidence[0].link or "")
    assert (link.host, link.path) == ("grafana.example", "/explore")
    pane = json.loads(link.params["panes"])["sitrep"]
    query = pane["queries"][0]
    assert query["datasource"] == {"type": "loki", "uid": "P8E80F9AEF21F6940"}
    assert query["expr"] == '{service="checkout"} |= "timeout acquiring connection from pool"'
    assert pane["range"] == {"from": str(int(request.window_start.timestamp() * 1000)),
                             "to": str(int(request.window_end.timestamp() * 1000))}


async def test_mixed_formats_fold_into_events_whose_detail_is_the_decisive_line(
        loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    """Loki 3 splits a traceback across ``detected_level`` streams, newest first: the collector
    still shows one event per stack, headed by its innermost exception, and keeps the raw lines."""
    body = fixture_json("loki/query_range_streams_mixed_formats.json")
    routes(loki, errors=httpx.Response(200, json=streams()), general=httpx.Response(200, json=body))

    result = await LokiCollector(client, selector=SELECTOR).collect(incident_request())

    details = [e.detail for e in result.evidence]
    traceback = next(e for e in result.evidence if "QueuePool" in e.detail)
    assert traceback.detail.startswith("03:41:02Z error sqlalchemy.exc.TimeoutError: QueuePool limit of size 5")
    assert 'logged="Exception on /v1/invoices/INV-2025-118734 [GET]"' in traceback.detail
    log = traceback.payload
    assert isinstance(log, LogLine) and log.folded == 56 and log.fmt == "python"
    assert log.line.startswith("[2025-11-25 03:41:02,117] ERROR in app") and "Traceback" in log.line
    assert log.line.endswith("https://sqlalche.me/e/20/3o7r)")  # the raw lines, oldest first
    assert sum("QueuePool" in d or "File \"" in d for d in details) == 1  # no frame is an item of its own
    java = next(e for e in result.evidence if "ServiceUnavailable" in e.detail)
    assert java.detail.startswith("03:41:02Z error org.springframework.web.client.HttpServerErrorException"
                                  "$ServiceUnavailable: 503 Service Unavailable")
    assert not any(d.lstrip("config: ").split(" ", 2)[-1].startswith("at ") for d in details)
    # no timestamps, threads or pids of the line itself in any detail
    assert not any("nio-8080" in d or "--- [" in d or "25/Nov/2025" in d or "E1125" in d for d in details)
    access = [e for e in result.evidence if e.payload.fmt == "access"]  # type: ignore[union-attr]
    assert access and all(e.payload.level == "error" for e in access)  # type: ignore[union-attr]
    klog = next(e for e in result.evidence if "Failed to watch" in e.detail)
    assert klog.payload.level == "error"  # type: ignore[union-attr]


async def test_change_lines_are_kept_beyond_the_cap(loki: respx.MockRouter, client: httpx.AsyncClient) -> None:
    errors = {"stream": {"pod": "checkout-1", "container": "app"},
              "values": [[str(1764042000_000000000 + i * 10**9), f'level=error msg="charge failed" attempt={i}']
                         for i in range(20)]}
    infos = {"stream": {"pod": "checkout-1", "container": "app"},
             "values": [[str(1764041900_000000000 + i * 10**8), f"level=info msg=\"GET /api/cart {i}\""]
                        for i in range(30)]}
    config = {"stream": {"pod": "checkout-1", "container": "app"}, "values": [
        [str(1764041000_000000000), 'level=info msg="payments client configured" timeout=250ms pool_size=4'],
        [str(1764041001_000000000), 'level=warn msg="setting spring.datasource.max-active is deprecated, ignored"'],
        [str(1764041002_000000000), "level=info msg=\"starting checkout version v2.14.3\""],
        [str(1764041003_000000000), 'level=info msg="GET /healthz 200"'],
    ]}
    routes(loki, errors=httpx.Response(200, json=streams(errors)),
           general=httpx.Response(200, json=streams(errors, infos)),
           config=httpx.Response(200, json=streams(config)))

    result = await LokiCollector(client, selector=SELECTOR, limit=5).collect(incident_request())

    changes = [e.detail for e in result.evidence if e.payload.config]  # type: ignore[union-attr]
    assert changes == [  # warnings first, then newest first
        "config: 03:23:21Z warn setting spring.datasource.max-active is deprecated, ignored",
        "config: 03:23:22Z info starting checkout version v2.14.3",
        "config: 03:23:20Z info payments client configured (timeout=250ms pool_size=4)",
    ]
    assert result.evidence[0].detail == "03:40:19Z error (×5) charge failed (attempt=19)"  # the capped errors
    assert len(result.evidence) == 4
    assert not any("healthz" in e.detail for e in result.evidence)
