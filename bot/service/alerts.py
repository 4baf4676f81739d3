"""Alerts in: the use cases behind alert channels, the alert webhooks and ``/incident``.

Each call stores before it returns (the entry point answers only then), so an acknowledged alert is
never lost. What cannot be read is kept as a dead letter with the reason, and the reason is
returned for the entry point to say.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

import structlog

from bot.digest.redact import Redactor
from bot.intake.accept import AlertIntake, Delivery, IntakeResult
from bot.intake.errors import AlertParseError
from bot.intake.messages import parse_slack_message
from bot.intake.webhooks import parse_alertmanager, parse_grafana
from bot.models import Alert, AlertSource, AlertState, utcnow

log = structlog.get_logger(__name__)

WebhookKind = Literal["alertmanager", "grafana"]
T = TypeVar("T")


class RequestLimitedError(RuntimeError):
    """``/incident`` refused: the person or the channel asked too often, or the queue is full.
    ``str(exc)`` is the message for the person."""


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """``/incident`` budgets: at most ``per_user`` and ``per_channel`` investigations per ``window``."""

    per_user: int = 5
    per_channel: int = 20
    window: timedelta = timedelta(minutes=10)


class BacklogFullError(RuntimeError):
    """Too many jobs wait: webhooks are asked to come back later (Slack events are always taken)."""

    def __init__(self, backlog: int, retry_after: int) -> None:
        self.backlog = backlog
        self.retry_after = retry_after
        super().__init__(f"{backlog} jobs waiting; retry in {retry_after} s")


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """What became of a message in an alert channel."""

    result: IntakeResult | None = None
    unreadable: str | None = None  # the reason, to say in the message's thread
    ignored: str | None = None  # not an alert for Sitrep (edits, joins...)


class AlertService:
    def __init__(self, intake: AlertIntake, *, alert_channels: Collection[str] = (),
                 known_services: Callable[[], Collection[str]] = tuple, service_label: str = "service",
                 high_water: int = 500, redactor: Redactor | None = None,
                 request_limits: RequestLimits | None = None) -> None:
        self._intake = intake
        self._request_limits = request_limits or RequestLimits()
        #: what people and alerts write (a password pasted into /incident, a token in an annotation)
        #: is redacted before it is stored, posted or sent anywhere
        self._redactor = redactor or Redactor()
        self.alert_channels = frozenset(alert_channels)
        self._known_services = known_services
        self._service_label = service_label
        self._high_water = high_water
        # threads of intake's own: an ack never queues behind the worker's store calls
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="intake")

    async def _store_call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._threads.shutdown(wait=True)

    async def open_investigation(self, *, service: str, message: str | None, channel: str,
                                 user: str | None, response_url: str | None = None) -> int:
        """``/incident <service> [text]``: a new incident with its investigation queued. Raises
        ``RequestLimitedError`` when ``user`` or ``channel`` is over its budget (``RequestLimits``) or
        the job queue is at its high-water mark (alert webhooks keep their room)."""
        limits = self._request_limits
        by_user, by_channel = await self._store_call(self._intake.requests_since, utcnow() - limits.window,
                                                     user=user, channel=channel)
        minutes = max(int(limits.window.total_seconds() // 60), 1)
        if user and by_user >= limits.per_user:
            raise RequestLimitedError(
                f"You have started {by_user} investigations in the last {minutes} min (the limit is "
                f"{limits.per_user}); try again in a few minutes, or follow the open ones with `/incident list`.")
        if by_channel >= limits.per_channel:
            raise RequestLimitedError(
                f"This channel has started {by_channel} investigations in the last {minutes} min (the limit "
                f"is {limits.per_channel}); try again in a few minutes.")
        backlog = await self._store_call(self._intake.backlog)
        if backlog >= self._high_water:
            raise RequestLimitedError(
                f"Sitrep is busy: {backlog} jobs are waiting. Your request was not queued; try again in a "
                "minute (alerts from the monitoring keep being taken).")
        alert = Alert(source=AlertSource.SLASH_COMMAND, name="/incident", service=service,
                      summary=self._redactor.redact_text(message) if message else None,
                      fingerprint=uuid.uuid4().hex[:16], starts_at=utcnow())
        delivery = Delivery(origin="slash_command", slack_channel=channel, requested_by=user,
                            response_url=response_url)
        result = await self._store_call(self._intake.accept, [alert], delivery)
        return result.alerts[0].incident_id or 0

    async def accept_message(self, *, event_id: str | None, event: dict[str, Any]) -> MessageOutcome:
        """A message in an alert channel (another bot's alert, or a person's words)."""
        subtype = event.get("subtype")
        if subtype not in (None, "bot_message", "file_share"):
            return MessageOutcome(ignored=f"subtype {subtype}")
        if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
            return MessageOutcome(ignored="a reply in a thread")
        try:
            alerts = parse_slack_message(event, known_services=self._known_services())
        except AlertParseError as exc:
            if event_id and await self._store_call(self._intake.already_seen, event_id):
                return MessageOutcome(ignored="repeated delivery")
            await self._store_call(self._intake.dead_letter, route="slack", reason=exc.reason,
                                    body=json.dumps(event, ensure_ascii=False, default=str))
            if event_id:
                await self._store_call(self._intake.accept, [], Delivery(origin="slack", key=event_id))
            return MessageOutcome(unreadable=exc.reason)
        delivery = Delivery(origin="slack", key=event_id, slack_channel=event.get("channel"),
                            slack_ts=event.get("ts"))
        result = await self._store_call(self._intake.accept, self._redacted(alerts), delivery)
        return MessageOutcome(result=result)

    async def accept_webhook(self, kind: WebhookKind, body: bytes) -> IntakeResult:
        """An Alertmanager (v4) or Grafana webhook body. Raises ``AlertParseError`` (kept as a dead
        letter) or ``BacklogFullError``."""
        route = f"/alerts/{kind}"
        try:
            parse = parse_alertmanager if kind == "alertmanager" else parse_grafana
            alerts = parse(body, service_label=self._service_label)
            missing = [a.name for a in alerts if a.state is AlertState.FIRING and not a.service]
            if missing:
                raise AlertParseError(
                    f"alert {missing[0]} has no `{self._service_label}` label (nor app, job): "
                    "Sitrep cannot tell which service to investigate")
        except AlertParseError as exc:
            await self._store_call(self._intake.dead_letter, route=route, reason=exc.reason, body=body)
            raise
        backlog = await self._store_call(self._intake.backlog)
        if backlog >= self._high_water:
            raise BacklogFullError(backlog, retry_after=30)
        key = hashlib.sha256(body).hexdigest()[:32]
        return await self._store_call(self._intake.accept, self._redacted(alerts), Delivery(origin=kind, key=key))

    def _redacted(self, alerts: list[Alert]) -> list[Alert]:
        """Summaries and annotations without secrets (labels are identity: left as they are)."""
        return [alert.model_copy(update={
            "summary": self._redactor.redact_text(alert.summary) if alert.summary else alert.summary,
            "annotations": {k: self._redactor.redact_text(v) for k, v in alert.annotations.items()},
        }) for alert in alerts]

    async def reject_body(self, kind: WebhookKind, *, reason: str, body: bytes) -> None:
        """Keep a body refused before parsing (too large...)."""
        await self._store_call(self._intake.dead_letter, route=f"/alerts/{kind}", reason=reason, body=body)

