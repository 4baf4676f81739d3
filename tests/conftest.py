"""Shared fixtures. Storage tests run against SQLite always and against PostgreSQL when one is available
(``SITREP_TEST_POSTGRES_URL``; `.ci/run` starts a server and sets it, so CI never skips it)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.store.db import create_schema, make_engine

POSTGRES_URL = os.environ.get("SITREP_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'sitrep.db'}")
        create_schema(engine)
        yield engine
        engine.dispose()
        return
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: .ci/run sets SITREP_TEST_POSTGRES_URL")
        pytest.skip("no PostgreSQL (set SITREP_TEST_POSTGRES_URL)")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(POSTGRES_URL, search_path=schema)
    create_schema(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each phase's report on the item (``item.rep_setup``, ``rep_call``): fixtures that keep a
    server for the next test stop it instead when the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
