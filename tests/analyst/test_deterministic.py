from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest

from bot.analyst.deterministic import DeterministicAnalyzer
from bot.analyst.grounding import validate_draft
from bot.models import (
    ActionKind,
    Category,
    Confidence,
    Evidence,
    EvidenceSource,
    MetricSeries,
    SourceName,
    SourceResult,
    SourceStatus,
    Trace,
)
from tests.analyst import scenario
from tests.analyst.scenario import SHA_13, T, missing


def analyse(results: list[SourceResult]):
    return DeterministicAnalyzer().analyse(scenario.request(), results)


def test_names_the_deploy_and_proposes_rollback_to_the_previous_revision() -> None:
    results = scenario.checkout_results()
    draft = analyse(results)

    assert draft.category is Category.DEPLOY_REGRESSION
    assert draft.root_cause.service == "checkout"
    assert "v2.14.3" in draft.root_cause.statement
    assert "history 13" in draft.root_cause.statement
    assert "3 min before" in draft.root_cause.statement
    assert "200 ms → 8.2 s" in draft.root_cause.statement
    assert "orders-db" in draft.root_cause.statement
    assert "timeout acquiring connection from pool orders-db" in draft.root_cause.statement
    assert draft.root_cause.confidence is Confidence.MEDIUM
    assert 50 <= draft.root_cause.confidence_score <= 70

    rollback = draft.actions[0]
    assert rollback.kind is ActionKind.ROLLBACK
    assert rollback.params == {"to_revision": scenario.SHA_12, "history_id": 12, "label": "v2.14.2 (8b1e0f4)"}
    assert (rollback.target.service, rollback.target.namespace, rollback.target.app) == (
        "checkout",
        "shop",
        "checkout",
    )
    assert "v2.14.3" in draft.title
    assert "orders-db" in draft.affected_services
    assert draft.unknowns == []


def test_cites_only_collected_ids_and_each_source_with_data() -> None:
    results = scenario.checkout_results()
    draft = analyse(results)
    cited = draft.cited_ids()
    assert cited <= scenario.all_ids(results)
    assert {"metrics-1", "deploys-3", "deploys-2"} <= cited
    assert {ref.source for ref in draft.evidence} == {
        EvidenceSource.LOGS,
        EvidenceSource.METRICS,
        EvidenceSource.DEPLOYS,
        EvidenceSource.TRACES,
    }
    # the rule-based brief passes the same checks as a model's
    validate_draft(
        draft.model_dump(mode="json"),
        request=scenario.request(),
        results=results,
        evidence_ids=scenario.all_ids(results),
    )


def test_summary_has_at_most_three_bullets_each_with_numbers() -> None:
    draft = analyse(scenario.checkout_results())
    assert 1 <= len(draft.summary) <= 3
    assert all(re.search(r"\d", bullet) for bullet in draft.summary)
    assert any("200 ms → 8.2 s" in bullet for bullet in draft.summary)


@pytest.mark.parametrize("results", [[], None], ids=["no results", "all skipped"])
def test_nothing_checked(results: list[SourceResult] | None) -> None:
    if results is None:
        results = [missing(source, SourceStatus.SKIPPED) for source in SourceName]
    draft = analyse(results)
    assert draft.category is Category.UNKNOWN
    assert draft.root_cause.confidence is Confidence.LOW
    assert draft.evidence == []
    assert [a.kind for a in draft.actions] == [ActionKind.MANUAL]
    text = draft.actions[0].params["text"]
    assert "LOKI_URL" in text and "PROMETHEUS_URL" in text and "JAEGER_URL" in text
    assert "nothing could be checked" in draft.root_cause.statement.lower()
    if results:
        assert "Loki: not configured" in draft.unknowns
        assert "ArgoCD: not configured" in draft.unknowns


def test_failed_sources_are_unknowns_and_named_in_the_manual_step() -> None:
    results = [
        missing(SourceName.LOKI, SourceStatus.TIMEOUT),
        missing(SourceName.PROMETHEUS, SourceStatus.ERROR, "HTTP 503"),
        missing(SourceName.ARGOCD, SourceStatus.SKIPPED),
        missing(SourceName.JAEGER, SourceStatus.NO_DATA),
    ]
    draft = analyse(results)
    assert draft.unknowns == [
        "Loki: timeout",
        "Prometheus: error HTTP 503",
        "ArgoCD: not configured",
        "Jaeger: no data",
    ]
    text = draft.actions[0].params["text"]
    assert "ARGOCD_URL" in text and "LOKI_URL" not in text
    assert "Loki, Prometheus" in text


def test_partial_logs_only() -> None:
    results = [
        scenario.logs(),
        missing(SourceName.PROMETHEUS, SourceStatus.TIMEOUT),
        missing(SourceName.ARGOCD, SourceStatus.ERROR, "HTTP 403"),
        missing(SourceName.JAEGER, SourceStatus.SKIPPED),
    ]
    draft = analyse(results)
    assert draft.category is Category.ERRORS
    assert draft.root_cause.confidence is Confidence.LOW
    assert "Prometheus: timeout" in draft.unknowns
    assert "ArgoCD: error HTTP 403" in draft.unknowns
    assert draft.cited_ids() <= scenario.all_ids(results)
    assert any(ref.source is EvidenceSource.LOGS for ref in draft.evidence)
    assert all(a.kind is not ActionKind.ROLLBACK for a in draft.actions)
    assert any("13 error log lines" in bullet for bullet in draft.summary)


def test_without_deploy_evidence_a_latency_spike_gets_restart_and_manual() -> None:
    results = [scenario.metrics(), missing(SourceName.ARGOCD, SourceStatus.TIMEOUT)]
    draft = analyse(results)
    assert draft.category is Category.LATENCY
    assert [a.kind for a in draft.actions] == [ActionKind.RESTART, ActionKind.MANUAL]
    assert draft.root_cause.confidence is Confidence.LOW


def test_deploy_long_before_the_onset_is_not_blamed() -> None:
    deploys = scenario.deploys()
    for item in deploys.evidence:
        if item.payload is not None and item.payload.kind == "deploy":
            item.payload.deployed_at -= timedelta(hours=5)
    draft = analyse([scenario.logs(), scenario.metrics(), deploys])
    assert draft.category is not Category.DEPLOY_REGRESSION
    assert all(a.kind is not ActionKind.ROLLBACK for a in draft.actions)
    assert "no deploy within 2 h" in draft.root_cause.statement


def test_failing_dependency_without_deploy_is_a_dependency_incident() -> None:
    draft = analyse([scenario.traces(), missing(SourceName.ARGOCD, SourceStatus.SKIPPED)])
    assert draft.category is Category.DEPENDENCY
    assert draft.root_cause.service == "orders-db"
    assert all(a.kind is not ActionKind.RESTART for a in draft.actions)
    assert "orders-db" in draft.actions[-1].params["text"]


def test_deploys_only_and_no_symptom() -> None:
    draft = analyse([scenario.deploys()])
    assert draft.category is Category.UNKNOWN
    assert draft.root_cause.confidence is Confidence.LOW
    assert "deploys-3" in draft.cited_ids()
    assert any("Latest deploy v2.14.3 (c4d5e6f, history 13)" in bullet for bullet in draft.summary)


def test_odd_payloads_do_not_crash() -> None:
    weird = SourceResult(
        source=SourceName.PROMETHEUS,
        status=SourceStatus.OK,
        evidence=[
            Evidence(id="metrics-1", source=EvidenceSource.METRICS, detail="empty",
                     payload=MetricSeries(name="p99_latency", query="q", points=[])),
            Evidence(id="metrics-2", source=EvidenceSource.METRICS, detail="nan",
                     payload=MetricSeries(name="error_ratio", query="q",
                                          points=[(T, math.nan), (T, math.inf)])),
            Evidence(id="metrics-3", source=EvidenceSource.METRICS, detail="no payload"),
        ],
    )
    traces = SourceResult(
        source=SourceName.JAEGER,
        status=SourceStatus.OK,
        evidence=[
            Evidence(id="traces-1", source=EvidenceSource.TRACES, detail="spanless",
                     payload=Trace(trace_id="t", root_service="checkout", root_operation="GET /",
                                   start=T, duration_ms=5, error=True)),
        ],
    )
    draft = analyse([weird, traces])
    assert draft.cited_ids() <= {"metrics-1", "metrics-2", "metrics-3", "traces-1"}
    assert draft.root_cause.confidence is Confidence.LOW


def test_rollback_uses_the_sha_when_the_previous_entry_has_no_tag() -> None:
    deploys = scenario.deploys()
    deploys.evidence[1].payload.target_revision = None  # type: ignore[union-attr]
    draft = analyse([scenario.metrics(), deploys, scenario.logs()])
    rollback = draft.actions[0]
    assert rollback.params["history_id"] == 12
    assert rollback.params["to_revision"] == scenario.SHA_12
    assert SHA_13[:7] in draft.root_cause.statement


def test_merged_log_lines_count_by_their_multiplicity() -> None:
    """The Loki collector merges identical messages into one item, ``(×N)`` in its detail."""
    logs = scenario.logs()
    access = logs.evidence[-1]  # "POST /api/checkout 503"
    access.detail = f"(×40) {access.detail}"
    draft = analyse([logs])
    assert "POST /api/checkout 503" in draft.root_cause.statement
    assert "(40 of 52 error lines)" in draft.root_cause.statement


def _latency_only(values: list[float]) -> list[SourceResult]:
    """A p99 series (one point a minute up to T), healthy logs and no deploy near it."""
    points = [(T - timedelta(minutes=len(values) - 1 - i), v) for i, v in enumerate(values)]
    metrics = SourceResult(source=SourceName.PROMETHEUS, status=SourceStatus.OK, elapsed_s=0.1, evidence=[
        Evidence(id="metrics-1", source=EvidenceSource.METRICS, detail="p99_latency for search",
                 payload=MetricSeries(name="p99_latency", query="q", points=points))])
    return [metrics, missing(SourceName.LOKI, SourceStatus.NO_DATA)]


def test_a_spike_that_has_cleared_is_called_a_false_alarm_and_nothing_is_restarted() -> None:
    draft = analyse(_latency_only([0.3] * 20 + [2.4, 2.5] + [0.3] * 5))
    assert "back to baseline" in draft.title
    assert "transient spike or a false alarm" in draft.root_cause.statement
    assert [a.kind for a in draft.actions] == [ActionKind.MANUAL]
    assert "false alarm" in draft.actions[0].params["text"]


def test_a_spike_still_high_at_the_end_is_not_called_transient() -> None:
    draft = analyse(_latency_only([0.3] * 20 + [2.4, 2.5, 2.6, 0.3, 2.4]))
    assert "false alarm" not in draft.root_cause.statement
    assert ActionKind.RESTART in [a.kind for a in draft.actions]
