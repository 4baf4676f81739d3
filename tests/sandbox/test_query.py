"""The slices of LogQL/PromQL the fakes understand."""

from __future__ import annotations

import pytest

from bot.sandbox.query import (
    LogQuery,
    MetricQuery,
    QueryError,
    check_promql,
    go_duration,
    loki_time_ns,
    parse_logql,
    prom_duration,
    promql_series,
)
from bot.settings import DEFAULT_PROMQL


@pytest.mark.parametrize(("name", "template"), list(DEFAULT_PROMQL.items()))
def test_default_queries_map_to_their_series(name: str, template: str) -> None:
    query = template.replace("{label}", "service").replace("{service}", "checkout")
    check_promql(query)
    assert promql_series(query) == name


def test_logql_log_query() -> None:
    parsed = parse_logql('{service="checkout", level=~"err.*"} |= "pool" != "debug" |~ `(?i)time`')
    assert isinstance(parsed, LogQuery)
    assert parsed.selects({"service": "checkout", "level": "error"})
    assert not parsed.selects({"service": "checkout", "level": "info"})
    assert parsed.keeps({}, "Timeout acquiring pool")
    assert not parsed.keeps({}, "debug pool Timeout")


def test_logql_metric_query() -> None:
    parsed = parse_logql('sum by (level) (count_over_time({service="checkout"} |= "x" [5m]))')
    assert isinstance(parsed, MetricQuery)
    assert (parsed.function, parsed.range_s, parsed.aggregation, parsed.by) == ("count_over_time", 300, "sum", ("level",))
    trailing = parse_logql('sum(rate({service="checkout"}[1m])) by (pod)')
    assert isinstance(trailing, MetricQuery) and trailing.by == ("pod",)


@pytest.mark.parametrize("query", ["", "checkout", '{service="checkout"', '{service=~".*"}',
                                   '{service="checkout"} |= ', '{service="checkout"} |~ "["'])
def test_logql_errors(query: str) -> None:
    with pytest.raises(QueryError):
        parse_logql(query)


def test_times_and_durations() -> None:
    assert loki_time_ns("1764042072") == 1764042072 * 10**9
    assert loki_time_ns("1764042072000000000") == 1764042072 * 10**9
    assert loki_time_ns("2025-11-25T03:41:12Z") == 1764042072 * 10**9
    assert go_duration("500ms") == 0.5 and go_duration("1m30s") == 90
    assert prom_duration("15s") == 15 and prom_duration("1h30m") == 5400 and prom_duration("30") == 30
    with pytest.raises(QueryError):
        go_duration("fast")
