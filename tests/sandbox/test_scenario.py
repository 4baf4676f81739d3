"""The ``bad_deploy`` scenario: deterministic, relative to ``now``, consistent across sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.sandbox.scenario import Scenario, ScenarioFeed

NOW = datetime(2025, 11, 25, 3, 44, 12, tzinfo=UTC)


def test_fields_tests_rely_on() -> None:
    s = Scenario(now=NOW)
    assert (s.service, s.namespace) == ("checkout", "shop")
    assert (s.culprit_revision, s.culprit_history_id) == ("v2.14.3", 13)
    assert (s.previous_revision, s.previous_history_id) == ("v2.14.2", 12)
    assert (s.root_cause_service, s.failing_dependency) == ("checkout", "orders-db")
    assert s.deployed_at == NOW - timedelta(minutes=6)
    assert s.onset == NOW - timedelta(minutes=3)


def test_generation_is_deterministic_and_relative_to_now() -> None:
    a, b = Scenario(now=NOW), Scenario(now=NOW)
    assert a.log_entries == b.log_entries
    assert a.jaeger_traces == b.jaeger_traces
    assert a.argocd_application() == b.argocd_application()
    later = a.at(NOW + timedelta(hours=1))
    shift = 3600 * 10**9
    assert [e.ts_ns + shift for e in a.log_entries] == [e.ts_ns for e in later.log_entries]
    assert a.metric_value("p99_latency", a.onset_s + 30) == later.metric_value("p99_latency", later.onset_s + 30)
    assert Scenario(now=NOW, seed=8).log_entries != a.log_entries


def test_sources_agree() -> None:
    s = Scenario(now=NOW)
    error_trace_ids = {t["traceID"] for t in s.jaeger_traces[2:]}
    logged = {json.loads(e.line).get("trace_id") for e in s.log_entries}
    assert error_trace_ids & logged, "error logs point at erroring traces"
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in error_trace_ids
    history = s.argocd_application()["status"]["history"]
    assert history[-1]["deployedAt"] == "2025-11-25T03:38:12Z"
    assert s.metric_value("p99_latency", s.onset_s - 1) < 0.3 < 8 < s.metric_value("p99_latency", s.onset_s)
    assert 200 <= len(s.log_entries) <= 600


def test_live_feed_follows_the_clock_and_fixed_feed_does_not() -> None:
    fixed = ScenarioFeed(Scenario(now=NOW))
    assert fixed.current().now == NOW
    live = ScenarioFeed(Scenario(now=NOW), live=True)
    assert live.current().now > NOW + timedelta(days=1)
    assert live.current().now.microsecond == 0
