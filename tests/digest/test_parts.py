"""Metric, deploy and trace digests, and the token budget across all of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.digest.budget import Part, fit
from bot.digest.deploys import digest_deploys
from bot.digest.metrics import change_point, digest_series, fmt_value
from bot.digest.traces import digest_traces
from bot.models import Deploy, MetricSeries, Span, Trace

NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)


def series(name: str, before: float, after: float, *, change_at: int = 40, n: int = 60) -> MetricSeries:
    points = [(NOW - timedelta(minutes=n - i), before if i < change_at else after) for i in range(n)]
    return MetricSeries(name=name, query="q", points=points)


def test_a_step_in_a_series_is_found_with_its_time_and_levels() -> None:
    digest = digest_series("metrics-1", series("p99_latency", 0.2, 8.2))
    assert digest is not None and digest.changed
    assert digest.changed_at == NOW - timedelta(minutes=20)
    assert digest.line(fmt_time=lambda t: t.strftime("%H:%M")) == (
        "[metrics-1] p99_latency 200 ms → 8.2 s ↑ at 03:25 (peak 8.2 s)")


def test_noise_is_not_a_change() -> None:
    wobbly = MetricSeries(name="request_rate", query="q", points=[
        (NOW - timedelta(minutes=60 - i), 100 + (i % 5)) for i in range(60)])
    digest = digest_series("metrics-3", wobbly)
    assert digest is not None and not digest.changed
    assert "flat at" in digest.line(fmt_time=str)


def test_change_point_on_short_and_long_series() -> None:
    assert change_point([1, 1, 1]) is None
    assert change_point([1, 1, 1, 1, 9, 9, 9]) == 4


def test_units_read_like_an_engineer_writes_them() -> None:
    assert fmt_value("p99_latency", 0.25) == "250 ms"
    assert fmt_value("error_ratio", 0.123) == "12.3 %"
    assert fmt_value("memory", 1.5 * 2**30) == "1.5 GiB"


def deploy(history: int, minutes_ago: float, *, current: bool = False, tag: str | None = None) -> Deploy:
    return Deploy(app="checkout", history_id=history, revision=f"{history:040x}", target_revision=tag,
                  deployed_at=NOW - timedelta(minutes=minutes_ago), current=current, initiated_by="alice")


def test_deploys_near_the_onset_come_first_with_their_delay() -> None:
    history = [("deploys-1", deploy(11, 2 * 24 * 60)), ("deploys-2", deploy(12, 26 * 60, tag="v2.14.2")),
               ("deploys-3", deploy(13, 6, current=True, tag="v2.14.3"))]
    items = digest_deploys(history, onset=NOW - timedelta(minutes=3), now=NOW)
    assert [i.evidence_id for i in items] == ["deploys-3", "deploys-2"]  # the 2-day-old one is gone
    assert "3 min before the onset (CURRENT)" in items[0].line(fmt_time=str)
    assert "by alice" in items[0].line(fmt_time=str)


def test_failing_spans_are_grouped_and_the_deepest_failing_service_named() -> None:
    def trace(n: int) -> tuple[str, Trace]:
        spans = [Span(span_id="a", service="frontend", operation="GET /", start=NOW, duration_ms=2400, error=True),
                 Span(span_id="b", parent_id="a", service="orders", operation="GET /api", start=NOW,
                      duration_ms=2300, error=True),
                 Span(span_id="c", parent_id="b", service="orders-db", operation="SELECT", start=NOW,
                      duration_ms=2200, error=True)]
        return f"traces-{n}", Trace(trace_id=str(n), root_service="frontend", root_operation="GET /", start=NOW,
                                    duration_ms=2400, error=True, spans=spans)
    digest = digest_traces([trace(1), trace(2)])
    assert digest.deepest_failing == "orders-db"
    assert digest.edges == [("frontend", "orders"), ("orders", "orders-db")]
    assert digest.groups[0].line() == "[traces-1,traces-2] orders-db SELECT: 2 spans, 2 failing, worst 2200 ms, depth 2"


def test_the_budget_drops_the_least_informative_parts_first_and_says_so() -> None:
    parts = [Part("logs", "log template", "error " * 40, 92, frozenset({"logs-1"})),
             *[Part("logs", "log template", f"info line {i} " * 10, 20) for i in range(30)],
             Part("metrics", "flat metric", "request_rate flat " * 5, 10),
             Part("deploys", "deploy", "v2.14.3 3 min before the onset " * 3, 97)]
    result = fit(parts, budget=200)
    assert result.tokens <= 200
    kinds = [p.kind for p in result.kept]
    assert kinds[0] == "log template" and "deploy" in kinds and "flat metric" not in kinds
    assert result.kept[0].ids == {"logs-1"}
    assert result.note() is not None and "1 flat metric" in result.note() and "log templates" in result.note()
    assert fit(parts, budget=100_000).note() is None
