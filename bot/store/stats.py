"""Counts for ``/metrics``, kept as events happen.

Every counter is a row of ``metric_counters`` (name, label values, running total), added to in the
same transaction that records the event it counts: an alert accepted (``bot.intake.accept``), a dead
letter, a job done, failed or cancelled (``queue``), a source collected (``incidents.add_event``), a
brief saved with its model's tokens, cost and latency (``incidents.save_brief``), a proposal's
policy decision and an execution's outcome (``proposals``). The totals live in the shared database,
not in a process, because the numbers come from several processes (``sitrep serve`` answers
``/metrics`` while ``sitrep worker`` processes collect, call models and finish jobs) and every
replica must report the same database-wide totals (the dashboard and the alert rules take ``max``
across replicas); a restart loses nothing.

A scrape reads those rows (one per label combination, tens of rows, however long Sitrep has run)
plus one gauge that is a state, not an event: jobs queued or running, an indexed ``COUNT`` over the
``state`` index (only active jobs are visited) cached for ``JOB_GAUGE_MAX_AGE`` seconds per
engine, so scrapes from several Prometheus servers cost one query. No scrape reads the event tables.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from bot.models import Brief
from bot.store.tables import JobRow, MetricCounterRow

#: how long the queued/running jobs gauge is reused between scrapes (seconds)
JOB_GAUGE_MAX_AGE = 5.0
#: job states counted live by the gauge; the final states (done, failed, cancelled) are counters
ACTIVE_JOB_STATES = ("queued", "running")

ALERTS = "sitrep_alerts"
DEAD_LETTERS = "sitrep_dead_letters"
JOBS_FINISHED = "sitrep_jobs"
COLLECTOR_CALLS = "sitrep_collector_calls"
COLLECTOR_SECONDS = "sitrep_collector_seconds"
BRIEFS = "sitrep_briefs"
LLM_BRIEFS = "sitrep_llm_briefs"
LLM_TOKENS = "sitrep_llm_tokens"
LLM_COST = "sitrep_llm_cost_usd"
LLM_LATENCY = "sitrep_llm_latency_seconds"
DECISIONS = "sitrep_decisions"
EXECUTIONS = "sitrep_executions"

#: (counter name, label values in the metric's label order) → amount to add
Increments = Mapping[tuple[str, tuple[str, ...]], float]


# --------------------------------------------------------------------------- counting


def count(session: Session, increments: Increments) -> None:
    """Add ``increments`` to their running totals inside ``session``'s transaction, so they are
    committed (or rolled back) with the event they count. Rows are touched in a fixed order, so two
    transactions adding to the same counters never deadlock on PostgreSQL."""
    # the dialect's own INSERT .. ON CONFLICT, imported for the database in use: a SQLite deployment
    # never loads the PostgreSQL dialect and its drivers' modules (~30 ms at start-up), nor the reverse
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for (name, labels), amount in sorted(increments.items()):
        statement = insert(MetricCounterRow).values(name=name, labels=json.dumps(list(labels)), value=amount)
        session.execute(statement.on_conflict_do_update(
            index_elements=["name", "labels"],
            set_={"value": MetricCounterRow.value + statement.excluded.value},
        ))


def alert_counts(outcomes: Iterable[str]) -> Increments:
    """Alerts accepted, by what became of them (opened, joined, duplicate, resolved, unmatched)."""
    return Counter((ALERTS, (outcome,)) for outcome in outcomes)


def dead_letter_counts(route: str) -> Increments:
    return {(DEAD_LETTERS, (route,)): 1}


def job_finished_counts(kind: str, state: str) -> Increments:
    """A job reached a final state: done, failed (no attempts left) or cancelled (merged)."""
    return {(JOBS_FINISHED, (kind, state)): 1}


def source_counts(data: Mapping[str, object]) -> Increments:
    """A ``SOURCE_COLLECTED`` timeline event: one call of the source, with its status and time."""
    source = str(data.get("source"))
    elapsed = data.get("elapsed_s")
    return {(COLLECTOR_CALLS, (source, str(data.get("status")))): 1,
            (COLLECTOR_SECONDS, (source,)): float(elapsed) if isinstance(elapsed, (int, float)) else 0.0}


def brief_counts(brief: Brief) -> Increments:
    """A brief saved: its analysis path and, when a model wrote it, the model's tokens, cost and time."""
    analysis = brief.analysis
    increments: dict[tuple[str, tuple[str, ...]], float] = {(BRIEFS, (analysis.status.value,)): 1}
    if analysis.model:
        model = analysis.model
        increments |= {
            (LLM_BRIEFS, (model,)): 1,
            (LLM_TOKENS, (model, "input")): analysis.input_tokens or 0,
            (LLM_TOKENS, (model, "output")): analysis.output_tokens or 0,
            (LLM_COST, (model,)): analysis.cost_usd or 0.0,
            (LLM_LATENCY, (model,)): (analysis.latency_ms or 0) / 1000,
        }
    return increments


def decision_counts(decisions_json: Iterable[str]) -> Increments:
    """Policy decisions of proposals as they are added (Decision JSON): auto, approve, deny, manual."""
    return Counter((DECISIONS, (str(json.loads(d).get("outcome")),)) for d in decisions_json)


def execution_counts(*, ok: bool, dry_run: bool) -> Increments:
    """An execution finished: ok, dry_run (ok, nothing changed) or failed."""
    return {(EXECUTIONS, ("dry_run" if dry_run and ok else "ok" if ok else "failed",)): 1}


# --------------------------------------------------------------------------- reading (a scrape)


@dataclass
class ModelUsage:
    calls: float = 0
    input_tokens: float = 0
    output_tokens: float = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0


@dataclass
class Stats:
    alerts: Counter[str] = field(default_factory=Counter)  # by outcome: opened, joined, duplicate...
    dead_letters: Counter[str] = field(default_factory=Counter)  # by route
    jobs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, state)
    sources: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, status)
    source_seconds: dict[str, float] = field(default_factory=dict)  # source → total elapsed
    briefs: Counter[str] = field(default_factory=Counter)  # by analysis status
    models: dict[str, ModelUsage] = field(default_factory=dict)
    decisions: Counter[str] = field(default_factory=Counter)  # auto | approve | deny | manual
    executions: Counter[str] = field(default_factory=Counter)  # ok | failed | dry_run


_gauge_lock = threading.Lock()
_job_gauges: weakref.WeakKeyDictionary[Engine, tuple[float, dict[tuple[str, str], int]]] = \
    weakref.WeakKeyDictionary()


def active_jobs(engine: Engine, *, max_age: float = JOB_GAUGE_MAX_AGE) -> dict[tuple[str, str], int]:
    """Jobs queued or running by (kind, state): an indexed COUNT (``ix_jobs_state``: only active
    rows are read, never the finished history), reused for ``max_age`` seconds."""
    now = time.monotonic()
    with _gauge_lock:
        cached = _job_gauges.get(engine)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    with Session(engine) as session:
        rows = session.execute(
            select(JobRow.kind, JobRow.state, func.count())
            .where(col(JobRow.state).in_(ACTIVE_JOB_STATES))
            .group_by(JobRow.kind, JobRow.state)
        ).all()
    counts = {(str(kind), str(state)): int(n) for kind, state, n in rows}
    with _gauge_lock:
        _job_gauges[engine] = (now, counts)
    return counts


def read_stats(engine: Engine, *, job_gauge_max_age: float = JOB_GAUGE_MAX_AGE) -> Stats:
    """What a scrape shows: the running totals, and the active jobs gauge."""
    with Session(engine) as session:
        rows = session.execute(select(MetricCounterRow.name, MetricCounterRow.labels, MetricCounterRow.value)).all()
    stats = Stats()
    for name, labels_json, value in rows:
        labels = tuple(json.loads(labels_json))
        _add(stats, name, labels, float(value))
    stats.jobs.update(active_jobs(engine, max_age=job_gauge_max_age))
    return stats


def _add(stats: Stats, name: str, labels: tuple[str, ...], value: float) -> None:
    if name == ALERTS:
        stats.alerts[labels[0]] += int(value)
    elif name == DEAD_LETTERS:
        stats.dead_letters[labels[0]] += int(value)
    elif name == JOBS_FINISHED:
        stats.jobs[(labels[0], labels[1])] += int(value)
    elif name == COLLECTOR_CALLS:
        stats.sources[(labels[0], labels[1])] += int(value)
    elif name == COLLECTOR_SECONDS:
        stats.source_seconds[labels[0]] = stats.source_seconds.get(labels[0], 0.0) + value
    elif name == BRIEFS:
        stats.briefs[labels[0]] += int(value)
    elif name == DECISIONS:
        stats.decisions[labels[0]] += int(value)
    elif name == EXECUTIONS:
        stats.executions[labels[0]] += int(value)
    elif name in {LLM_BRIEFS, LLM_TOKENS, LLM_COST, LLM_LATENCY}:
        usage = stats.models.setdefault(labels[0], ModelUsage())
        if name == LLM_BRIEFS:
            usage.calls += value
        elif name == LLM_COST:
            usage.cost_usd += value
        elif name == LLM_LATENCY:
            usage.latency_s += value
        elif labels[1:] == ("input",):
            usage.input_tokens += value
        else:
            usage.output_tokens += value
    # any other name: a counter this build does not show (written by a newer one), ignored
