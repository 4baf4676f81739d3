from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from bot.collectors.argocd import ArgoCDCollector
from bot.collectors.base import Collector
from bot.collectors.factory import CollectorSet, build_collectors
from bot.collectors.gather import gather_sources
from bot.collectors.jaeger import JaegerCollector
from bot.collectors.kubernetes import KubernetesCollector
from bot.collectors.loki import LokiCollector
from bot.collectors.prometheus import PrometheusCollector
from bot.models import InvestigationRequest, SourceName, SourceResult, SourceStatus
from bot.settings import Settings
from tests.collectors.support import incident_request

L, P, A, J = SourceName.LOKI, SourceName.PROMETHEUS, SourceName.ARGOCD, SourceName.JAEGER
K = SourceName.KUBERNETES


class FakeCollector:
    def __init__(self, source: SourceName, *, delay: float = 0.0, raises: Exception | None = None,
                 status: SourceStatus = SourceStatus.OK, report_as: SourceName | None = None) -> None:
        self.source = source
        self.delay = delay
        self.raises = raises
        self.status = status
        self.report_as = report_as
        self.calls = 0

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.raises is not None:
            raise self.raises
        return SourceResult(source=self.report_as or self.source, status=self.status, elapsed_s=123.0)


async def gather(collectors: Mapping[SourceName, Collector | None], *, source_budget: float = 2.0,
                 total_budget: float = 3.0, **kw: object) -> tuple[list[SourceResult], float]:
    started = time.perf_counter()
    results = await gather_sources(collectors, incident_request(), source_budget=source_budget,
                                   total_budget=total_budget, **kw)  # type: ignore[arg-type]
    return results, time.perf_counter() - started


async def test_fake_satisfies_protocol() -> None:
    assert isinstance(FakeCollector(L), Collector)


async def test_one_result_per_source_in_enum_order_with_skipped() -> None:
    results, _ = await gather({J: FakeCollector(J), P: None, L: FakeCollector(L, status=SourceStatus.NO_DATA)})

    assert [r.source for r in results] == [L, P, A, J, K]
    assert [r.status for r in results] == [SourceStatus.NO_DATA, SourceStatus.SKIPPED,
                                           SourceStatus.SKIPPED, SourceStatus.OK, SourceStatus.SKIPPED]
    assert results[1].describe() == "Prometheus: not configured"
    assert results[1].elapsed_s == 0.0


async def test_runs_concurrently() -> None:
    delays = {L: 0.3, P: 0.2, A: 0.25, J: 0.1, K: 0.15}

    results, wall = await gather({s: FakeCollector(s, delay=d) for s, d in delays.items()})

    assert all(r.status is SourceStatus.OK for r in results)
    assert 0.3 <= wall < 0.45  # about the slowest (0.3 s), far below the sum (1 s)
    for r in results:  # elapsed is measured by gather, not taken from the collector
        assert delays[r.source] <= r.elapsed_s < delays[r.source] + 0.1


async def test_hanging_source_times_out_within_budget_while_others_succeed() -> None:
    collectors = {L: FakeCollector(L, delay=0.05), P: FakeCollector(P, delay=30),
                  A: FakeCollector(A, delay=0.1), J: FakeCollector(J, delay=0.05)}

    results, wall = await gather(collectors, source_budget=0.3, total_budget=2.0)

    assert wall < 0.3 + 0.1
    by_source = {r.source: r for r in results}
    assert by_source[P].status is SourceStatus.TIMEOUT
    assert by_source[P].elapsed_s == 0.3
    assert by_source[P].describe() == "Prometheus: timeout"
    assert [by_source[s].status for s in (L, A, J)] == [SourceStatus.OK] * 3


async def test_total_budget_caps_everything() -> None:
    collectors = {L: FakeCollector(L, delay=30), J: FakeCollector(J, delay=0.05)}

    results, wall = await gather(collectors, source_budget=10.0, total_budget=0.3)

    assert wall < 0.3 + 0.1
    by_source = {r.source: r for r in results}
    assert by_source[L].status is SourceStatus.TIMEOUT
    assert 0.3 <= by_source[L].elapsed_s < 0.4
    assert by_source[J].status is SourceStatus.OK


async def test_exception_becomes_error_and_is_logged() -> None:
    collectors = {L: FakeCollector(L, raises=RuntimeError("kaboom")), J: FakeCollector(J)}

    with capture_logs() as logs:
        results, _ = await gather(collectors)

    by_source = {r.source: r for r in results}
    assert (by_source[L].status, by_source[L].error) == (SourceStatus.ERROR, "RuntimeError")
    assert by_source[L].describe() == "Loki: error RuntimeError"
    assert by_source[J].status is SourceStatus.OK
    failures = [entry for entry in logs if entry["event"] == "collector_failed"]
    assert len(failures) == 1 and failures[0]["source"] == "loki"


async def test_result_is_attributed_to_its_slot() -> None:
    results, _ = await gather({A: FakeCollector(A, report_as=J)})

    assert [r.source for r in results] == [L, P, A, J, K]
    assert results[2].status is SourceStatus.OK
    assert results[3].status is SourceStatus.SKIPPED
    assert results[2].elapsed_s < 1  # not the collector's own 123.0


async def test_on_result_called_as_each_source_finishes() -> None:
    seen: list[tuple[SourceName, float]] = []
    started = time.perf_counter()

    async def on_result(result: SourceResult) -> None:
        seen.append((result.source, time.perf_counter() - started))

    collectors = {L: FakeCollector(L, delay=0.3), P: FakeCollector(P, delay=0.1), A: None}
    await gather(collectors, on_result=on_result)

    order = [source for source, _ in seen]
    assert set(order[:3]) == {A, J, K}  # the skipped ones at once
    assert order[3:] == [P, L]
    assert dict(seen)[P] < 0.25  # reported before the slow one finished


async def test_failing_or_slow_callback_does_not_lose_results() -> None:
    async def on_result(result: SourceResult) -> None:
        if result.source is L:
            raise ValueError("slack down")
        if result.source is J:
            await asyncio.sleep(30)

    with capture_logs() as logs:
        results, wall = await gather({L: FakeCollector(L), J: FakeCollector(J)}, total_budget=0.3,
                                     on_result=on_result)

    assert wall < 0.3 + 0.25
    assert [r.status for r in results] == [SourceStatus.OK, SourceStatus.SKIPPED,
                                           SourceStatus.SKIPPED, SourceStatus.OK, SourceStatus.SKIPPED]
    assert any(e["event"] == "on_result_failed" and e["source"] == "loki" for e in logs)


# --------------------------------------------------------------------------- the factory


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {"loki_url": None, "prometheus_url": None, "argocd_url": None,
                               "jaeger_url": None, "argocd_token": None, "loki_tenant": None,
                               "kubernetes_api_url": None, "kubernetes_token": None}
    return Settings(_env_file=None, **{**base, **kw})  # type: ignore[arg-type]


async def test_build_collectors_unset_urls_are_none() -> None:
    async with build_collectors(settings()) as collector_set:
        assert collector_set.collectors == {L: None, P: None, A: None, J: None, K: None}
        assert collector_set.configured == []
        results = await gather_sources(collector_set.collectors, incident_request(),
                                       source_budget=1, total_budget=1)
    assert [r.describe() for r in results] == [
        "Loki: not configured", "Prometheus: not configured", "ArgoCD: not configured", "Jaeger: not configured",
        "Kubernetes: not configured",
    ]


async def test_build_collectors_makes_one_client_per_upstream() -> None:
    collector_set = build_collectors(settings(
        loki_url="http://loki.test", prometheus_url="http://prom.test", argocd_url="https://argo.test",
        argocd_token="t", jaeger_url="http://jaeger.test", kubernetes_api_url="https://k8s.test",
        kubernetes_token="k", sitrep_source_timeout=2.5,
    ))
    async with collector_set:
        kinds = {s: type(c) for s, c in collector_set.collectors.items()}
        assert kinds == {L: LokiCollector, P: PrometheusCollector, A: ArgoCDCollector, J: JaegerCollector,
                         K: KubernetesCollector}
        assert len(collector_set.clients) == 5
        assert {str(c.base_url) for c in collector_set.clients} == {
            "http://loki.test", "http://prom.test", "https://argo.test", "http://jaeger.test", "https://k8s.test"}
        assert {c.timeout.read for c in collector_set.clients} == {2.5}
    assert all(c.is_closed for c in collector_set.clients)


async def test_end_to_end_with_factory_and_fake_upstreams() -> None:
    """Real collectors through the factory: one upstream down, one failing, the others answer."""
    s = settings(loki_url="http://loki.test", prometheus_url="http://prom.test",
                 argocd_url="https://argo.test", argocd_token="tok")
    with respx.mock(assert_all_called=False) as router:
        router.get("http://loki.test/loki/api/v1/query_range").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
        router.get("http://prom.test/api/v1/query_range").mock(
            return_value=httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": []}}))
        router.get("https://argo.test/api/v1/applications/checkout").mock(return_value=httpx.Response(503))
        async with build_collectors(s) as collector_set:
            results = await gather_sources(collector_set.collectors, incident_request(),
                                           source_budget=1, total_budget=2)

    assert [r.describe() for r in results] == [
        "Loki: error connection refused", "Prometheus: no data", "ArgoCD: error HTTP 503", "Jaeger: not configured",
        "Kubernetes: not configured",
    ]


@pytest.mark.parametrize("budget", [0.2])
async def test_real_collector_hanging_upstream_times_out(budget: float) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    async with httpx.AsyncClient(base_url="http://jaeger.test", transport=httpx.MockTransport(hang)) as client:
        collector_set = CollectorSet({J: JaegerCollector(client)})
        results, wall = await gather(collector_set.collectors, source_budget=budget, total_budget=1)

    assert wall < budget + 0.1
    assert results[3].status is SourceStatus.TIMEOUT
