"""Webhook bodies → ``Alert``s: Alertmanager (payload version 4) and Grafana unified alerting.

Shapes: prometheus/alertmanager ``notify/webhook`` (``Message``: version, groupKey, status,
receiver, groupLabels, commonLabels, commonAnnotations, externalURL, alerts[status, labels,
annotations, startsAt, endsAt, generatorURL, fingerprint]); Grafana's webhook contact point adds
``orgId``, ``title``, ``state``, ``message`` and per alert ``silenceURL``, ``dashboardURL``,
``panelURL``, ``values``, ``valueString`` (version "1"). Bodies that do not fit raise
``AlertParseError`` with the path of the first bad field.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.intake.errors import AlertParseError
from bot.models import Alert, AlertSource, AlertState

#: Alertmanager's "not ended" endsAt
ZERO_TIME_YEAR = 1
FALLBACK_SERVICE_LABELS = ("app", "app_kubernetes_io_name", "job")


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None


class WebhookMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupKey: str | None = None
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[WebhookAlert] = Field(min_length=1)


def parse_alertmanager(body: bytes, *, service_label: str = "service") -> list[Alert]:
    message = _load(body)
    if message.version != "4":
        raise AlertParseError(f"version: Alertmanager webhook version 4 expected, got {message.version!r}")
    return [_alert(a, message, source=AlertSource.ALERTMANAGER, service_label=service_label)
            for a in message.alerts]


def parse_grafana(body: bytes, *, service_label: str = "service") -> list[Alert]:
    message = _load(body)
    return [_alert(a, message, source=AlertSource.GRAFANA, service_label=service_label)
            for a in message.alerts]


def _load(body: bytes) -> WebhookMessage:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AlertParseError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AlertParseError(f"body is not a JSON object but {type(data).__name__}")
    try:
        return WebhookMessage.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise AlertParseError(f"{where}: {first['msg']}") from exc


def _alert(item: WebhookAlert, message: WebhookMessage, *, source: AlertSource, service_label: str) -> Alert:
    labels = dict(item.labels)
    name = labels.get("alertname")
    if not name:
        raise AlertParseError("alerts: an alert has no `alertname` label")
    service = labels.get(service_label) or next(
        (labels[k] for k in FALLBACK_SERVICE_LABELS if labels.get(k)), None)
    annotations = {**message.commonAnnotations, **item.annotations}
    links = {key: url for key, url in {
        "generator": item.generatorURL, "silence": item.silenceURL, "dashboard": item.dashboardURL,
        "panel": item.panelURL, "runbook": annotations.get("runbook_url"), "external": message.externalURL,
    }.items() if url}
    ends = item.endsAt if item.endsAt and item.endsAt.year > ZERO_TIME_YEAR else None
    fingerprint = item.fingerprint or hashlib.sha256(
        json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
    return Alert(
        source=source, name=name, service=service, namespace=labels.get("namespace"),
        severity=labels.get("severity"),
        state=AlertState.RESOLVED if item.status == "resolved" else AlertState.FIRING,
        starts_at=item.startsAt, ends_at=ends,
        summary=annotations.get("summary") or annotations.get("description"),
        fingerprint=fingerprint, links=links, labels=labels, annotations=annotations,
    )
