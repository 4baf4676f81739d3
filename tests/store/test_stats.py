"""/metrics reads its totals from the database (SQLite and PostgreSQL): what a scrape shows."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bot.intake.accept import AlertIntake, Delivery
from bot.metrics import exposition
from bot.models import Alert, AlertSource, Analysis, AnalysisStatus, Brief, Category, Confidence, RootCause
from bot.store.incidents import IncidentStore
from bot.store.queue import JobQueue


def brief(model: str | None, cost: float, tokens: int) -> Brief:
    return Brief(title="t", summary=[], category=Category.LATENCY,
                 root_cause=RootCause(statement="s", service="checkout", confidence=Confidence.LOW,
                                      confidence_score=20),
                 analysis=Analysis(status=AnalysisStatus.COMPLETED if model else AnalysisStatus.DETERMINISTIC,
                                   model=model, cost_usd=cost, input_tokens=tokens, output_tokens=tokens // 10))


def test_a_scrape_shows_alerts_jobs_dead_letters_and_model_spend(engine: Engine) -> None:
    intake = AlertIntake(engine, JobQueue(engine))
    alert = Alert(source=AlertSource.ALERTMANAGER, name="HighErrorRate", service="checkout", fingerprint="f1")
    for n in range(3):  # one alert, then two re-sends
        intake.accept([alert], Delivery(origin="alertmanager", key=str(n)))
    intake.dead_letter(route="/alerts/grafana", reason="body is not JSON", body=b"<")
    store = IncidentStore(engine)
    incident = store.open_incident(service="checkout")
    store.save_brief(incident, brief("claude-haiku-4-5", 0.002, 3000))
    store.save_brief(incident, brief("claude-haiku-4-5", 0.003, 2000))
    store.save_brief(incident, brief(None, 0.0, 0))
    text = exposition(engine).decode()
    assert 'sitrep_alerts_total{outcome="opened"} 1.0' in text
    assert 'sitrep_alerts_total{outcome="duplicate"} 2.0' in text
    assert 'sitrep_dead_letters_total{route="/alerts/grafana"} 1.0' in text
    assert 'sitrep_jobs{kind="investigate",state="queued"} 1.0' in text
    assert 'sitrep_llm_cost_usd_total{model="claude-haiku-4-5"} 0.005' in text
    assert 'sitrep_llm_tokens_total{direction="input",model="claude-haiku-4-5"} 5000.0' in text
    assert 'sitrep_briefs_total{status="DETERMINISTIC"} 1.0' in text
