"""Re-fire deltas: what changed between the evidence behind the last brief and a fresh look."""

from __future__ import annotations

from datetime import timedelta

from bot.analyst.delta import evidence_delta
from bot.models import (
    Deploy,
    Evidence,
    EvidenceSource,
    LogLine,
    MetricSeries,
    SourceName,
    SourceResult,
    SourceStatus,
)
from tests.analyst import scenario
from tests.analyst.scenario import T


def logs(*messages: tuple[str, int]) -> SourceResult:
    evidence = [Evidence(id=f"logs-{i}", source=EvidenceSource.LOGS, at=T,
                         detail=f"03:41:12Z error (×{n}) {m} (pool=orders-db)" if n > 1 else f"03:41:12Z error {m}",
                         payload=LogLine(at=T, line=m, level="error"))
                for i, (m, n) in enumerate(messages, start=1)]
    return SourceResult(source=SourceName.LOKI, status=SourceStatus.OK, evidence=evidence)


def p99(last: float) -> SourceResult:
    points = [(T - timedelta(minutes=m), 0.2 if m > 5 else last) for m in range(30, -1, -1)]
    return SourceResult(source=SourceName.PROMETHEUS, status=SourceStatus.OK, evidence=[Evidence(
        id="metrics-1", source=EvidenceSource.METRICS, detail="p99",
        payload=MetricSeries(name="p99_latency", query="q", points=points))])


def test_the_same_evidence_changes_nothing() -> None:
    results = scenario.checkout_results()
    delta = evidence_delta(results, results)
    assert delta.empty and delta.lines() == [
        "nothing changed: the same errors, metrics steady, no new deploy or failing span"]


def test_new_messages_moved_metrics_new_deploys_and_sources_are_listed() -> None:
    before = [logs(("timeout acquiring connection", 12)), p99(8.2),
              SourceResult(source=SourceName.JAEGER, status=SourceStatus.OK)]
    deploy = Deploy(app="checkout", history_id=14, revision="d" * 40, target_revision="v2.14.4",
                    deployed_at=T, initiated_by="bob", current=True)
    after = [logs(("timeout acquiring connection", 30), ("OOMKilled", 2)), p99(0.3),
             SourceResult(source=SourceName.ARGOCD, status=SourceStatus.OK, evidence=[
                 Evidence(id="deploys-1", source=EvidenceSource.DEPLOYS, detail="d", payload=deploy)]),
             SourceResult(source=SourceName.JAEGER, status=SourceStatus.TIMEOUT, error="timeout")]
    lines = evidence_delta(before, after).lines()
    assert lines[0] == "new deploy: checkout v2.14.4 (ddddddd, history 14) by bob"
    assert "p99 latency: 8.2 s → 300 ms" in lines
    assert 'new log message (2×): "OOMKilled"' in lines
    assert not any("timeout acquiring connection" in line for line in lines)  # seen before
    assert any(line.startswith("Jaeger stopped answering") for line in lines)


def test_messages_that_stopped_are_said() -> None:
    delta = evidence_delta([logs(("timeout acquiring connection", 12))], [logs()])
    assert delta.lines() == ['stopped: "timeout acquiring connection"']
