"""Engine and schema: SQLite (WAL) by default, PostgreSQL when ``DATABASE_URL`` says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from bot.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


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
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    connect_args = {"options": f"-csearch_path={search_path}"} if search_path else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def create_schema(engine: Engine) -> None:
    """Create missing tables. (Alembic migrations replace this when the schema first changes.)"""
    SQLModel.metadata.create_all(engine)
