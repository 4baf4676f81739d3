"""metric_counters: /metrics totals kept as events happen; seeded once from the rows already stored

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 15:00:00

Before this revision a scrape counted the event tables (alerts, jobs, timeline events, briefs,
proposals, executions) every time. The totals are now added to as events are recorded
(``bot.store.stats``); this migration starts them from what those tables hold, so an upgrade does
not reset the counters that dashboards and alert rules read. The seeding reads each table once.
"""
from __future__ import annotations

import json
from collections import Counter

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    counters = op.create_table(
        'metric_counters',
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('labels', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name', 'labels'),
    )
    totals = _existing_totals(op.get_bind())
    if totals:
        op.bulk_insert(counters, [{"name": name, "labels": json.dumps(list(labels)), "value": value}
                                  for (name, labels), value in sorted(totals.items())])


def downgrade() -> None:
    op.drop_table('metric_counters')


def _existing_totals(connection: sa.Connection) -> Counter[tuple[str, tuple[str, ...]]]:
    """The totals the old scrape-time counting showed, from the rows stored so far (as of 0003)."""
    totals: Counter[tuple[str, tuple[str, ...]]] = Counter()
    q = connection.execute
    for outcome, n in q(sa.text("SELECT outcome, count(*) FROM alerts GROUP BY outcome")):
        totals[("sitrep_alerts", (outcome,))] += n
    for route, n in q(sa.text("SELECT route, count(*) FROM dead_letters GROUP BY route")):
        totals[("sitrep_dead_letters", (route,))] += n
    for kind, state, n in q(sa.text("SELECT kind, state, count(*) FROM jobs "
                                    "WHERE state IN ('done', 'failed', 'cancelled') GROUP BY kind, state")):
        totals[("sitrep_jobs", (kind, state))] += n
    for (data,) in q(sa.text("SELECT data FROM timeline_events WHERE type = 'SOURCE_COLLECTED'")):
        item = json.loads(data or "{}")
        source = str(item.get("source"))
        totals[("sitrep_collector_calls", (source, str(item.get("status"))))] += 1
        totals[("sitrep_collector_seconds", (source,))] += float(item.get("elapsed_s") or 0)
    for (body,) in q(sa.text("SELECT body FROM briefs")):
        analysis = json.loads(body).get("analysis") or {}
        totals[("sitrep_briefs", (str(analysis.get("status")),))] += 1
        if model := analysis.get("model"):
            totals[("sitrep_llm_briefs", (model,))] += 1
            totals[("sitrep_llm_tokens", (model, "input"))] += int(analysis.get("input_tokens") or 0)
            totals[("sitrep_llm_tokens", (model, "output"))] += int(analysis.get("output_tokens") or 0)
            totals[("sitrep_llm_cost_usd", (model,))] += float(analysis.get("cost_usd") or 0.0)
            totals[("sitrep_llm_latency_seconds", (model,))] += int(analysis.get("latency_ms") or 0) / 1000
    for (decision,) in q(sa.text("SELECT decision FROM proposals")):
        totals[("sitrep_decisions", (str(json.loads(decision).get("outcome")),))] += 1
    for ok, dry_run, n in q(sa.text("SELECT ok, dry_run, count(*) FROM executions WHERE ok IS NOT NULL "
                                    "GROUP BY ok, dry_run")):
        outcome = "dry_run" if dry_run and ok else "ok" if ok else "failed"
        totals[("sitrep_executions", (outcome,))] += n
    return totals
