from datetime import timedelta
from pathlib import Path

import pytest

from bot.models import Analysis, AnalysisStatus, Brief, Category, Confidence, RootCause, TimelineEventType
from bot.service.feedback import FeedbackService
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentNotFoundError, IncidentStore


def brief(confidence: Confidence, cost: float) -> Brief:
    return Brief(title="t", summary=[], category=Category.LATENCY,
                 root_cause=RootCause(statement="s", service="checkout", confidence=confidence, confidence_score=50),
                 analysis=Analysis(status=AnalysisStatus.COMPLETED, cost_usd=cost))


async def test_stats_add_up_feedback_confidence_time_and_cost(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    store = IncidentStore(engine)
    service = FeedbackService(store)
    ids = [store.open_incident(service="checkout") for _ in range(3)]
    for incident, confidence in zip(ids, [Confidence.HIGH, Confidence.HIGH, Confidence.LOW], strict=True):
        store.add_event(incident, TimelineEventType.INVESTIGATION_STARTED)
        store.save_brief(incident, brief(confidence, 0.01))
        store.add_event(incident, TimelineEventType.BRIEF_POSTED)
    await service.record(ids[0], user="U1", correct=True)
    await service.record(ids[1], user="U1", correct=True)
    await service.record(ids[1], user="U1", correct=False, actual_cause="DNS")  # changed their mind
    await service.record(ids[2], user="U2", correct=True)
    stats = await service.stats()
    assert (stats.briefs, stats.rated, stats.correct) == (3, 3, 2)
    assert (stats.high_rated, stats.high_wrong) == (2, 1)
    assert stats.cost_usd == pytest.approx(0.03) and len(stats.brief_seconds) == 3
    text = stats.describe()
    assert "Root cause correct: 67% (2/3)" in text and "HIGH confidence but wrong: 50% (1/2)" in text
    assert [e.type for e in store.timeline(ids[1])][-1] == "FEEDBACK_GIVEN"
    with pytest.raises(IncidentNotFoundError):
        await service.record(999, user="U1", correct=True)
    engine.dispose()


async def test_no_feedback_yet_says_so(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    stats = await FeedbackService(IncidentStore(engine)).stats()
    assert "Root cause correct: n/a (0/0)" in stats.describe() and "p50 n/a" in stats.describe()
    engine.dispose()
