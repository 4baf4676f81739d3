"""The rule-based analyzer chooses the remedy by cause: what an on-call engineer would do, not a
rollback of whatever deployed last. Built on the checkout scenario (v2.14.3 deployed 6 min before
the onset), with the evidence each cause leaves."""

from __future__ import annotations

from datetime import timedelta

from bot.analyst.deterministic import DeterministicAnalyzer
from bot.models import (
    ActionKind,
    Category,
    Confidence,
    Deploy,
    Evidence,
    EvidenceSource,
    InvestigationRequest,
    LogLine,
    MetricSeries,
    SourceName,
    SourceResult,
    SourceStatus,
)
from tests.analyst import scenario
from tests.analyst.scenario import ONSET, T

EXECUTABLE = {ActionKind.ROLLBACK, ActionKind.RESTART, ActionKind.SCALE, ActionKind.SYNC, ActionKind.RUNBOOK}


def analyse(results: list[SourceResult], message: str = "checkout is slow, customers see 503s"):  # noqa: ANN201
    return DeterministicAnalyzer().analyse(scenario.request(message=message), results)


def log_lines(*lines: str, service: str | None = None, level: str = "error") -> SourceResult:
    prefix = f"[{service}] " if service else ""
    evidence = [Evidence(id=f"logs-{i}" + (f"-{service}" if service else ""), source=EvidenceSource.LOGS,
                         detail=f"{prefix}{line}", at=ONSET + timedelta(seconds=10 * i),
                         payload=LogLine(at=ONSET + timedelta(seconds=10 * i), line=line, level=level))
                for i, line in enumerate(lines, start=1)]
    return SourceResult(source=SourceName.LOKI, status=SourceStatus.OK, evidence=evidence)


def fact(name: str, values: list[float], *, evidence_id: str, labels: dict[str, str] | None = None) -> Evidence:
    points = [(T - timedelta(minutes=len(values) - 1 - i), v) for i, v in enumerate(values)]
    return Evidence(id=evidence_id, source=EvidenceSource.METRICS, detail=f"{name} fact",
                    payload=MetricSeries(name=name, query="q", labels=labels or {}, points=points))


def with_metrics(*extra: Evidence) -> SourceResult:
    base = scenario.metrics()
    return base.model_copy(update={"evidence": [*base.evidence, *extra]})


def old_deploys(minutes_before_onset: int) -> SourceResult:
    deploys = scenario.deploys()
    for item in deploys.evidence:
        if isinstance(item.payload, Deploy) and item.payload.current:
            item.payload.deployed_at = ONSET - timedelta(minutes=minutes_before_onset)
    return deploys


def kinds(draft) -> list[ActionKind]:  # noqa: ANN001
    return [a.kind for a in draft.actions]


def test_an_expired_certificate_is_never_answered_with_a_rollback() -> None:
    # the errors name another host's certificate; checkout deployed 40 min before the step
    results = [log_lines("POST https://payments.example.com/charge failed: x509: certificate has expired or "
                         "is not yet valid: current time 2026-12-06T03:41:00Z is after 2026-12-05T23:59:59Z"),
               scenario.metrics(), old_deploys(40)]
    draft = analyse(results)
    assert draft.category is Category.CONNECTIVITY
    assert not set(kinds(draft)) & EXECUTABLE
    assert "certificate" in draft.actions[0].params["text"]
    assert "expired TLS certificate" in draft.root_cause.statement


def test_a_full_disk_on_a_followed_dependency_names_it() -> None:
    results = [log_lines("orders: query failed: 503 from orders-db"),
               log_lines("could not extend file \"base/16384/2619\": No space left on device",
                         service="orders-db"),
               scenario.metrics(), old_deploys(50)]
    merged = SourceResult(source=SourceName.LOKI, status=SourceStatus.OK,
                          evidence=[*results[0].evidence, *results[1].evidence])
    draft = analyse([merged, *results[2:]])
    assert draft.category is Category.RESOURCE_EXHAUSTION
    assert draft.root_cause.service == "orders-db"
    assert not set(kinds(draft)) & EXECUTABLE


def test_a_traffic_surge_at_the_hpa_maximum_is_scaled_not_restarted() -> None:
    surge = fact("request_rate_vs_baseline", [100] * 20 + [330] * 10, evidence_id="metrics-9")
    hpa = fact("hpa_at_max", [12] * 8, evidence_id="metrics-10", labels={"horizontalpodautoscaler": "checkout"})
    draft = analyse([scenario.logs(), with_metrics(surge, hpa), scenario.missing(SourceName.ARGOCD,
                                                                                   SourceStatus.NO_DATA)])
    assert draft.category is Category.RESOURCE_EXHAUSTION
    assert kinds(draft)[0] is ActionKind.SCALE
    assert draft.actions[0].params["replicas"] == 24  # 12 × 3.3, at most twice what runs now
    assert ActionKind.RESTART not in kinds(draft) and ActionKind.ROLLBACK not in kinds(draft)


def test_a_leak_after_a_deploy_is_rolled_back_first_with_a_restart_as_stopgap() -> None:
    oom = fact("oom_killed", [0, 1, 2, 3], evidence_id="metrics-9", labels={"pod": "checkout-7d9f8b6c5-x2k4q"})
    draft = analyse([scenario.logs(), with_metrics(oom), scenario.deploys()])
    assert kinds(draft)[:2] == [ActionKind.ROLLBACK, ActionKind.RESTART]


def test_a_dependency_whose_own_deploy_broke_it_is_rolled_back_there() -> None:
    request = InvestigationRequest(service="orders", window_start=T - timedelta(minutes=30), window_end=T)
    payments = Deploy(app="payments", service="payments", history_id=8, revision="b" * 40, target_revision="v3.2.0",
                      deployed_at=ONSET - timedelta(minutes=4), current=True)
    before = Deploy(app="payments", service="payments", history_id=7, revision="a" * 40, target_revision="v3.1.9",
                    deployed_at=ONSET - timedelta(days=2))
    deploys = SourceResult(source=SourceName.ARGOCD, status=SourceStatus.OK, evidence=[
        Evidence(id="deploys-1-payments", source=EvidenceSource.DEPLOYS, detail="[payments] deployed v3.2.0",
                 payload=payments),
        Evidence(id="deploys-2-payments", source=EvidenceSource.DEPLOYS, detail="[payments] deployed v3.1.9",
                 payload=before)])
    errors = log_lines("POST /orders 502: payments answered 500")
    draft = DeterministicAnalyzer().analyse(request, [errors, deploys])
    rollback = draft.actions[0]
    assert rollback.kind is ActionKind.ROLLBACK and rollback.target.service == "payments"
    assert rollback.params["history_id"] == 7 and draft.root_cause.service == "payments"


def test_a_config_only_deploy_is_a_config_incident() -> None:
    from bot.models import ConfigChange

    deploys = scenario.deploys()
    for item in deploys.evidence:
        if isinstance(item.payload, Deploy) and item.payload.current:
            item.payload.changes = [ConfigChange(what="ConfigMap checkout-config UPSTREAM_TIMEOUT",
                                                 before="30s", after="3s")]
    draft = analyse([scenario.logs(), scenario.metrics(), deploys])
    assert draft.category is Category.CONFIG and kinds(draft)[0] is ActionKind.ROLLBACK


def test_a_deploy_long_before_the_onset_is_blamed_only_when_the_errors_name_it() -> None:
    quiet = analyse([scenario.logs(), scenario.metrics(), old_deploys(45)])
    assert ActionKind.ROLLBACK not in kinds(quiet)
    named = analyse([log_lines("panic in v2.14.3: nil map"), scenario.metrics(), old_deploys(45)])
    assert kinds(named)[0] is ActionKind.ROLLBACK
    assert named.root_cause.confidence is Confidence.LOW  # a weak link in time


def test_the_alerts_own_signal_is_the_symptom_not_a_peak_that_cleared() -> None:
    # memory doubles for two minutes during the rollout (old and new pods counted), p99 stays up
    memory = fact("memory", [400e6] * 20 + [800e6, 820e6, 400e6, 400e6, 400e6, 400e6], evidence_id="metrics-9")
    draft = analyse([scenario.logs(), with_metrics(memory), scenario.deploys()], message="HighLatencyP99")
    assert draft.title.startswith("checkout: p99 latency")
