"""Counts for ``/metrics``, read from the database so every replica reports the same totals and a
restart loses nothing. Each call is a handful of grouped queries."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.store.tables import AlertRow, BriefRow, DeadLetterRow, ExecutionRow, JobRow, ProposalRow, TimelineEventRow


@dataclass
class ModelUsage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0


@dataclass
class Stats:
    alerts: Counter[str] = field(default_factory=Counter)  # by outcome: opened, joined, duplicate...
    dead_letters: Counter[str] = field(default_factory=Counter)  # by route
    jobs: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, state)
    sources: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source, status)
    source_seconds: dict[str, float] = field(default_factory=dict)  # source → total elapsed
    briefs: Counter[str] = field(default_factory=Counter)  # by analysis status
    models: dict[str, ModelUsage] = field(default_factory=dict)
    decisions: Counter[str] = field(default_factory=Counter)  # auto | approve | deny
    executions: Counter[str] = field(default_factory=Counter)  # ok | failed | dry_run | running


def read_stats(engine: Engine) -> Stats:
    stats = Stats()
    with Session(engine) as session:
        for outcome, n in session.exec(select(AlertRow.outcome, func.count()).group_by(AlertRow.outcome)):
            stats.alerts[outcome] = n
        for route, n in session.exec(select(DeadLetterRow.route, func.count()).group_by(DeadLetterRow.route)):
            stats.dead_letters[route] = n
        for kind, state, n in session.exec(select(JobRow.kind, JobRow.state, func.count())
                                           .group_by(JobRow.kind, JobRow.state)):
            stats.jobs[(kind, state)] = n
        for data in session.exec(select(TimelineEventRow.data)
                                    .where(col(TimelineEventRow.type) == "SOURCE_COLLECTED")).all():
            item = json.loads(data)
            source = str(item.get("source"))
            stats.sources[(source, str(item.get("status")))] += 1
            stats.source_seconds[source] = stats.source_seconds.get(source, 0.0) + float(item.get("elapsed_s") or 0)
        for body in session.exec(select(BriefRow.body)).all():
            analysis = json.loads(body).get("analysis") or {}
            stats.briefs[str(analysis.get("status"))] += 1
            model = analysis.get("model")
            if model:
                usage = stats.models.setdefault(model, ModelUsage())
                usage.calls += 1
                usage.input_tokens += int(analysis.get("input_tokens") or 0)
                usage.output_tokens += int(analysis.get("output_tokens") or 0)
                usage.cost_usd += float(analysis.get("cost_usd") or 0.0)
                usage.latency_ms += int(analysis.get("latency_ms") or 0)
        for decision in session.exec(select(ProposalRow.decision)).all():
            stats.decisions[str(json.loads(decision).get("outcome"))] += 1
        for ok, dry_run, n in session.exec(select(ExecutionRow.ok, ExecutionRow.dry_run, func.count())
                                           .group_by(ExecutionRow.ok, ExecutionRow.dry_run)):
            key = "running" if ok is None else "dry_run" if dry_run and ok else "ok" if ok else "failed"
            stats.executions[key] += n
    return stats
