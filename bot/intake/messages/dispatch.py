"""Which product wrote a Slack message, and its parser: ``parse_slack_message``."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.intake.errors import AlertParseError
from bot.intake.messages import alertmanager, datadog, grafana, opsgenie, pagerduty, plain_text, sentry
from bot.intake.messages.datadog import DD_STATUS
from bot.intake.messages.flatten import FlatMessage, flatten
from bot.intake.messages.status_title import STATUS_TITLE
from bot.models import Alert, AlertSource


def parse_slack_message(event: Mapping[str, Any], *, known_services: Collection[str] = ()) -> list[Alert]:
    """The alerts in one Slack ``message`` event (the ``event`` object of the callback; the whole
    callback is accepted too). ``known_services`` helps find the service when labels do not say it.

    Raises ``AlertParseError`` — and nothing else — for a message that cannot be read.
    """
    try:
        message = flatten(event)
        known = {str(name).lower(): str(name) for name in known_services if str(name).strip()}
        return _PARSERS[_detect(message)](message, known)
    except AlertParseError:
        raise
    except Exception as exc:  # a shape nobody planned for: still a reason, never a crash
        raise AlertParseError(f"unexpected message shape ({type(exc).__name__}: {exc})") from exc


def _detect(msg: FlatMessage) -> AlertSource:
    """The product that wrote the message: its sender's name, else the link of its title, else the
    shape of its title, else any product link; a person's message is plain text."""
    for source, words in _SENDER_WORDS:
        if any(word in msg.sender for word in words):
            return _alertmanager_or_grafana(msg) if source is AlertSource.ALERTMANAGER else source
    if msg.title_link:
        by_link = _by_link(msg.title_link)
        if by_link:
            return by_link
    if STATUS_TITLE.match(msg.title):
        return _alertmanager_or_grafana(msg)
    if not msg.is_bot:
        return AlertSource.TEXT
    if DD_STATUS.match(msg.title):
        return AlertSource.DATADOG
    if re.match(r"^\[?opsgenie\]?", msg.title, re.I):
        return AlertSource.OPSGENIE
    for _label, url in msg.links:
        by_link = _by_link(url)
        if by_link:
            return by_link
    return AlertSource.TEXT


_SENDER_WORDS: tuple[tuple[AlertSource, tuple[str, ...]], ...] = (
    (AlertSource.GRAFANA, ("grafana",)),
    (AlertSource.ALERTMANAGER, ("alertmanager", "prometheus")),
    (AlertSource.DATADOG, ("datadog",)),
    (AlertSource.SENTRY, ("sentry",)),
    (AlertSource.PAGERDUTY, ("pagerduty",)),
    (AlertSource.OPSGENIE, ("opsgenie",)),
)


def _by_link(url: str) -> AlertSource | None:
    parts = urlsplit(url)
    host, path = parts.netloc.lower(), parts.path.lower()
    if "datadoghq" in host or "ddog-gov" in host:
        return AlertSource.DATADOG
    if "sentry" in host and "/issues/" in path:
        return AlertSource.SENTRY
    if "pagerduty.com" in host:
        return AlertSource.PAGERDUTY
    if "opsgenie" in host:
        return AlertSource.OPSGENIE
    if "/alerting/" in path:
        return AlertSource.GRAFANA
    if "alertmanager" in host or parts.port == 9093 or parts.fragment.startswith("/alerts"):
        return AlertSource.ALERTMANAGER
    return None


def _alertmanager_or_grafana(msg: FlatMessage) -> AlertSource:
    """Both use ``[FIRING:n]`` titles; Grafana's text has ``Labels:`` with `` - key = value`` lines."""
    if "grafana" in msg.sender or re.search(r"^Labels:[ \t]*\n[ \t]*- \S+ = ", msg.text, re.M):
        return AlertSource.GRAFANA
    return AlertSource.ALERTMANAGER


Parser = Callable[[FlatMessage, Mapping[str, str]], list[Alert]]

_PARSERS: dict[AlertSource, Parser] = {
    AlertSource.ALERTMANAGER: alertmanager.parse,
    AlertSource.GRAFANA: grafana.parse,
    AlertSource.DATADOG: datadog.parse,
    AlertSource.SENTRY: sentry.parse,
    AlertSource.PAGERDUTY: pagerduty.parse,
    AlertSource.OPSGENIE: opsgenie.parse,
    AlertSource.TEXT: plain_text.parse,
}
