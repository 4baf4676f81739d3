"""SQLModel tables. JSON bodies are stored as text so SQLite and PostgreSQL behave alike."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.models import IncidentStatus, utcnow


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(index=True)
    namespace: str | None = None
    status: str = Field(default=IncidentStatus.OPEN.value, index=True)
    severity: str | None = None
    message: str | None = None
    origin: str = "slash_command"  # slash_command | cli | alert
    requested_by: str | None = None
    opened_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None  # the root message the brief is threaded under
    brief_ts: str | None = None  # the brief message, updated in place


class BriefRow(SQLModel, table=True):
    __tablename__ = "briefs"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    status: str
    model: str | None = None
    body: str  # Brief JSON


class TimelineEventRow(SQLModel, table=True):
    __tablename__ = "timeline_events"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    type: str
    actor: str = "sitrep"
    data: str = "{}"  # JSON
