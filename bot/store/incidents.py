"""The incident store: incidents, their briefs and their timeline.

Methods are synchronous and short; async callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from sqlalchemy import or_, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.models import Brief, IncidentStatus, InvestigationRequest, SourceResult, TimelineEventType, utcnow
from bot.store.db import schema_is_current
from bot.store.stats import brief_counts, count, source_counts
from bot.store.tables import AlertRow, BriefRow, IncidentRow, TimelineEventRow

#: built on first use, like the models it holds (``bot.models._Model``): the web process rarely reads it
_RESULTS = TypeAdapter(list[SourceResult], config=ConfigDict(defer_build=True))


@dataclass(frozen=True, slots=True)
class BriefBasis:
    """What a brief was made from, after redaction: the request, every source's result, and how many
    values of each kind redaction removed (kinds only, never the values)."""

    request: InvestigationRequest
    results: list[SourceResult]
    redactions: dict[str, int] = field(default_factory=dict)


def _results_json(results: list[SourceResult]) -> str:
    return _RESULTS.dump_json(results).decode()


def _basis(row: BriefRow) -> BriefBasis | None:
    if row.request is None or row.evidence is None:
        return None
    return BriefBasis(request=InvestigationRequest.model_validate_json(row.request),
                      results=_RESULTS.validate_json(row.evidence),
                      redactions=json.loads(row.redactions or "{}"))


class IncidentNotFoundError(LookupError):
    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        super().__init__(f"incident {incident_id} not found")


class IncidentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with Session(self._engine) as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]

    def schema_is_current(self) -> bool:
        return schema_is_current(self._engine)

    def open_incident(
        self,
        *,
        service: str,
        namespace: str | None = None,
        message: str | None = None,
        severity: str | None = None,
        origin: str = "slash_command",
        requested_by: str | None = None,
        slack_channel: str | None = None,
    ) -> int:
        with Session(self._engine) as session:
            row = IncidentRow(
                service=service,
                namespace=namespace,
                message=message,
                severity=severity,
                origin=origin,
                requested_by=requested_by,
                slack_channel=slack_channel,
            )
            session.add(row)
            session.commit()
            assert row.id is not None
            return row.id

    def get(self, incident_id: int) -> IncidentRow:
        with Session(self._engine) as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                raise IncidentNotFoundError(incident_id)
            return row

    def list_incidents(self, *, before_id: int | None = None, limit: int = 50) -> list[IncidentRow]:
        """Newest first; ``before_id`` continues a listing (cursor)."""
        with Session(self._engine) as session:
            query = select(IncidentRow).order_by(IncidentRow.id.desc())  # type: ignore[union-attr]
            if before_id is not None:
                query = query.where(IncidentRow.id < before_id)  # type: ignore[operator]
            return list(session.exec(query.limit(limit)))

    def update_slack(
        self, incident_id: int, *, channel: str | None = None, root_ts: str | None = None,
        brief_ts: str | None = None,
    ) -> None:
        with Session(self._engine) as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                raise IncidentNotFoundError(incident_id)
            if channel is not None:
                row.slack_channel = channel
            if root_ts is not None:
                row.slack_ts = root_ts
            if brief_ts is not None:
                row.brief_ts = brief_ts
            session.add(row)
            session.commit()

    def incident_for_message(self, channel: str, timestamps: Sequence[str]) -> int | None:
        """The incident whose root or brief message is one of ``timestamps`` in ``channel`` (the
        newest, should an alert's message have been reused)."""
        if not timestamps:
            return None
        with Session(self._engine) as session:
            return session.exec(
                select(IncidentRow.id).where(IncidentRow.slack_channel == channel)
                .where(or_(IncidentRow.slack_ts.in_(timestamps),  # type: ignore[union-attr]
                           IncidentRow.brief_ts.in_(timestamps)))  # type: ignore[union-attr]
                .order_by(IncidentRow.id.desc())  # type: ignore[union-attr]
            ).first()

    def set_status(self, incident_id: int, status: str) -> str:
        """Open or resolve; returns the status it had."""
        with Session(self._engine) as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                raise IncidentNotFoundError(incident_id)
            previous = row.status
            row.status = status
            row.resolved_at = utcnow() if status == IncidentStatus.RESOLVED.value else None
            session.add(row)
            session.commit()
            return previous

    def open_incidents(self, *, limit: int = 20) -> list[IncidentRow]:
        with Session(self._engine) as session:
            return list(session.exec(select(IncidentRow).where(IncidentRow.status == IncidentStatus.OPEN.value)
                                     .order_by(IncidentRow.id.desc()).limit(limit)))  # type: ignore[union-attr]

    def save_brief(self, incident_id: int, brief: Brief, *, basis: BriefBasis | None = None) -> int:
        """Keep ``brief`` and, when given, what it was made from (redacted)."""
        with Session(self._engine) as session:
            row = BriefRow(
                incident_id=incident_id,
                status=brief.analysis.status.value,
                model=brief.analysis.model,
                body=brief.model_dump_json(),
                request=basis.request.model_dump_json() if basis else None,
                evidence=_results_json(basis.results) if basis else None,
                redactions=json.dumps(basis.redactions) if basis else None,
            )
            session.add(row)
            count(session, brief_counts(brief))
            session.commit()
            assert row.id is not None
            return row.id

    def latest_brief(self, incident_id: int) -> Brief | None:
        with Session(self._engine) as session:
            row = session.exec(
                select(BriefRow)
                .where(BriefRow.incident_id == incident_id)
                .order_by(BriefRow.id.desc())  # type: ignore[union-attr]
            ).first()
            return Brief.model_validate_json(row.body) if row else None

    def briefs_with_basis(self, incident_id: int) -> list[tuple[Brief, BriefBasis | None]]:
        """Every brief of the incident, oldest first, with what it was made from when kept."""
        with Session(self._engine) as session:
            rows = list(session.exec(select(BriefRow).where(BriefRow.incident_id == incident_id)
                                     .order_by(BriefRow.id)))  # type: ignore[arg-type]
        return [(Brief.model_validate_json(row.body), _basis(row)) for row in rows]

    def add_event(
        self,
        incident_id: int,
        type: TimelineEventType,
        *,
        actor: str = "sitrep",
        data: dict[str, Any] | None = None,
    ) -> None:
        with Session(self._engine) as session:
            session.add(
                TimelineEventRow(
                    incident_id=incident_id,
                    type=type.value,
                    actor=actor,
                    data=json.dumps(data or {}, default=str),
                )
            )
            if type is TimelineEventType.SOURCE_COLLECTED:
                count(session, source_counts(data or {}))
            session.commit()

    def alerts(self, incident_id: int) -> list[AlertRow]:
        """The incident's alerts as received, oldest first (joins, re-sends and resolves included)."""
        with Session(self._engine) as session:
            return list(session.exec(select(AlertRow).where(AlertRow.incident_id == incident_id)
                                     .order_by(AlertRow.id)))  # type: ignore[arg-type]

    def has_event(self, incident_id: int, type: TimelineEventType) -> bool:
        with Session(self._engine) as session:
            return session.exec(
                select(TimelineEventRow.id).where(TimelineEventRow.incident_id == incident_id)
                .where(TimelineEventRow.type == type.value)
            ).first() is not None

    def timeline(self, incident_id: int) -> list[TimelineEventRow]:
        with Session(self._engine) as session:
            return list(
                session.exec(
                    select(TimelineEventRow)
                    .where(TimelineEventRow.incident_id == incident_id)
                    .order_by(TimelineEventRow.id)  # type: ignore[arg-type]
                )
            )
