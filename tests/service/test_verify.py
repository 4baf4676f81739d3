from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.models import (
    Action, ActionTarget, Evidence, EvidenceSource, InvestigationRequest, MetricSeries, SourceName,
    SourceResult, SourceStatus,
)
from bot.service.verify import Verdict, VerdictState, Verifier, judge
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def series(name: str, values: list[float]) -> MetricSeries:
    return MetricSeries(name=name, query="q", points=[(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)])


@pytest.mark.parametrize(
    ("p99", "state"),
    [
        ([0.2, 0.2, 0.21, 0.2, 8.2, 8.3, 0.22], VerdictState.RECOVERED),
        ([0.2, 0.2, 0.21, 0.2, 8.2, 8.3, 8.1], VerdictState.STILL_FAILING),
    ],
)
def test_judge_compares_the_latest_value_with_the_baseline(p99: list[float], state: VerdictState) -> None:
    verdict = judge([series("p99_latency", p99), series("cpu", [1, 1, 1, 1, 9, 9, 9])])
    assert verdict.state is state
    assert "p99_latency now" in verdict.detail and "baseline 200 ms" in verdict.detail


def test_judge_without_symptom_data_is_unknown_not_recovered() -> None:
    assert judge([series("cpu", [1, 2, 3, 4, 5])]).state is VerdictState.UNKNOWN


@dataclass
class FakePrometheus:
    answers: list[list[float]]
    source: SourceName = SourceName.PROMETHEUS
    seen: list[InvestigationRequest] = field(default_factory=list)

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        self.seen.append(request)
        values = self.answers.pop(0)
        return SourceResult(source=self.source, status=SourceStatus.OK, evidence=[
            Evidence(id="metrics-1", source=EvidenceSource.METRICS, detail="p99",
                     payload=series("p99_latency", values))])


@dataclass
class Notes:
    verdicts: list[Verdict] = field(default_factory=list)

    async def verification_result(self, *, incident_id: int, proposal_id: int, verdict: Verdict, final: bool) -> None:
        self.verdicts.append(verdict)


ROLLBACK = Action(kind="rollback", target=ActionTarget(service="checkout", namespace="shop"),
                  params={"to_revision": "v2.14.2"}, rationale="x")
RESTART = Action(kind="restart", target=ActionTarget(service="checkout", namespace="shop"), params={},
                 rationale="y")


async def test_still_failing_after_every_check_suggests_the_next_option(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    store = IncidentStore(engine)
    incident = store.open_incident(service="checkout")
    failing = [0.2, 0.2, 0.2, 0.2, 8.0, 8.0, 8.0]
    prom = FakePrometheus([failing, failing])
    notes = Notes()
    verifier = Verifier(collectors={SourceName.PROMETHEUS: prom}, incidents=store, notifier=notes, delays=(0, 0))
    verdict = await verifier.run(incident_id=incident, proposal_id=1, action=ROLLBACK, next_options=[RESTART])
    assert verdict.state is VerdictState.STILL_FAILING
    assert verdict.next_option and "Restart" in verdict.next_option
    assert len(prom.seen) == 2 and notes.verdicts == [verdict]
    types = [e.type for e in store.timeline(incident)]
    assert types == ["VERIFICATION_SCHEDULED", "VERIFICATION_RESULT", "VERIFICATION_RESULT"]
    engine.dispose()


async def test_recovery_stops_checking_early(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    store = IncidentStore(engine)
    incident = store.open_incident(service="checkout")
    prom = FakePrometheus([[0.2, 0.2, 0.2, 0.2, 8.0, 0.2, 0.2], [9, 9, 9, 9]])
    verifier = Verifier(collectors={SourceName.PROMETHEUS: prom}, incidents=store, delays=(0, 0, 0))
    verdict = await verifier.run(incident_id=incident, proposal_id=1, action=ROLLBACK)
    assert verdict.state is VerdictState.RECOVERED and len(prom.seen) == 1
    engine.dispose()


async def test_without_prometheus_the_verdict_says_how_to_configure_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    verifier = Verifier(collectors={SourceName.PROMETHEUS: None}, incidents=IncidentStore(engine))
    verdict = await verifier.check(ROLLBACK)
    assert verdict.state is VerdictState.UNKNOWN and "PROMETHEUS_URL" in verdict.detail
    engine.dispose()
