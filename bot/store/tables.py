"""SQLModel tables. JSON bodies are stored as text so SQLite and PostgreSQL behave alike."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.models import IncidentStatus, utcnow


class _Table(SQLModel):
    """Rows are built from the database and by the stores, never validated from outside: their
    pydantic validators are built if ever used (``model_validate``), not at every start."""

    model_config = ConfigDict(defer_build=True)


class IncidentRow(_Table, table=True):
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
    #: when the symptom began (the earliest alert's start), the end of the look-back window's start
    onset_at: datetime | None = None


class BriefRow(_Table, table=True):
    __tablename__ = "briefs"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    status: str
    model: str | None = None
    body: str  # Brief JSON
    #: what the brief was made from, redacted: the InvestigationRequest and the SourceResults (JSON),
    #: and how many values of each kind redaction removed — for "what the model saw", re-fire deltas
    #: and replay cases (``sitrep eval export``)
    request: str | None = None
    evidence: str | None = None
    redactions: str | None = None


class TimelineEventRow(_Table, table=True):
    __tablename__ = "timeline_events"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    type: str
    actor: str = "sitrep"
    data: str = "{}"  # JSON


class ProposalRow(_Table, table=True):
    """A typed action proposed on a brief, with the policy's decision and where it stands."""

    __tablename__ = "proposals"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    position: int = 0  # order on the brief, safest first
    action: str  # Action JSON
    decision: str  # Decision JSON at proposal time
    state: str = Field(default="pending", index=True)
    requester: str | None = None  # who opened the incident (two-person rule)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    decided_by: str | None = None  # who rejected, or "policy" for auto
    reason: str | None = None  # rejection reason, or why execution was refused
    #: the ArgoCD history id that was current when the action was proposed (stale-brief guard)
    basis_deploy: int | None = None
    #: Action JSON that puts the target back as it was, recorded before this action executed
    revert_action: str | None = None
    #: the proposal this one reverts; unique, so an executed action is reverted at most once
    reverts: int | None = Field(default=None, unique=True)


class ApprovalRow(_Table, table=True):
    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id", name="uq_approval_user"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: str
    at: datetime = Field(default_factory=utcnow)


class ExecutionRow(_Table, table=True):
    """At most one per proposal (unique): the database makes execution exactly once."""

    __tablename__ = "executions"

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", unique=True)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    ok: bool | None = None
    dry_run: bool = True
    result: str = "{}"  # ExecutionResult JSON


class JobRow(_Table, table=True):
    """A unit of work in the durable queue (an investigation, a verification...)."""

    __tablename__ = "jobs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    payload: str = "{}"  # JSON
    dedup_key: str | None = Field(default=None, unique=True)  # the same work is enqueued once
    state: str = Field(default="queued", index=True)  # queued | running | done | failed
    attempts: int = 0
    max_attempts: int = 3
    run_after: datetime = Field(default_factory=utcnow, index=True)
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class FeedbackRow(_Table, table=True):
    """A person's verdict on a brief's root cause (the latest per person counts)."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("incident_id", "user_id", name="uq_feedback_user"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    user_id: str
    correct: bool
    actual_cause: str | None = None
    at: datetime = Field(default_factory=utcnow)


class AlertRow(_Table, table=True):
    """Every alert accepted, whatever it came from; kept even when it only joined an incident or
    repeated one already known (``duplicate_of``)."""

    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    origin: str  # slack | alertmanager | grafana | slash_command
    source: str  # the product: alertmanager, grafana, datadog, ...
    name: str
    service: str | None = Field(default=None, index=True)
    namespace: str | None = None
    severity: str | None = None
    state: str = "firing"
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str = Field(index=True)
    identity: str = Field(index=True)  # the same alert seen in Slack and by webhook
    summary: str | None = None
    labels: str = "{}"  # JSON
    links: str = "{}"  # JSON
    slack_channel: str | None = None
    slack_ts: str | None = None  # the message it was posted as, when it came through Slack
    delivery: str | None = None  # Slack event id or webhook group key
    outcome: str = "opened"  # opened | joined | duplicate | resolved | unmatched
    duplicate_of: int | None = None


class SlackEventRow(_Table, table=True):
    """Slack event ids seen: Slack retries a delivery up to 3 times; each is handled once."""

    __tablename__ = "slack_events"

    event_id: str = Field(primary_key=True)
    received_at: datetime = Field(default_factory=utcnow)


class DeadLetterRow(_Table, table=True):
    """What arrived and could not be read: kept with the reason, never dropped silently."""

    __tablename__ = "dead_letters"

    id: int | None = Field(default=None, primary_key=True)
    route: str  # /alerts/alertmanager, /alerts/grafana, slack
    received_at: datetime = Field(default_factory=utcnow)
    reason: str
    size: int = 0  # bytes received
    body: str = ""  # the raw body (first 1 MB)


class ServiceEdgeRow(_Table, table=True):
    """``parent`` calls ``child``: learned from traces (Jaeger's dependencies, collected spans)."""

    __tablename__ = "service_edges"
    __table_args__ = (UniqueConstraint("parent", "child", name="uq_service_edge"),)

    id: int | None = Field(default=None, primary_key=True)
    parent: str = Field(index=True)
    child: str = Field(index=True)
    calls: int = 0
    seen_at: datetime = Field(default_factory=utcnow)


class MetricCounterRow(_Table, table=True):
    """A running total for ``/metrics`` (``bot.store.stats``): one row per counter and label values,
    added to in the transaction that records the event it counts."""

    __tablename__ = "metric_counters"

    name: str = Field(primary_key=True)  # the metric family, e.g. sitrep_alerts
    labels: str = Field(primary_key=True)  # JSON list of the label values, in the metric's label order
    value: float = 0.0
