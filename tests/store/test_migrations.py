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


def test_replicas_starting_together_on_postgresql_migrate_once_without_errors() -> None:
    """Four replicas' first start on an empty PostgreSQL database, at the same moment: one migrates
    (under an advisory lock), the others wait and find the schema current."""
    import os
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    import pytest

    url = os.environ.get("SITREP_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: .ci/run sets SITREP_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL (set SITREP_TEST_POSTGRES_URL)")
    name = f"sitrep_m_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engines = [make_engine(url.rsplit("/", 1)[0] + "/" + name) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create_schema, engines))  # raises if any replica's migration failed
        assert all(schema_is_current(e) for e in engines)
    finally:
        for e in engines:
            e.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()
