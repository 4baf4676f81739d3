"""Accepting alerts: store first, then answer. Nothing accepted is ever lost.

One call, one transaction: the delivery is recorded (a Slack event id is taken once), every alert
becomes a row, and each alert either

    opens an incident (+ an ``investigate`` job, after a short group wait)
    joins an open incident (same service, or linked: calls, shared resource, same error)
    repeats one already known (``duplicate``: Slack retries, Alertmanager re-sends, the same
        alert seen in Slack and by webhook)
    resolves (the incident resolves once all its alerts have)

Thread lines ("joined", "resolved") are ``say`` jobs, so a worker with Slack says them even when
the alert came in over HTTP. Calls are synchronous; async callers use ``asyncio.to_thread``.

Nothing is kept unredacted: an alert's name, summary, label and annotation values and links, and a dead
letter's body and reason, go through ``bot.digest.redact`` before they are stored or logged (a token in an
annotation, a password in a label, a webhook body with an API key that could not be parsed).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.digest.redact import Redactor
from bot.intake.grouping import AlertFacts, DependencyGraph, OpenIncident, find_incidents, probable_root
from bot.intake.messages import alert_identity
from bot.markdown import slack_code, slack_text
from bot.models import Alert, AlertSource, AlertState, IncidentStatus, TimelineEventType, utcnow
from bot.store.queue import JobQueue
from bot.store.stats import alert_counts, count, dead_letter_counts, job_finished_counts
from bot.store.tables import (
    AlertRow,
    DeadLetterRow,
    IncidentRow,
    JobRow,
    SlackEventRow,
    TimelineEventRow,
)

log = structlog.get_logger(__name__)

Outcome = Literal["opened", "joined", "duplicate", "resolved", "unmatched"]

#: a dead letter keeps this much of the raw body
DEAD_LETTER_BYTES = 1_000_000
#: any key, the same for every replica: serialises grouping decisions on PostgreSQL
_PG_LOCK_KEY = 74_210_001


@dataclass(frozen=True, slots=True)
class Delivery:
    """How alerts reached Sitrep."""

    origin: Literal["slack", "alertmanager", "grafana", "slash_command"]
    key: str | None = None  # the Slack event id (taken once) or a webhook's group key
    slack_channel: str | None = None
    slack_ts: str | None = None  # the alert message, when it was posted in Slack
    requested_by: str | None = None
    response_url: str | None = None  # a slash command's, to tell the person when posting fails


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    alert_id: int
    incident_id: int | None
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class IntakeResult:
    repeated_delivery: bool = False  # a Slack retry of an event already taken
    alerts: list[AlertOutcome] = field(default_factory=list)

    @property
    def opened(self) -> list[int]:
        return [a.incident_id for a in self.alerts if a.outcome == "opened" and a.incident_id]


def _age(at: datetime) -> timedelta:
    return utcnow() - (at if at.tzinfo else at.replace(tzinfo=timezone.utc))


def _is_open(session: Session, incident_id: int) -> bool:
    incident = session.get(IncidentRow, incident_id)
    return incident is not None and incident.status == IncidentStatus.OPEN.value


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    group_window: timedelta = timedelta(minutes=10)
    group_wait: timedelta = timedelta(seconds=3)
    group_labels: tuple[str, ...] = ("node", "database", "db", "db_instance")
    investigations_per_hour: int = 6
    max_attempts: int = 3
    #: a re-sent alert older than this is a re-fire (worth a delta), not a retry or a Slack/webhook twin
    refire_after: timedelta = timedelta(minutes=5)


class AlertIntake:
    def __init__(self, engine: Engine, queue: JobQueue, *, limits: IntakeLimits = IntakeLimits(),
                 graph: Callable[[], DependencyGraph] = DependencyGraph, redactor: Redactor | None = None) -> None:
        self._engine = engine
        self._redactor = redactor or Redactor()
        self._queue = queue
        self._limits = limits
        self._graph = graph
        self._lock = threading.Lock()  # one grouping decision at a time in this process
        self._postgres = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ public

    def accept(self, alerts: Sequence[Alert], delivery: Delivery) -> IntakeResult:
        alerts = [self.redacted(alert) for alert in alerts]
        graph = self._graph()
        with self._lock, Session(self._engine) as session:
            if self._postgres:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            if delivery.origin == "slack" and delivery.key:
                session.add(SlackEventRow(event_id=delivery.key))
                try:
                    session.flush()
                except IntegrityError:
                    session.rollback()
                    log.info("slack_event_repeated", event_id=delivery.key)
                    return IntakeResult(repeated_delivery=True)
            outcomes = [self._accept_one(session, alert, delivery, graph) for alert in alerts]
            count(session, alert_counts(o.outcome for o in outcomes))
            session.commit()
        for outcome in outcomes:
            log.info("alert_accepted", alert_id=outcome.alert_id, incident_id=outcome.incident_id,
                     outcome=outcome.outcome, origin=delivery.origin)
        return IntakeResult(alerts=outcomes)

    def already_seen(self, event_id: str) -> bool:
        with Session(self._engine) as session:
            return session.get(SlackEventRow, event_id) is not None

    def redacted(self, alert: Alert) -> Alert:
        """``alert`` with its name, summary, label and annotation values and links redacted. Service and
        namespace stay: they name what to investigate. Redaction is deterministic, so the same alert seen
        in Slack and by webhook still has one identity."""
        redact, field = self._redactor.redact_text, self._redactor.redact_field
        return alert.model_copy(update={
            "name": redact(alert.name),
            "summary": redact(alert.summary) if alert.summary else alert.summary,
            "labels": {k: field(k, v) for k, v in alert.labels.items()},
            "annotations": {k: field(k, v) for k, v in alert.annotations.items()},
            "links": {k: redact(v) for k, v in alert.links.items()},
        })

    def dead_letter(self, *, route: str, reason: str, body: bytes | str) -> int:
        """Keep what could not be read, with the reason: both redacted (``size`` is the raw body's)."""
        raw = body if isinstance(body, bytes) else body.encode("utf-8", "replace")
        reason = self._redactor.redact_text(reason[:1000])
        kept = self._redactor.redact_text(raw[:DEAD_LETTER_BYTES].decode("utf-8", "replace"))
        with Session(self._engine) as session:
            row = DeadLetterRow(route=route, reason=reason, size=len(raw), body=kept)
            session.add(row)
            count(session, dead_letter_counts(route))
            session.commit()
            assert row.id is not None
            log.warning("dead_letter", route=route, reason=reason[:200], size=len(raw), id=row.id)
            return row.id

    def backlog(self) -> int:
        return self._queue.depth()

    def requests_since(self, since: datetime, *, user: str | None, channel: str | None) -> tuple[int, int]:
        """How many ``/incident`` investigations ``user`` and ``channel`` opened since ``since``
        (counted in the store, so every replica sees the same numbers)."""
        with Session(self._engine) as session:
            def count(*where: object) -> int:
                query = select(func.count()).select_from(IncidentRow).where(
                    IncidentRow.origin == "slash_command", col(IncidentRow.opened_at) >= since, *where)
                return int(session.exec(query).one())
            by_user = count(IncidentRow.requested_by == user) if user else 0
            by_channel = count(IncidentRow.slack_channel == channel) if channel else 0
        return by_user, by_channel

    # ------------------------------------------------------------------ one alert

    def _accept_one(self, session: Session, alert: Alert, delivery: Delivery,
                    graph: DependencyGraph) -> AlertOutcome:
        identity = alert_identity(alert)
        row = AlertRow(
            origin=delivery.origin, source=alert.source.value, name=alert.name, service=alert.service,
            namespace=alert.namespace, severity=alert.severity, state=alert.state.value,
            starts_at=alert.starts_at, ends_at=alert.ends_at, fingerprint=alert.fingerprint,
            identity=identity, summary=alert.summary, labels=json.dumps(alert.labels),
            links=json.dumps(alert.links), slack_channel=delivery.slack_channel,
            slack_ts=delivery.slack_ts, delivery=delivery.key,
        )
        if alert.state is AlertState.RESOLVED:
            return self._resolve(session, row, alert)
        if alert.source is AlertSource.SLASH_COMMAND:
            return self._open(session, row, alert, delivery, wait=timedelta(0))
        known = self._firing_twin(session, alert, identity)
        if known is not None:
            return self._duplicate(session, row, known, delivery)
        assert alert.service is not None  # parsers refuse a firing alert without a service
        now = utcnow()
        facts = _facts(alert, now)
        incidents = self._open_incidents(session)
        matches = find_incidents(facts, incidents, graph=graph, window=self._limits.group_window,
                                 group_labels=self._limits.group_labels, now=now)
        if matches:
            target = matches[0].incident
            for other in matches[1:]:  # this alert links them: one problem, one incident
                self._merge(session, other.incident, into=target, via=row)
                target.alerts.extend(other.incident.alerts)
            return self._join(session, row, target, reason=matches[0].reason, graph=graph)
        latest = self._rate_limited(session, alert.service, now)
        if latest is not None:
            return self._join(session, row, latest, graph=graph, reason=(
                f"{alert.service} had {self._limits.investigations_per_hour} investigations in the "
                "last hour: not investigated again"))
        return self._open(session, row, alert, delivery, wait=self._limits.group_wait)

    def _open(self, session: Session, row: AlertRow, alert: Alert, delivery: Delivery,
              *, wait: timedelta) -> AlertOutcome:
        assert alert.service is not None
        incident = IncidentRow(
            service=alert.service, namespace=alert.namespace, severity=alert.severity,
            message=alert.summary or (None if alert.source is AlertSource.SLASH_COMMAND else alert.name),
            origin="slash_command" if alert.source is AlertSource.SLASH_COMMAND else "alert",
            requested_by=delivery.requested_by, slack_channel=delivery.slack_channel,
            slack_ts=delivery.slack_ts, onset_at=row.starts_at,
        )
        session.add(incident)
        session.flush()
        assert incident.id is not None
        row.incident_id, row.outcome = incident.id, "opened"
        session.add(row)
        session.flush()
        _event(session, incident.id, TimelineEventType.ALERT_RECEIVED, alert_id=row.id, name=alert.name,
               service=alert.service, origin=delivery.origin, severity=alert.severity)
        payload: dict[str, object] = {"incident_id": incident.id}
        if delivery.response_url:
            payload["response_url"] = delivery.response_url
        self._queue.enqueue("investigate", payload, dedup_key=f"investigate:{incident.id}",
                            max_attempts=self._limits.max_attempts, session=session, delay=wait)
        assert row.id is not None
        return AlertOutcome(row.id, incident.id, "opened")

    def _join(self, session: Session, row: AlertRow, incident: OpenIncident, *, reason: str,
              graph: DependencyGraph) -> AlertOutcome:
        incident_row = session.get(IncidentRow, incident.id)
        assert incident_row is not None
        if incident_row.status != IncidentStatus.OPEN.value:  # rate-limited: back to the latest
            incident_row.status, incident_row.resolved_at = IncidentStatus.OPEN.value, None
        row.incident_id, row.outcome = incident.id, "joined"
        session.add(row)
        session.flush()
        _event(session, incident.id, TimelineEventType.ALERT_JOINED, alert_id=row.id, name=row.name,
               service=row.service, reason=reason)
        line = f"➕ {slack_code(row.name)} on *{slack_text(row.service)}* joined this incident: {slack_text(reason)}."
        root = probable_root([*incident.alerts, _facts_row(row)], graph=graph)
        if root != incident_row.service and incident_row.origin == "alert":
            _event(session, incident.id, TimelineEventType.ROOT_CHANGED,
                   previous=incident_row.service, root=root)
            incident_row.service = root
            namespaces = {a.namespace for a in _rows(session, incident.id) if a.service == root}
            incident_row.namespace = next(iter(sorted(n for n in namespaces if n)), None)
            if not self._investigation_pending(session, incident.id):
                # the brief looked at a caller: look again at the deeper service, same message
                self._queue.enqueue("investigate", {"incident_id": incident.id, "again": True},
                                    dedup_key=f"investigate:{incident.id}:{root}", session=session,
                                    max_attempts=self._limits.max_attempts, delay=self._limits.group_wait)
                line += f" It looks like the root: investigating *{root}* now; the brief will be updated."
        session.add(incident_row)
        self._say(session, incident.id, line)  # a new alert (re-sends are duplicates, said nothing)
        assert row.id is not None
        self._look_again(session, incident.id, row, why=f"{slack_code(row.name)} on {slack_text(row.service)} joined")
        return AlertOutcome(row.id, incident.id, "joined", reason)

    def _look_again(self, session: Session, incident_id: int, row: AlertRow, *, why: str) -> None:
        """A delta ("what changed since the last brief") once the group wait is over — unless an
        investigation is still coming (its brief will include this) or a delta already waits."""
        if self._investigation_pending(session, incident_id):
            return
        prefix = f"delta:{incident_id}:"
        waiting = session.exec(select(JobRow.id).where(col(JobRow.state) == "queued")
                               .where(col(JobRow.dedup_key).startswith(prefix))).first()
        if waiting is None:
            self._queue.enqueue("delta", {"incident_id": incident_id, "reason": why},
                                dedup_key=f"{prefix}{row.id}", session=session,
                                max_attempts=self._limits.max_attempts, delay=self._limits.group_wait)

    def _merge(self, session: Session, source: OpenIncident, *, into: OpenIncident, via: AlertRow) -> None:
        """``source`` turns out to be part of ``into``: its alerts move over, its waiting
        investigation is dropped, it is closed, and both threads say so."""
        merged = session.get(IncidentRow, source.id)
        assert merged is not None
        for alert_row in _rows(session, source.id):
            alert_row.incident_id = into.id
            session.add(alert_row)
        key = f"investigate:{source.id}"
        for job in session.exec(select(JobRow).where(col(JobRow.state) == "queued").where(
                (col(JobRow.dedup_key) == key) | col(JobRow.dedup_key).startswith(key + ":"))).all():
            job.state, job.last_error, job.finished_at = "cancelled", f"merged into incident {into.id}", utcnow()
            session.add(job)
            count(session, job_finished_counts(job.kind, "cancelled"))
        merged.status, merged.resolved_at = IncidentStatus.RESOLVED.value, utcnow()
        session.add(merged)
        services = ", ".join(sorted(source.services))
        _event(session, source.id, TimelineEventType.INCIDENT_MERGED, into=into.id, via=via.service)
        _event(session, into.id, TimelineEventType.INCIDENT_MERGED, merged=source.id, services=services)
        if merged.slack_ts:  # its thread exists (its alert's own message, or a posted root)
            self._say(session, source.id, f"🔗 Merged into incident {into.id}: {slack_code(via.name)} on "
                      f"*{slack_text(via.service)}* links them. Follow that incident's thread.")
        self._say(session, into.id, f"🔗 Incident {source.id} ({slack_text(services)}) merged here: "
                  f"{slack_code(via.name)} on *{slack_text(via.service)}* links them.")

    def _duplicate(self, session: Session, row: AlertRow, known: AlertRow,
                   delivery: Delivery) -> AlertOutcome:
        row.incident_id, row.outcome, row.duplicate_of = known.incident_id, "duplicate", known.id
        session.add(row)
        # not a retry or a twin seconds later: the alert is still firing, notified again (Alertmanager's
        # repeat_interval) or fired anew — look at what changed since the brief
        refired = _age(known.received_at) >= self._limits.refire_after

        if known.incident_id is not None and delivery.slack_ts:
            incident = session.get(IncidentRow, known.incident_id)
            # the webhook came first: thread the brief under the alert's own message if not posted yet
            if incident is not None and incident.slack_ts is None:
                incident.slack_channel, incident.slack_ts = delivery.slack_channel, delivery.slack_ts
                session.add(incident)
        session.flush()
        assert row.id is not None
        if refired and known.incident_id is not None and _is_open(session, known.incident_id):
            self._look_again(session, known.incident_id, row,
                             why=f"{slack_code(row.name)} on {slack_text(row.service)} fired again")
        return AlertOutcome(row.id, known.incident_id, "duplicate")

    def _resolve(self, session: Session, row: AlertRow, alert: Alert) -> AlertOutcome:
        known = next(iter(self._in_open_incidents(session, row.identity, row.fingerprint)), None)
        if known is None or known.incident_id is None:
            row.outcome = "unmatched"
            session.add(row)
            session.flush()
            assert row.id is not None
            return AlertOutcome(row.id, None, "unmatched", "no open incident has this alert")
        incident_id = known.incident_id
        row.incident_id, row.outcome = incident_id, "resolved"
        session.add(row)
        session.flush()
        _event(session, incident_id, TimelineEventType.ALERT_RESOLVED, alert_id=row.id, name=row.name,
               service=row.service)
        still_firing = _still_firing(_rows(session, incident_id))
        incident = session.get(IncidentRow, incident_id)
        assert incident is not None and row.id is not None
        if incident.origin == "alert" and not still_firing:
            incident.status, incident.resolved_at = IncidentStatus.RESOLVED.value, utcnow()
            session.add(incident)
            _event(session, incident_id, TimelineEventType.INCIDENT_RESOLVED, by="alerts")
            self._say(session, incident_id, f"✅ {slack_code(row.name)} on *{slack_text(row.service)}* resolved. "
                      "All alerts of this incident have resolved: incident closed.")
        else:
            left = ", ".join(sorted(still_firing)) or "none"
            self._say(session, incident_id, f"✅ {slack_code(row.name)} on *{slack_text(row.service)}* resolved. "
                      f"Still firing: {slack_text(left)}.")
        return AlertOutcome(row.id, incident_id, "resolved")

    # ------------------------------------------------------------------ lookups

    def _firing_twin(self, session: Session, alert: Alert, identity: str) -> AlertRow | None:
        """The same alert, already firing in an open incident."""
        states: dict[tuple[int | None, str], str] = {}  # one look per (incident, alert), however many re-sends
        for known in self._in_open_incidents(session, identity, alert.fingerprint):
            if alert.namespace and known.namespace and alert.namespace != known.namespace \
                    and known.fingerprint != alert.fingerprint:
                continue  # the same alert name on the same service in another namespace
            key = (known.incident_id, known.identity)
            if key not in states:
                states[key] = self._latest_state(session, known)
            if states[key] == AlertState.FIRING.value:
                return known
        return None

    def _in_open_incidents(self, session: Session, identity: str, fingerprint: str) -> list[AlertRow]:
        """Rows of this alert (same identity or fingerprint) in open incidents, newest first."""
        return list(session.exec(
            select(AlertRow).join(IncidentRow, col(IncidentRow.id) == col(AlertRow.incident_id))
            .where(col(IncidentRow.status) == IncidentStatus.OPEN.value)
            .where((col(AlertRow.identity) == identity) | (col(AlertRow.fingerprint) == fingerprint))
            .order_by(col(AlertRow.id).desc())
        ).all())

    def _latest_state(self, session: Session, known: AlertRow) -> str:
        last = session.exec(
            select(AlertRow.state).where(col(AlertRow.incident_id) == known.incident_id)
            .where(col(AlertRow.identity) == known.identity).order_by(col(AlertRow.id).desc())
        ).first()
        return last or known.state

    def _open_incidents(self, session: Session) -> list[OpenIncident]:
        """Open alert incidents with their distinct firing alerts (two queries, whatever the count;
        re-sends are left out: they say nothing new)."""
        incidents = session.exec(
            select(IncidentRow).where(col(IncidentRow.status) == IncidentStatus.OPEN.value)
            .where(col(IncidentRow.origin) == "alert")
        ).all()
        ids = [i.id for i in incidents]
        alerts: dict[int, list[AlertFacts]] = {}
        if ids:
            rows = session.exec(
                select(AlertRow).where(col(AlertRow.incident_id).in_(ids))
                .where(col(AlertRow.state) == AlertState.FIRING.value)
                .where(col(AlertRow.outcome).in_(["opened", "joined"])).order_by(col(AlertRow.id))
            ).all()
            for row in rows:
                if row.service and row.incident_id is not None:
                    alerts.setdefault(row.incident_id, []).append(_facts_row(row))
        return [OpenIncident(id=i.id, service=i.service, opened_at=_aware(i.opened_at),
                             alerts=alerts.get(i.id, []))
                for i in incidents if i.id is not None]

    def _rate_limited(self, session: Session, service: str, now: datetime) -> OpenIncident | None:
        since = now - timedelta(hours=1)
        recent = session.exec(
            select(IncidentRow).where(col(IncidentRow.service) == service)
            .where(col(IncidentRow.origin) == "alert").where(col(IncidentRow.opened_at) >= since)
            .order_by(col(IncidentRow.id).desc())
        ).all()
        if len(recent) < self._limits.investigations_per_hour:
            return None
        latest = recent[0]
        assert latest.id is not None
        return OpenIncident(id=latest.id, service=latest.service, opened_at=_aware(latest.opened_at),
                            alerts=[_facts_row(r) for r in _rows(session, latest.id) if r.service])

    def _investigation_pending(self, session: Session, incident_id: int) -> bool:
        """An investigation of this incident waits to start (it will read the new root)."""
        key = f"investigate:{incident_id}"
        waiting = session.exec(
            select(JobRow.id).where(col(JobRow.state) == "queued").where(
                (col(JobRow.dedup_key) == key) | col(JobRow.dedup_key).startswith(key + ":"))
        ).first()
        return waiting is not None

    def _say(self, session: Session, incident_id: int, line: str) -> None:
        # retried with backoff until the thread exists (a webhook incident posts its root later)
        self._queue.enqueue("say", {"incident_id": incident_id, "text": line}, max_attempts=6,
                            session=session)


def _rows(session: Session, incident_id: int) -> list[AlertRow]:
    return list(session.exec(select(AlertRow).where(col(AlertRow.incident_id) == incident_id)
                             .order_by(col(AlertRow.id))).all())


def _still_firing(rows: list[AlertRow]) -> set[str]:
    """Names of the alerts whose latest state is firing."""
    latest: dict[str, AlertRow] = {}
    for row in rows:
        if row.origin != "slash_command":
            latest[row.identity] = row
    return {f"{r.name} ({r.service})" for r in latest.values() if r.state == AlertState.FIRING.value}


def _facts(alert: Alert, now: datetime) -> AlertFacts:
    assert alert.service is not None
    return AlertFacts(service=alert.service, name=alert.name, onset=_aware(alert.starts_at or now),
                      labels=alert.labels, summary=alert.summary)


def _facts_row(row: AlertRow) -> AlertFacts:
    return AlertFacts(service=row.service or "", name=row.name,
                      onset=_aware(row.starts_at or row.received_at),
                      labels=json.loads(row.labels), summary=row.summary)


def _event(session: Session, incident_id: int, type: TimelineEventType, **data: object) -> None:
    session.add(TimelineEventRow(incident_id=incident_id, type=type.value, data=json.dumps(data, default=str)))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def count_rows(engine: Engine, table: type[AlertRow] | type[DeadLetterRow]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())
