"""Alert messages Alertmanager posts in Slack → ``Alert``s.

**Alertmanager** ``slack_configs`` (prometheus/alertmanager ``template/default.tmpl``): title
``[FIRING:1] HighLatencyP99 (prod-eu1 shop checkout critical)``: the group labels' *values*, then
in parentheses the values of the other common labels, each list sorted by label *name*;
``title_link`` to Alertmanager; **empty text**. Label names are lost, so service, namespace and
severity are inferred (see ``status_title``). Teams often customise ``text`` with one section per alert:
``*Alert:* … - `critical``` / ``*Description:* …`` / ``*Details:*`` / ``• *service:* `checkout```;
labels written out like that are exact and win over the guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.errors import AlertParseError
from bot.intake.messages.build import SEVERITIES, SEVERITY_KEYS, first_label
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.status_title import status_title, title_alert
from bot.intake.messages.written import read_written
from bot.models import Alert, AlertSource


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    state, count, group_text, values = status_title(msg)
    if state is None:
        raise AlertParseError("an Alertmanager message without a `[FIRING:n]` or `[RESOLVED]` title")
    group = group_text.split()
    alerts = []
    for chunk in _alert_sections(msg.text):
        written = read_written(chunk)
        labels = dict(written.labels)
        name = labels.get("alertname") or (group[0] if group else (values[0] if values else ""))
        if not name:
            raise AlertParseError("no alert name in the `[FIRING:n]` title")
        labels.setdefault("alertname", name)
        extra = group[1:] if group and group[0] == name else group
        summary = written.pairs.get("summary") or _without_severity(written.pairs.get("alert"))
        severity = first_label(labels, SEVERITY_KEYS) or _trailing_severity(written.pairs.get("alert"))
        if severity:
            labels.setdefault("severity", severity)
        annotations = {k: v for k, v in (("summary", summary),
                                          ("description", written.pairs.get("description"))) if v}
        annotations |= written.annotations
        if count:
            annotations["alerts_" + state.value] = str(count)
        alerts.append(title_alert(msg, known, source=AlertSource.ALERTMANAGER, state=state, name=name,
                                  labels=labels, group=extra, values=values, annotations=annotations,
                                  links=written.links, starts_at=written.pairs.get("started")))
    return alerts


def _alert_sections(text: str) -> list[str]:
    """A customised Alertmanager text repeats ``*Alert:* …`` per alert: one section each."""
    starts = [m.start() for m in re.finditer(r"^\s*\*?Alert:?\*?:?\s", text, re.M)]
    if len(starts) < 2:
        return [text]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _without_severity(text: str | None) -> str | None:
    """``checkout p99 above 2s - `critical``` → ``checkout p99 above 2s``."""
    return re.sub(r"\s+-\s+`?[\w-]+`?\s*$", "", text).strip() or None if text else None


def _trailing_severity(text: str | None) -> str | None:
    found = re.search(r"\s-\s+`?([\w-]+)`?\s*$", text or "")
    return found.group(1) if found and found.group(1).lower() in SEVERITIES else None
