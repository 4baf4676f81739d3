"""Schema through Alembic on both databases: the migrations match the tables, upgrades keep data."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from bot.store.db import create_schema, make_engine, schema_is_current
from bot.store.incidents import IncidentStore


def test_the_migrations_create_exactly_the_tables_the_code_uses(engine: Engine) -> None:
    assert schema_is_current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == [], "a table changed without a migration: alembic revision --autogenerate"


def test_running_the_migrations_again_changes_nothing_and_keeps_data(engine: Engine) -> None:
    store = IncidentStore(engine)
    incident = store.open_incident(service="checkout")
    create_schema(engine)
    assert store.get(incident).service == "checkout"


def test_a_database_from_before_migrations_is_completed_and_keeps_its_incidents(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    tables = SQLModel.metadata.tables
    old = [tables[name] for name in ("incidents", "briefs", "timeline_events")]
    SQLModel.metadata.create_all(engine, tables=old)  # what an early build left behind
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO incidents (service, status, origin, opened_at) "
                                "VALUES ('checkout', 'open', 'slash_command', '2026-11-01 03:41:00')"))
    assert not schema_is_current(engine)
    create_schema(engine)
    assert schema_is_current(engine)
    assert {"alerts", "jobs", "dead_letters"} <= set(inspect(engine).get_table_names())
    assert IncidentStore(engine).get(1).service == "checkout"
    engine.dispose()
