"""What Sitrep reads from disk or its own database: the policy folder (the same checks as
``sitrep policy lint``) and the schema (every Alembic migration applied, as ``/readyz`` wants)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.doctor.base import Context, Section, Status, listed, plural
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.policy.schema import Policy

T = TypeVar("T")


def check_policy(settings: Settings, section: Section) -> Policy | None:
    """Load the policy (``sitrep policy lint``); the policy, or None when it does not load."""
    from bot.policy.commands import notes
    from bot.policy.loader import PolicyError, load_policy

    directory = Path(settings.sitrep_policy_dir)
    shown = f"sitrep policy lint {directory}"
    if not directory.is_dir() and "sitrep_policy_dir" not in settings.model_fields_set:
        section.add("not configured", Status.SKIPPED, f"no policy folder at {directory}: remediation is off (every action "
                    "is shown, none can run); copy policies/default.yml there or set SITREP_POLICY_DIR")
        return None
    try:
        policy = load_policy(directory)
    except PolicyError as exc:
        problems = [str(p) for p in exc.problems]
        section.add("lint", Status.FAIL, f"{plural(len(problems), 'problem')}: " + "; ".join(problems[:3])
                    + (f"; and {len(problems) - 3} more" if len(problems) > 3 else ""), called=[shown],
                    fix=f"fix the lines named (all of them: `{shown}`); `sitrep serve` refuses to start with a "
                        "broken policy")
        return None
    detail = (f"{plural(len(policy.files), 'file')}, {plural(len(policy.services), 'service')} "
              f"({listed(list(policy.services))}), {plural(len(policy.rules), 'rule')}")
    if hints := notes(policy):
        detail += f"; {plural(len(hints), 'note')} in `{shown}`"
    section.add("lint", Status.OK, detail, called=[shown])
    return policy


async def check_database(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    # SQLAlchemy and Alembic take a second to import: in the thread, not on the loop the others share
    make_url, ArgumentError = await in_daemon_thread(_sqlalchemy_url_tools)
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        section.add("migrations", Status.FAIL, "DATABASE_URL is not a database URL",
                    fix="e.g. sqlite:///./sitrep.db or postgresql+psycopg://user:password@host/sitrep")
        return
    shown = url.render_as_string(hide_password=True)
    called = [f"read alembic_version in {shown}"]
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(str(url.database)).exists():
        section.add("migrations", Status.OK, f"{url.database} does not exist yet: `sitrep serve` creates it and "
                    "applies every migration at start-up", called=[f"look for {url.database}"])
        return
    try:
        current, heads = await in_daemon_thread(lambda: _revisions(settings.database_url, ctx.timeout))
    except Exception as exc:  # the driver's own errors: connection refused, auth, unknown database...
        cause = getattr(exc, "orig", None) or exc  # the driver's own message, not SQLAlchemy's wrapping
        reason = " ".join(str(cause).split("(Background on")[0].split())[:200] or type(cause).__name__
        if url.password:
            reason = reason.replace(str(url.password), "***")
        section.add("migrations", Status.FAIL, f"cannot read the schema version: {reason}",
                    called=called, fix="check DATABASE_URL (host, database, user, password) and that the "
                                       "database accepts connections from here")
        return
    if current == heads:
        section.add("migrations", Status.OK, f"at head ({', '.join(sorted(heads))})", called=called)
    elif not current:
        section.add("migrations", Status.FAIL, "no migrations applied (an empty database)", called=called,
                    fix="start `sitrep serve` (or `sitrep worker`) once: it applies the migrations at start-up")
    else:
        section.add("migrations", Status.FAIL,
                    f"behind: the database is at {', '.join(sorted(current))}, this Sitrep at "
                    f"{', '.join(sorted(heads))}", called=called,
                    fix="start this version's `sitrep serve` once: it upgrades the schema at start-up, keeping "
                        "the data (an older Sitrep against a newer schema: upgrade Sitrep)")


def _sqlalchemy_url_tools() -> tuple[Callable[[str], Any], type[Exception]]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    return make_url, ArgumentError


def _revisions(database_url: str, timeout: float) -> tuple[set[str], set[str]]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from bot.store.db import alembic_config

    connect_args: dict[str, Any] = {}
    if database_url.startswith("postgresql"):
        connect_args["connect_timeout"] = max(1, int(timeout))
    engine = create_engine(database_url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return current, heads


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """``work()`` in a daemon thread: a database that never answers cannot keep the process from exiting
    (``asyncio.to_thread``'s pool is joined at exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        try:
            loop.call_soon_threadsafe(lambda: future.done() or outcome())
        except RuntimeError:  # the loop is gone: nobody waits for the answer any more
            pass

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting task
            error = exc  # `exc` is unbound once the except block ends; the callback runs later
            settle(lambda: future.set_exception(error))
        else:
            settle(lambda: future.set_result(result))

    threading.Thread(target=run, name="doctor-db", daemon=True).start()
    return await future
