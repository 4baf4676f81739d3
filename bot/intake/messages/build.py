"""Building the ``Alert`` every parser returns, and the keys that name the same alert twice.

``build_alert`` fills what every parser leaves to it: the service (labels, else a known service
named in the text), the namespace, the links the text writes out, ``starts_at`` (the message's
``ts`` unless the message says when it started) and the fingerprint (the product's id when it
gives one, else ``stable_fingerprint``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from bot.intake.errors import AlertParseError
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.written import read_written
from bot.models import Alert, AlertSource, AlertState

#: label keys that name the service / namespace / severity, best first
SERVICE_KEYS = ("service", "service_name", "service.name", "app", "app_kubernetes_io_name",
                "app.kubernetes.io/name", "kube_service", "kube_app_name", "job")
NAMESPACE_KEYS = ("namespace", "kube_namespace", "k8s_namespace", "kubernetes_namespace",
                  "k8s.namespace.name", "exported_namespace")
SEVERITY_KEYS = ("severity", "priority", "level", "urgency")
#: values that are a severity when seen bare (the parentheses of Alertmanager's title)
SEVERITIES = frozenset({
    "critical", "crit", "error", "err", "warning", "warn", "info", "information", "page", "high",
    "medium", "low", "major", "minor", "fatal", "emergency", "notice", "debug", "none",
    "p1", "p2", "p3", "p4", "p5", "sev1", "sev2", "sev3", "sev4", "sev-1", "sev-2", "sev-3", "sev-4",
})
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|[a-z0-9]", re.I)


def alert_identity(alert: Alert) -> str:
    """A key equal for the same alert seen as a Slack message and by webhook: ``name|service``
    lower-cased. No fingerprint (an Alertmanager Slack message carries none) and no namespace (a
    Slack title only lets it be guessed): intake compares namespaces where both are known."""
    parts = (alert.name, alert.service or "")
    return "|".join(" ".join(part.split()).lower() for part in parts)


def stable_fingerprint(*, source: AlertSource, name: str, service: str | None,
                       namespace: str | None) -> str:
    """sha256 (hex, first 16) of source, name, service and namespace: no state, no time, so a
    re-post of the same alert gets the same fingerprint."""
    key = json.dumps([source.value, " ".join(name.split()).lower(), (service or "").lower(),
                      (namespace or "").lower()])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def build_alert(msg: FlatMessage, *, source: AlertSource, name: str, state: AlertState, labels: dict[str, str],
                known: Mapping[str, str], service: str | None = None, namespace: str | None = None,
                severity: str | None = None, summary: str | None = None,
                links: Mapping[str, str] | None = None, annotations: Mapping[str, str] | None = None,
                fingerprint: str | None = None, starts_at: str | None = None) -> Alert:
    name = " ".join(name.split())[:200]
    if not name:
        raise AlertParseError(f"no alert name in this {_PRODUCT[source]} message")
    service = service or _service_of(labels, known) or known_in(msg.everything, known)
    if service is None and state is AlertState.FIRING:
        raise AlertParseError(f"no service in this {_PRODUCT[source]} alert: add a `service` label or tag, "
                              "or use /incident <service>")
    namespace = namespace or first_label(labels, NAMESPACE_KEYS)
    if source in (AlertSource.ALERTMANAGER, AlertSource.GRAFANA):
        written_links: dict[str, str] = {}  # read per alert by their parsers
    else:
        written_links = read_written(msg.text, fields=msg.fields).links
    all_links = {"title_link": msg.title_link, **written_links, **(links or {})}
    return Alert(
        source=source, name=name, service=service, namespace=namespace or None,
        severity=severity or None, state=state,
        starts_at=_when(starts_at) or _slack_time(msg.ts),
        summary=summary[:500] if summary else None,
        fingerprint=fingerprint or stable_fingerprint(source=source, name=name, service=service,
                                                      namespace=namespace),
        links={key: url for key, url in all_links.items() if url},
        labels=labels, annotations=dict(annotations or {}),
    )


_PRODUCT = {AlertSource.ALERTMANAGER: "Alertmanager", AlertSource.GRAFANA: "Grafana",
            AlertSource.DATADOG: "Datadog", AlertSource.SENTRY: "Sentry", AlertSource.PAGERDUTY: "PagerDuty",
            AlertSource.OPSGENIE: "Opsgenie", AlertSource.TEXT: "text", AlertSource.SLASH_COMMAND: "/incident"}


def first_label(labels: Mapping[str, str], keys: Iterable[str]) -> str | None:
    return next((labels[key] for key in keys if labels.get(key)), None)


def _service_of(labels: Mapping[str, str], known: Mapping[str, str]) -> str | None:
    """The service label; among several service-ish labels, the one naming a known service."""
    values = [labels[key] for key in SERVICE_KEYS if labels.get(key)]
    return next((v for v in values if v.lower() in known), None) or next(iter(values), None)


def known_in(text: str, known: Mapping[str, str]) -> str | None:
    """The first known service named in ``text`` (as a whole word)."""
    if not known:
        return None
    for word in _WORD.findall(text):
        if word.lower() in known:
            return known[word.lower()]
    return None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _slack_time(ts: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC) if ts else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None
