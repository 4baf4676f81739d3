"""Engine and schema: SQLite (WAL) by default, PostgreSQL when ``DATABASE_URL`` says so.

Alembic is imported by the functions that migrate or check the schema, not with the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from bot.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

if TYPE_CHECKING:
    from alembic.config import Config


#: the execution option that marks an engine's transactions as read-only (``reading``)
READ_ONLY = "sitrep_read_only"


def reading(engine: Engine) -> Engine:
    """``engine`` for transactions that only read: on SQLite they begin deferred, without the write
    lock (a write in one fails instead of waiting); elsewhere nothing changes."""
    return engine.execution_options(**{READ_ONLY: True})


def make_engine(url: str, *, search_path: str | None = None) -> Engine:
    """An engine for ``url``. SQLite gets WAL, a busy timeout and cross-thread use, because
    the store is called from worker threads (``asyncio.to_thread``). ``search_path`` puts
    PostgreSQL tables in a schema of their own (tests)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives a crash of any process; only a power loss or OS
                # crash can undo the last commits (FULL fsyncs every commit)
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            # transactions are begun by us (below), not implicitly by the driver
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # BEGIN IMMEDIATE takes the write lock up front, so a transaction that reads then writes
            # waits its turn (busy timeout) instead of failing with "database is locked" when another
            # process wrote in between (a deferred BEGIN cannot wait for that upgrade). A transaction
            # that only reads (``reading``) begins deferred: with WAL it neither takes nor waits for
            # the write lock, so a worker process polling the queue never holds up an ack.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    connect_args = {"options": f"-csearch_path={search_path}"} if search_path else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


MIGRATIONS = Path(__file__).with_name("migrations")
#: PostgreSQL advisory lock held while migrating (an arbitrary constant: "sitrep" in ASCII)
MIGRATION_LOCK_KEY = 0x736974726570


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False)
                               .replace("%", "%%"))
    return config


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic), keeping the data. A database made by
    an early build without migrations (tables, no ``alembic_version``) is completed and stamped."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # several replicas starting at once: one migrates, the others wait for it (the lock ends
            # with this transaction) and then find the schema current
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        existing = set(inspect(connection).get_table_names())
        if "incidents" in existing and "alembic_version" not in existing:
            SQLModel.metadata.create_all(connection)
            command.stamp(config, "head")
        else:
            command.upgrade(config, "head")


def schema_is_current(engine: Engine) -> bool:
    """Every migration applied (for /readyz)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == set(script.get_heads())
