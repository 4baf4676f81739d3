"""The investigation as a whole: what the analyst (and so the model and Slack) gets to see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.analyst.deterministic import DeterministicAnalyzer
from bot.analyst.chain import Analyst
from bot.digest.redact import Redactor
from bot.models import (
    Evidence, EvidenceSource, InvestigationRequest, LogLine, SourceName, SourceResult, SourceStatus,
)
from bot.service.investigate import Investigator

NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)
TOKEN = "ghp_FAKEexampleTOKEN0123456789abcdefABCDEF"


@dataclass
class LeakyLoki:
    source: SourceName = SourceName.LOKI

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        line = f'error calling github: Authorization: token {TOKEN} user=bob@example.com ip=203.0.113.9'
        return SourceResult(source=self.source, status=SourceStatus.OK, evidence=[
            Evidence(id="logs-1", source=EvidenceSource.LOGS, detail=line, at=NOW,
                     payload=LogLine(at=NOW, line=line, level="error"))])


@dataclass
class SpyAnalyst(Analyst):
    seen: list[SourceResult] = field(default_factory=list)

    def __init__(self) -> None:
        super().__init__(primary=None, deterministic=DeterministicAnalyzer())
        self.seen = []

    async def analyse(self, request, results):  # type: ignore[no-untyped-def]
        self.seen.extend(results)
        self.request = request
        return await super().analyse(request, results)


async def test_collected_secrets_and_personal_data_never_reach_the_analyst_or_the_brief() -> None:
    analyst = SpyAnalyst()
    investigator = Investigator(
        collectors={SourceName.LOKI: LeakyLoki(), SourceName.PROMETHEUS: None, SourceName.ARGOCD: None,
                    SourceName.JAEGER: None},
        analyst=analyst, source_budget=1, total_budget=2, redactor=Redactor(extra_secrets=["hunter2-configured"]),
    )
    request = InvestigationRequest(service="checkout", message="pw is hunter2-configured, help",
                                   window_start=NOW - timedelta(minutes=30), window_end=NOW)
    brief = await investigator.investigate(request)
    seen = "".join(r.model_dump_json() for r in analyst.seen) + analyst.request.model_dump_json()
    for leaked in (TOKEN, "bob@example.com", "203.0.113.9", "hunter2-configured"):
        assert leaked not in seen
        assert leaked not in brief.model_dump_json()
    assert "<email>" in seen and "<ip>" in seen and "error calling github" in seen
