"""Following the failure: when the alerting service's traces fail deepest in another service, or its
error lines name a known peer, that service's logs and deploys are read too, within the budget, and
the brief says which services were examined."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.analyst.chain import Analyst
from bot.analyst.deterministic import DeterministicAnalyzer
from bot.models import (
    Deploy,
    Evidence,
    EvidenceSource,
    InvestigationRequest,
    LogLine,
    SourceName,
    SourceResult,
    SourceStatus,
    Span,
    Trace,
)
from bot.service.investigate import Investigator
from bot.service.suspects import pick_suspects

NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)


def log_result(service: str, lines: list[str], *, level: str = "error") -> SourceResult:
    return SourceResult(source=SourceName.LOKI, status=SourceStatus.OK, evidence=[
        Evidence(id=f"logs-{i}", source=EvidenceSource.LOGS, detail=line, at=NOW,
                 payload=LogLine(at=NOW, line=line, level=level, labels={"service": service}))
        for i, line in enumerate(lines, start=1)])


def trace_result(failing: str) -> SourceResult:
    spans = [Span(span_id="a", service="orders", operation="POST /orders", start=NOW, duration_ms=900, error=True),
             Span(span_id="b", parent_id="a", service=failing, operation="charge", start=NOW, duration_ms=850,
                  error=True)]
    trace = Trace(trace_id="t1", root_service="orders", root_operation="POST /orders", start=NOW, duration_ms=900,
                  error=True, spans=spans)
    return SourceResult(source=SourceName.JAEGER, status=SourceStatus.OK, evidence=[
        Evidence(id="traces-1", source=EvidenceSource.TRACES, detail="orders → payments failing", at=NOW,
                 payload=trace)])


def test_the_deepest_failing_span_comes_first_then_peers_named_in_errors_then_callees() -> None:
    results = [log_result("orders", ["connect to inventory.shop.svc.cluster.local:8080 refused",
                                     "upstream payments-6c8d7b5a4-q9w2e returned 503"]),
               trace_result("payments")]
    suspects = pick_suspects(results, service="orders", known={"inventory", "payments", "orders"},
                             callees=lambda s: {"ledger"})
    assert [(s.service, s.why) for s in suspects] == [("payments", "deepest failing span"),
                                                     ("inventory", "named in error lines")]
    alone = pick_suspects([log_result("orders", ["db timeout"])], service="orders", known=set(),
                          callees=lambda s: {"ledger"})
    assert [(s.service, s.why) for s in alone] == [("ledger", "called by orders")]


def test_no_errors_and_no_failing_trace_means_no_suspect() -> None:
    quiet = [log_result("orders", ["payments answered in 20 ms"], level="info")]
    assert pick_suspects(quiet, service="orders", known={"payments"}, callees=lambda s: {"payments"}) == []


@dataclass
class ByService:
    """A collector answering per service; ``hang`` services never answer."""

    source: SourceName
    answers: dict[str, SourceResult]
    hang: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        self.asked.append(request.service)
        if request.service in self.hang:
            await asyncio.sleep(30)
        return self.answers.get(request.service) or SourceResult(source=self.source, status=SourceStatus.NO_DATA)


def payments_deploy() -> SourceResult:
    deploy = Deploy(app="payments", history_id=7, revision="a" * 40, target_revision="v3.1.0",
                    deployed_at=NOW - timedelta(minutes=5), current=True)
    return SourceResult(source=SourceName.ARGOCD, status=SourceStatus.OK, evidence=[
        Evidence(id="deploys-1", source=EvidenceSource.DEPLOYS, detail="payments deployed v3.1.0", at=NOW,
                 payload=deploy)])


async def test_the_suspects_logs_and_deploys_join_the_evidence_labelled_with_their_service() -> None:
    loki = ByService(SourceName.LOKI, {"orders": log_result("orders", ["payment failed: 503"]),
                                       "payments": log_result("payments", ["x509: certificate has expired"])})
    argocd = ByService(SourceName.ARGOCD, {"payments": payments_deploy()})
    jaeger = ByService(SourceName.JAEGER, {"orders": trace_result("payments")})
    analyst = Analyst(primary=None, deterministic=DeterministicAnalyzer())
    investigator = Investigator(
        collectors={SourceName.LOKI: loki, SourceName.ARGOCD: argocd, SourceName.JAEGER: jaeger},
        analyst=analyst, source_budget=1, total_budget=2, known_services=lambda: {"payments"},
    )
    request = InvestigationRequest(service="orders", window_start=NOW - timedelta(minutes=30), window_end=NOW)

    results, _ = await investigator.collect(request)

    by_source = {r.source: r for r in results}
    assert loki.asked == ["orders", "payments"] and jaeger.asked == ["orders"]  # traces are not re-read
    assert [e.id for e in by_source[SourceName.LOKI].evidence] == ["logs-1", "logs-1-payments"]
    assert by_source[SourceName.LOKI].evidence[1].detail == "[payments] x509: certificate has expired"
    assert by_source[SourceName.ARGOCD].status is SourceStatus.OK  # orders had none, payments has one
    assert by_source[SourceName.ARGOCD].evidence[0].id == "deploys-1-payments"
    brief = await analyst.analyse(request, results)
    assert brief.analysis.examined == ["payments (deepest failing span)"]


async def test_a_hanging_suspect_costs_at_most_the_follow_budget() -> None:
    loki = ByService(SourceName.LOKI, {"orders": log_result("orders", ["payment failed: 503"])}, hang={"payments"})
    jaeger = ByService(SourceName.JAEGER, {"orders": trace_result("payments")})
    investigator = Investigator(
        collectors={SourceName.LOKI: loki, SourceName.JAEGER: jaeger},
        analyst=Analyst(primary=None, deterministic=DeterministicAnalyzer()), source_budget=1, total_budget=1.5,
        follow_budget=0.5,
    )
    request = InvestigationRequest(service="orders", window_start=NOW - timedelta(minutes=30), window_end=NOW)
    started = asyncio.get_running_loop().time()

    results, _ = await investigator.collect(request)

    assert asyncio.get_running_loop().time() - started < 1.5
    loki_result = next(r for r in results if r.source is SourceName.LOKI)
    assert loki_result.status is SourceStatus.OK and "payments: timeout" in (loki_result.error or "")
