"""Webhook bodies → ``Alert``s: Alertmanager (payload version 4) and Grafana unified alerting.

Shapes (read from the projects, not copied):

* prometheus/alertmanager ``notify/webhook`` ``Message`` (version ``"4"``)::

    {version, groupKey, truncatedAlerts, status, receiver, groupLabels, commonLabels,
     commonAnnotations, externalURL,
     alerts: [{status, labels, annotations, startsAt, endsAt, generatorURL, fingerprint}]}

  ``endsAt`` is Go's zero time (``0001-01-01T00:00:00Z``) while an alert fires.
* Grafana's webhook contact point (unified alerting, ``version: "1"``): the same, plus ``orgId``,
  ``title``, ``state``, ``message`` and per alert ``silenceURL``, ``dashboardURL``, ``panelURL``,
  ``values``, ``valueString``.

A body that does not fit raises ``AlertParseError`` naming the first bad field
(``alerts.0.labels: Field required``). Links keep the payload's own names (``generatorURL``,
``silenceURL``, ``dashboardURL``, ``panelURL``, ``externalURL``, and the ``runbook_url``
annotation), the same names the Slack message parser uses.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.intake.errors import AlertParseError
from bot.models import Alert, AlertSource, AlertState

#: labels that name the service when the configured one is missing, best first
FALLBACK_SERVICE_LABELS = ("app", "app_kubernetes_io_name", "job")
ALERTMANAGER_VERSION = "4"

M = TypeVar("M", bound=BaseModel)


class WebhookAlert(BaseModel):
    """One alert of an Alertmanager webhook body."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without an offset is UTC (Alertmanager always sends one)."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class GrafanaAlert(WebhookAlert):
    """One alert of a Grafana webhook body: Alertmanager's plus Grafana's links and values."""

    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    values: dict[str, Any] | None = None
    valueString: str | None = None


class AlertmanagerMessage(BaseModel):
    """An Alertmanager webhook body (``notify/webhook`` ``Message``)."""

    model_config = ConfigDict(extra="ignore")

    version: str
    groupKey: str | None = None
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    alerts: list[WebhookAlert] = Field(min_length=1)


class GrafanaMessage(AlertmanagerMessage):
    """A Grafana unified-alerting webhook body (``version: "1"``)."""

    version: str = "1"
    orgId: int | None = None
    title: str | None = None
    state: str | None = None
    message: str | None = None
    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]


def parse_alertmanager(body: bytes, *, service_label: str = "service") -> list[Alert]:
    """The alerts of an Alertmanager webhook body (payload version 4). Raises ``AlertParseError``."""
    data = _load_json(body)
    version = data.get("version")
    if "version" in data and version != ALERTMANAGER_VERSION:
        hint = " (a Grafana body? send it to /alerts/grafana)" if version == "1" else ""
        raise AlertParseError(
            f"version: Alertmanager webhook version {ALERTMANAGER_VERSION} expected, got {version!r}{hint}")
    message = _validate(AlertmanagerMessage, data)
    return [_alert(item, index=i, message=message, source=AlertSource.ALERTMANAGER,
                   service_label=service_label) for i, item in enumerate(message.alerts)]


def parse_grafana(body: bytes, *, service_label: str = "service") -> list[Alert]:
    """The alerts of a Grafana unified-alerting webhook body. Raises ``AlertParseError``."""
    data = _load_json(body)
    if "alerts" not in data and ("evalMatches" in data or "ruleName" in data):
        raise AlertParseError("alerts: Field required (this is Grafana's legacy alerting webhook; "
                              "use a unified-alerting webhook contact point)")
    message = _validate(GrafanaMessage, data)
    return [_alert(item, index=i, message=message, source=AlertSource.GRAFANA,
                   service_label=service_label) for i, item in enumerate(message.alerts)]


# --------------------------------------------------------------------------- reading


def _load_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise AlertParseError(f"body is not JSON: {exc}") from exc
    except TypeError as exc:
        raise AlertParseError(f"body is not JSON: {type(body).__name__}") from exc
    if not isinstance(data, dict):
        raise AlertParseError(f"body: a JSON object expected, got {_json_type(data)}")
    return data


def _validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AlertParseError(f"{where}: {first['msg']}{more}") from exc


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------- to Alert


def _alert(item: WebhookAlert, *, index: int, message: AlertmanagerMessage, source: AlertSource,
           service_label: str) -> Alert:
    labels = dict(item.labels)
    name = labels.get("alertname", "").strip()
    if not name:
        raise AlertParseError(f"alerts.{index}.labels: no `alertname` label")
    service = labels.get(service_label) or next(
        (labels[key] for key in FALLBACK_SERVICE_LABELS if labels.get(key)), None)
    annotations = {**message.commonAnnotations, **item.annotations}
    links = {"generatorURL": item.generatorURL}
    if isinstance(item, GrafanaAlert):
        links |= {"silenceURL": item.silenceURL, "dashboardURL": item.dashboardURL, "panelURL": item.panelURL}
    links |= {"runbook_url": annotations.get("runbook_url"), "externalURL": message.externalURL}
    return Alert(
        source=source,
        name=name,
        service=service,
        namespace=labels.get("namespace") or None,
        severity=labels.get("severity") or None,
        state=AlertState.RESOLVED if item.status == "resolved" else AlertState.FIRING,
        starts_at=item.startsAt,
        ends_at=_ended(item.endsAt),
        summary=annotations.get("summary") or annotations.get("description") or None,
        fingerprint=item.fingerprint or _labels_fingerprint(labels),
        links={key: url for key, url in links.items() if url},
        labels=labels,
        annotations=annotations,
    )


def _ended(value: datetime | None) -> datetime | None:
    """``None`` for Go's zero time, Alertmanager's "has not ended"."""
    return value if value is not None and value.year > 1 else None


def _labels_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's own fingerprint is a hash of the label set; this is ours, for bodies without one."""
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
