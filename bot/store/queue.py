"""The durable job queue: jobs live in the database, so nothing accepted is lost when a process dies.

    enqueue ─▶ queued ─claim (lease)─▶ running ─complete─▶ done
                  │ (intake: the incident was merged) ─▶ cancelled
                  ▲                      │ fail (attempts left: backoff) / lease expired
                  └──────────────────────┘ fail (no attempts left) ─▶ failed

A worker claims one job at a time with a lease and renews it while it works (``heartbeat``). A
worker that dies stops renewing; once the lease expires another worker claims the job again.
Claiming is one conditional UPDATE (SQLite serialises writers); on PostgreSQL the candidate row is
picked ``FOR UPDATE SKIP LOCKED`` so replicas never wait on each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.models import utcnow
from bot.store.db import reading
from bot.store.stats import ACTIVE_JOB_STATES, count, job_finished_counts
from bot.store.tables import JobRow


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


def _runnable(now: Any) -> ColumnElement[bool]:
    """Queued and due, or running with an expired lease, at ``now`` (a time, or a bound parameter)."""
    return or_(
        and_(JobRow.state == "queued", JobRow.run_after <= now),  # type: ignore[arg-type]
        and_(JobRow.state == "running", JobRow.lease_expires_at < now),  # type: ignore[arg-type,operator]
    )


def _runnable_ids(now: Any, kinds: tuple[str, ...]) -> Select[Any]:
    """The ids of the jobs of ``kinds`` (any kind when empty) runnable at ``now``."""
    statement = select(JobRow.id).where(_runnable(now))
    if kinds:
        statement = statement.where(JobRow.kind.in_(kinds))  # type: ignore[attr-defined]
    return statement


class JobQueue:
    def __init__(self, engine: Engine, *, lease: timedelta = timedelta(seconds=30),
                 backoff: timedelta = timedelta(seconds=2)) -> None:
        self._engine = engine
        self._lease = lease
        self._backoff = backoff
        self._postgres = engine.dialect.name == "postgresql"
        self._reader = reading(engine)  # polls and counts: no SQLite write lock
        self._peeks: dict[tuple[str, ...], Select[Any]] = {}

    def enqueue(self, kind: str, payload: dict[str, Any], *, dedup_key: str | None = None,
                max_attempts: int = 3, session: Session | None = None,
                delay: timedelta = timedelta(0)) -> int | None:
        """Add a job, runnable after ``delay``; None if one with ``dedup_key`` exists. With
        ``session`` the caller commits (store the alert and its job in one transaction)."""
        row = JobRow(kind=kind, payload=json.dumps(payload, default=str), dedup_key=dedup_key,
                     max_attempts=max_attempts, run_after=utcnow() + delay)
        if session is not None:
            session.add(row)
            session.flush()
            return row.id
        with Session(self._engine) as own:
            own.add(row)
            try:
                own.commit()
            except IntegrityError:
                own.rollback()
                return None
            return row.id

    def _peek(self, kinds: tuple[str, ...]) -> Select[Any]:
        """Is any job of ``kinds`` runnable at ``:now``? Built once per kinds (an idle worker asks five
        times a second: building and compiling the statement each time was most of its idle CPU)."""
        statement = self._peeks.get(kinds)
        if statement is None:
            statement = self._peeks[kinds] = _runnable_ids(bindparam("now"), kinds).limit(1)
        return statement

    def claim(self, worker: str, *, kinds: list[str] | None = None) -> Job | None:
        """Take the oldest runnable job (queued and due, or running with an expired lease)."""
        now = utcnow()
        # a read first, on a plain connection: an idle worker polling must not take the (SQLite) write
        # lock each time, nor pay for an ORM session
        with self._reader.connect() as peek:
            if peek.execute(self._peek(tuple(kinds or ())), {"now": now}).first() is None:
                return None
        runnable = _runnable(now)
        candidate = _runnable_ids(now, tuple(kinds or ())).order_by(JobRow.id).limit(1)  # type: ignore[arg-type]
        with Session(self._engine) as session:
            if self._postgres:
                candidate = candidate.with_for_update(skip_locked=True)
                job_id = session.execute(candidate).scalar_one_or_none()
                if job_id is None:
                    return None
                target = JobRow.id == job_id  # type: ignore[arg-type]
            else:
                target = JobRow.id == candidate.scalar_subquery()  # type: ignore[arg-type]
            result = session.execute(
                update(JobRow).where(target).where(runnable)
                .values(state="running", lease_owner=worker, lease_expires_at=now + self._lease,
                        attempts=JobRow.attempts + 1)
                .returning(JobRow.id, JobRow.kind, JobRow.payload, JobRow.attempts, JobRow.max_attempts)
            ).first()
            session.commit()
        if result is None:
            return None
        return Job(id=result[0], kind=result[1], payload=json.loads(result[2]), attempts=result[3],
                   max_attempts=result[4])

    def heartbeat(self, job_id: int, *, worker: str) -> bool:
        """Renew the lease; False if this worker lost it (another took the job over)."""
        return self._update(job_id, worker=worker,
                            values={"lease_expires_at": utcnow() + self._lease})

    def complete(self, job_id: int, *, worker: str) -> bool:
        with Session(self._engine) as session:
            kind = session.execute(
                update(JobRow).where(JobRow.id == job_id)  # type: ignore[arg-type]
                .where(JobRow.lease_owner == worker).where(JobRow.state == "running")  # type: ignore[arg-type]
                .values(state="done", lease_owner=None, finished_at=utcnow())
                .returning(JobRow.kind)
            ).scalar_one_or_none()
            if kind is not None:
                count(session, job_finished_counts(kind, "done"))
            session.commit()
            return kind is not None

    def fail(self, job_id: int, *, worker: str, error: str) -> str:
        """Record a failed attempt: back to ``queued`` with backoff, or ``failed`` for good.
        Returns the new state (or ``lost`` if the lease had passed to another worker)."""
        with Session(self._engine) as session:
            row = session.get(JobRow, job_id)
            if row is None or row.lease_owner != worker or row.state != "running":
                return "lost"
            if row.attempts >= row.max_attempts:
                row.state, row.finished_at = "failed", utcnow()
                count(session, job_finished_counts(row.kind, "failed"))
            else:
                row.state = "queued"
                row.run_after = utcnow() + self._backoff * (2 ** (row.attempts - 1))
            row.last_error, row.lease_owner, row.lease_expires_at = error[:500], None, None
            session.add(row)
            session.commit()
            return row.state

    def get(self, job_id: int) -> JobRow | None:
        with Session(self._engine) as session:
            return session.get(JobRow, job_id)

    def depth(self) -> int:
        """Jobs waiting or running (for backpressure): an indexed count of the active rows only
        (``ix_jobs_state``), however many finished jobs the table keeps."""
        with Session(self._reader) as session:
            return int(session.execute(
                select(func.count()).select_from(JobRow)
                .where(JobRow.state.in_(ACTIVE_JOB_STATES))  # type: ignore[attr-defined]
            ).scalar_one())

    def counts(self) -> dict[str, int]:
        """Jobs per state (queued, running, done, failed)."""
        with Session(self._reader) as session:
            rows = session.execute(
                select(JobRow.state, func.count()).group_by(JobRow.state)  # type: ignore[arg-type]
            )
            return {state: int(n) for state, n in rows.all()}

    def _update(self, job_id: int, *, worker: str, values: dict[str, Any]) -> bool:
        with Session(self._engine) as session:
            result = session.execute(
                update(JobRow).where(JobRow.id == job_id)  # type: ignore[arg-type]
                .where(JobRow.lease_owner == worker).where(JobRow.state == "running")  # type: ignore[arg-type]
                .values(**values)
            )
            session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]
