"""Queries are built, not concatenated: a service or namespace that is not a name is refused before
any upstream call; names that pass are escaped where they land in a LogQL or PromQL string."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.collectors.gather import gather_sources
from bot.collectors.loki import LokiCollector
from bot.collectors.names import NameRule
from bot.collectors.prometheus import PrometheusCollector
from bot.models import InvestigationRequest, SourceName, SourceStatus
from bot.settings import Settings

END = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)
INJECTIONS = [
    'cart", namespace=~".+',
    'cart"} or vector(1) or {x="',
    "cart\n",
    "Cart",
    "cart`",
    "../cart",
]


def request(service: str, namespace: str | None = None) -> InvestigationRequest:
    return InvestigationRequest(service=service, namespace=namespace, window_start=END - timedelta(minutes=30),
                                window_end=END)


@pytest.mark.parametrize("service", INJECTIONS)
async def test_an_injection_attempt_is_refused_before_any_upstream_call(service: str) -> None:
    calls: list[httpx.Request] = []

    def upstream(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": []}})

    settings = Settings(_env_file=None)
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream), base_url="http://up") as client:
        collectors = {SourceName.LOKI: LokiCollector(client, selector=settings.loki_selector_for),
                      SourceName.PROMETHEUS: PrometheusCollector(client, queries=settings.promql_for)}
        results = await gather_sources(collectors, request(service), source_budget=2, total_budget=3)
    assert calls == []
    by_source = {r.source: r for r in results}
    for source in (SourceName.LOKI, SourceName.PROMETHEUS):
        assert by_source[source].status is SourceStatus.ERROR
        assert "refused" in (by_source[source].error or "") and "not a valid name" in (by_source[source].error or "")


async def test_a_bad_namespace_is_refused_and_the_pattern_is_configurable() -> None:
    assert NameRule().check(request("cart", 'shop",x="')) is not None
    assert NameRule().check(request("cart", "shop")) is None
    assert NameRule(r"^[A-Za-z]+$").check(request("Cart")) is None


def test_names_that_pass_are_still_escaped_in_strings() -> None:
    settings = Settings(_env_file=None, sitrep_loki_selector='{app="{service}"}')
    assert settings.loki_selector_for('a"b') == '{app="a\\"b"}'
    assert all('a\\"b' in query for query in Settings(_env_file=None).promql_for('a"b').values())
