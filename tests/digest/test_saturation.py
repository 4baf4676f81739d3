from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.digest.metrics import digest_series
from bot.digest.saturation import REQUEST_RATE_FACT, fact_of, facts_for, transient_peak
from bot.models import MetricSeries

START = datetime(2025, 11, 25, 3, 20, tzinfo=UTC)
END = START + timedelta(minutes=29)


def series(name: str, values: list[float], **labels: str) -> MetricSeries:
    return MetricSeries(name=name, query="q", labels=labels,
                        points=[(START + timedelta(minutes=i), v) for i, v in enumerate(values)])


def texts(name: str, *items: MetricSeries) -> list[str]:
    return [f.text for f in facts_for(name, list(items), ref=END)]


def test_request_rate_against_its_baseline() -> None:
    surge = series("request_rate", [420.0] * 18 + [1300.0] * 12)
    [fact] = facts_for("request_rate", [surge], ref=END)
    assert fact.text == "request rate 3.1× baseline (420 → 1300 req/s)"
    assert fact.series.name == REQUEST_RATE_FACT and fact.series.points == surge.points
    assert fact.at == START + timedelta(minutes=18)
    assert texts("request_rate", series("request_rate", [42.0] * 15 + [39.5] * 15)) == []
    assert texts("request_rate", series("request_rate", [40.0] * 18 + [8.0] * 12)) == [
        "request rate 0.20× baseline (40 → 8.0 req/s)"]


def test_cpu_throttling_names_the_worst_pod() -> None:
    calm = series("cpu_throttling", [0.05] * 30, pod="api-1", container="api")
    hot = series("cpu_throttling", [0.1] * 15 + [0.41] * 15, pod="api-2", container="api")
    assert texts("cpu_throttling", calm, hot) == ["CPU throttled 41% (pod api-2, container api)"]
    assert texts("cpu_throttling", calm) == []


def test_memory_against_its_limit_per_pod() -> None:
    near = series("memory_vs_limit", [0.5 + i * 0.016 for i in range(30)], pod="cart-1", container="app")
    assert texts("memory_vs_limit", near) == ["memory 96% of limit (pod cart-1, container app) at 03:49Z"]
    assert texts("memory_vs_limit", series("memory_vs_limit", [0.55] * 30, pod="cart-1")) == []


def test_oom_killed_restarts() -> None:
    a = series("oom_killed", [1.0, 2.0, 2.0], pod="cart-1", container="app")
    b = series("oom_killed", [1.0], pod="cart-2", container="app")
    assert texts("oom_killed", a, b) == ["3 OOMKilled restarts in 15m (2 pods, e.g. cart-1), first at 03:20Z"]
    assert texts("oom_killed", series("oom_killed", [1.02], pod="cart-1")) == [
        "1 OOMKilled restart in 15m (pod cart-1), first at 03:20Z"]


def test_hpa_at_max_now_and_earlier() -> None:
    now = MetricSeries(name="hpa_at_max", query="q", labels={"horizontalpodautoscaler": "invoices"},
                       points=[(END - timedelta(minutes=m), 12.0) for m in (8, 4, 0)])
    assert texts("hpa_at_max", now) == ["HPA invoices at max 12/12 replicas since 03:41Z"]
    earlier = series("hpa_at_max", [12.0, 12.0], horizontalpodautoscaler="invoices")
    assert texts("hpa_at_max", earlier) == ["HPA invoices was at max 12/12 replicas 03:20Z–03:21Z"]


def test_filesystem_nearly_full() -> None:
    full = series("filesystem_available", [0.3] * 10 + [0.02] * 20, mountpoint="/var/lib/postgresql",
                  instance="db-0")
    assert texts("filesystem_available", full) == ["/var/lib/postgresql 2% free on db-0 at 03:30Z"]
    assert texts("filesystem_available", series("filesystem_available", [0.4] * 30, mountpoint="/")) == []


def test_probe_and_certificate() -> None:
    probe = series("probe_success", [1.0] * 20 + [0.4] * 10, instance="https://payments.example.com/health")
    assert texts("probe_success", probe) == [
        "probe https://payments.example.com/health success 0.4 (5m average, recent)"]
    expired = series("cert_expiry_days", [-1.6, -1.8, -2.0], instance="https://payments.example.com")
    assert texts("cert_expiry_days", expired) == [
        "certificate for https://payments.example.com expires in -2 days (expired)"]
    soon = series("cert_expiry_days", [6.2, 6.1], instance="https://shop.example.com")
    assert texts("cert_expiry_days", soon) == ["certificate for https://shop.example.com expires in 6 days (expiring)"]
    assert texts("cert_expiry_days", series("cert_expiry_days", [61.0])) == []


@pytest.mark.parametrize("name", ["cpu_throttling", "memory_vs_limit", "oom_killed", "hpa_at_max",
                                  "filesystem_available", "probe_success", "cert_expiry_days", "request_rate"])
def test_no_series_or_no_numbers_is_no_fact(name: str) -> None:
    assert facts_for(name, []) == []
    assert facts_for(name, [series(name, [float("nan")] * 5)]) == []


def test_unknown_query_gives_nothing() -> None:
    assert facts_for("p99_latency", [series("p99_latency", [0.2] * 10 + [8.0] * 10)]) == []


def test_the_digest_says_a_fact_as_its_fact() -> None:
    near = series("memory_vs_limit", [0.5] * 20 + [0.97] * 10, pod="cart-1")
    digest = digest_series("metrics-7", near)
    assert digest is not None and digest.changed
    assert digest.line(fmt_time=lambda t: t.strftime("%H:%MZ")) == "[metrics-7] memory 97% of limit (pod cart-1) at 03:40Z"
    assert fact_of(near) is not None
    assert fact_of(series("memory", [1.0] * 10)) is None


def test_a_sum_that_doubles_during_a_rollout_is_transient_not_a_change() -> None:
    values = [1.13e9] * 13 + [1.17e9, 1.72e9, 2.19e9, 2.28e9, 2.26e9, 1.69e9] + [1.11e9] * 22
    rollout = series("memory", values, namespace="web", container="profile")
    assert transient_peak(rollout) is not None
    digest = digest_series("metrics-5", rollout)
    assert digest is not None and not digest.changed and digest.transient
    line = digest.line(fmt_time=lambda t: t.strftime("%H:%MZ"))
    assert line.startswith("[metrics-5] memory flat at 1.0 GiB (transient peak 2.1 GiB at 03:36Z, back to baseline)")


def test_a_late_step_is_not_transient() -> None:
    step = series("p99_latency", [0.2] * 34 + [8.2] * 6)  # the last 15 %: still up, a real change
    assert transient_peak(step) is None
    digest = digest_series("metrics-3", step)
    assert digest is not None and digest.changed
