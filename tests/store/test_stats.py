"""/metrics on SQLite and PostgreSQL: what a scrape shows, counters kept as events happen (in the
transaction that records them), and a scrape that reads no event table."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.intake.accept import AlertIntake, Delivery, IntakeLimits
from bot.metrics import exposition
from bot.models import (
    Alert, AlertSource, Analysis, AnalysisStatus, Brief, Category, Confidence, RootCause, TimelineEventType,
)
from bot.store.incidents import IncidentStore
from bot.store.proposals import NewProposal, ProposalStore
from bot.store.queue import JobQueue
from bot.store.stats import read_stats
from bot.store.tables import AlertRow, BriefRow, IncidentRow, JobRow


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


# --------------------------------------------------------------------------- kept as events happen


def scrape(engine: Engine) -> dict[str, float]:
    """The exposition as {'name{labels}': value}."""
    samples: dict[str, float] = {}
    for line in exposition(engine).decode().splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def decision(outcome: str) -> str:
    return json.dumps({"outcome": outcome, "rule": "r"})


def test_counters_move_when_events_happen(engine: Engine) -> None:
    queue = JobQueue(engine)
    intake = AlertIntake(engine, queue, limits=IntakeLimits(group_wait=timedelta(0)))
    store = IncidentStore(engine)
    proposals = ProposalStore(engine)
    before = scrape(engine)
    assert not any(key.startswith(("sitrep_alerts_total", "sitrep_llm")) for key in before)

    alert = Alert(source=AlertSource.ALERTMANAGER, name="HighErrorRate", service="checkout", fingerprint="f1")
    intake.accept([alert], Delivery(origin="alertmanager", key="k1"))
    job = queue.claim("w1")
    assert job is not None and queue.complete(job.id, worker="w1")
    assert not queue.complete(job.id, worker="w1")  # done once: counted once
    queue.enqueue("verify", {}, max_attempts=1)
    failing = queue.claim("w1", kinds=["verify"])
    assert failing is not None and queue.fail(failing.id, worker="w1", error="boom") == "failed"
    incident = store.open_incident(service="checkout")
    for status, elapsed in (("ok", 0.25), ("ok", 0.5), ("timeout", 2.0)):
        store.add_event(incident, TimelineEventType.SOURCE_COLLECTED,
                        data={"source": "loki", "status": status, "elapsed_s": elapsed})
    store.add_event(incident, TimelineEventType.INVESTIGATION_STARTED, data={"service": "checkout"})
    store.save_brief(incident, brief("claude-haiku-4-5", 0.004, 1200))
    ids = proposals.add(incident, [NewProposal(action="{}", decision=decision(outcome), state="pending",
                                               expires_at=None) for outcome in ("auto", "approve", "approve")],
                        requester="U0DEV")
    assert proposals.start_execution(ids[0], dry_run=True)
    proposals.finish_execution(ids[0], ok=True, result="{}")
    proposals.finish_execution(ids[0], ok=True, result="{}")  # a second write of the same result
    assert proposals.start_execution(ids[1], dry_run=False)
    proposals.finish_execution(ids[1], ok=False, result="{}")

    after = scrape(engine)
    assert after['sitrep_alerts_total{outcome="opened"}'] == 1
    assert after['sitrep_jobs{kind="investigate",state="done"}'] == 1
    assert after['sitrep_jobs{kind="verify",state="failed"}'] == 1
    assert after['sitrep_collector_calls_total{source="loki",status="ok"}'] == 2
    assert after['sitrep_collector_calls_total{source="loki",status="timeout"}'] == 1
    assert after['sitrep_collector_seconds_total{source="loki"}'] == 2.75
    assert after['sitrep_briefs_total{status="COMPLETED"}'] == 1
    assert after['sitrep_llm_briefs_total{model="claude-haiku-4-5"}'] == 1
    assert after['sitrep_llm_tokens_total{direction="output",model="claude-haiku-4-5"}'] == 120
    assert after['sitrep_llm_cost_usd_total{model="claude-haiku-4-5"}'] == 0.004
    assert after['sitrep_decisions_total{outcome="approve"}'] == 2
    assert after['sitrep_decisions_total{outcome="auto"}'] == 1
    assert after['sitrep_executions_total{outcome="dry_run"}'] == 1
    assert after['sitrep_executions_total{outcome="failed"}'] == 1


def test_the_queue_gauge_is_an_indexed_count_cached_between_scrapes(engine: Engine) -> None:
    queue = JobQueue(engine)
    queue.enqueue("investigate", {})
    assert read_stats(engine, job_gauge_max_age=0).jobs[("investigate", "queued")] == 1
    queue.enqueue("investigate", {})
    assert read_stats(engine).jobs[("investigate", "queued")] == 1  # the count of a moment ago
    assert read_stats(engine, job_gauge_max_age=0).jobs[("investigate", "queued")] == 2
    assert queue.depth() == 2


def test_a_scrape_reads_no_event_table(engine: Engine) -> None:
    """However many alerts, briefs and timeline events are stored, a scrape reads the running totals
    and counts the active jobs through the state index: no statement reads an event table."""
    intake = AlertIntake(engine, JobQueue(engine))
    store = IncidentStore(engine)
    for n in range(20):
        alert = Alert(source=AlertSource.ALERTMANAGER, name="HighErrorRate", service=f"svc-{n}",
                      fingerprint=f"f{n}")
        intake.accept([alert], Delivery(origin="alertmanager", key=str(n)))
    incident = store.open_incident(service="checkout")
    store.save_brief(incident, brief("claude-haiku-4-5", 0.002, 3000))
    store.add_event(incident, TimelineEventType.SOURCE_COLLECTED, data={"source": "loki", "status": "ok"})

    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        first = exposition(engine).decode()
        first_statements = list(statements)
        statements.clear()
        exposition(engine)  # within the gauge's few seconds
        second_statements = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert 'sitrep_alerts_total{outcome="opened"} 20.0' in first
    assert 'sitrep_jobs{kind="investigate",state="queued"} 20.0' in first

    def tables(statement: str) -> set[str]:
        return {name.strip('"').lower() for name in re.findall(r'\b(?:FROM|JOIN)\s+("?\w+"?)', statement, re.I)}

    read = set().union(*(tables(s) for s, _ in first_statements))
    assert read == {"metric_counters", "jobs"}, first_statements
    [(jobs_query, params)] = [(s, p) for s, p in first_statements if "jobs" in tables(s)]
    assert re.search(r"\bstate IN\b", jobs_query, re.I), jobs_query  # the active rows only
    if engine.dialect.name == "sqlite":  # the planner answers through the state index, not a table scan
        with engine.connect() as conn:
            plan = " | ".join(str(row[-1]) for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {jobs_query}", params))
        assert "USING INDEX ix_jobs_state" in plan or "USING COVERING INDEX ix_jobs_state" in plan, plan
    assert set().union(*(tables(s) for s, _ in second_statements)) == {"metric_counters"}


def test_an_upgrade_starts_the_counters_from_the_rows_already_stored(engine: Engine) -> None:
    """Migration 0004 seeds the running totals from what the tables hold, so dashboards see no reset."""
    from alembic import command

    from bot.store.db import alembic_config

    def migrate(to: str, *, down: bool = False) -> None:
        config = alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, to)

    migrate("0003", down=True)  # a database as the previous release left it
    with Session(engine) as session:
        incident = IncidentRow(service="checkout")
        session.add(incident)
        session.flush()
        session.add_all([AlertRow(origin="alertmanager", source="alertmanager", name="A", fingerprint=f"f{n}",
                                  identity=f"i{n}", outcome="duplicate" if n else "opened", incident_id=incident.id)
                         for n in range(3)])
        session.add(BriefRow(incident_id=incident.id, status="COMPLETED", model="claude-haiku-4-5",
                             body=brief("claude-haiku-4-5", 0.25, 1000).model_dump_json()))
        session.add(JobRow(kind="investigate", state="done"))
        session.add(JobRow(kind="investigate", state="queued"))
        session.commit()
    migrate("head")
    samples = scrape(engine)
    assert samples['sitrep_alerts_total{outcome="duplicate"}'] == 2
    assert samples['sitrep_alerts_total{outcome="opened"}'] == 1
    assert samples['sitrep_llm_cost_usd_total{model="claude-haiku-4-5"}'] == 0.25
    assert samples['sitrep_jobs{kind="investigate",state="done"}'] == 1
    assert samples['sitrep_jobs{kind="investigate",state="queued"}'] == 1
