"""Alert messages Grafana's Slack contact point posts → ``Alert``s.

**Grafana** Slack contact point (grafana/alerting ``templates/default_template.go``): title as
Alertmanager's; text ``**Firing**`` then per alert ``Value: …``, ``Labels:`` with `` - key = value``
lines, ``Annotations:`` likewise, ``Source:``/``Silence:``/``Dashboard:``/``Panel:`` URLs; footer
``Grafana v…``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.errors import AlertParseError
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.status_title import status_title, title_alert
from bot.intake.messages.written import read_written
from bot.models import Alert, AlertSource, AlertState


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    title_state, count, group_text, values = status_title(msg)
    group = group_text.split()
    alerts = []
    for chunk in _grafana_sections(msg.text):
        written = read_written(chunk)
        state = written.state or title_state or AlertState.FIRING
        labels = dict(written.labels)
        name = labels.get("alertname") or (group[0] if group else "")
        if not name:
            raise AlertParseError("no alert name in the Grafana message (no `alertname` label, no title)")
        labels.setdefault("alertname", name)
        extra = [v for v in (group[1:] if group and group[0] == name else group)]
        annotations = dict(written.annotations)
        if written.pairs.get("value"):
            annotations.setdefault("value", written.pairs["value"])
        if count:
            annotations["alerts_" + state.value] = str(count)
        alerts.append(title_alert(msg, known, source=AlertSource.GRAFANA, state=state, name=name,
                                  labels=labels, group=extra, values=values, annotations=annotations,
                                  links=written.links, starts_at=None))
    return alerts


def _grafana_sections(text: str) -> list[str]:
    """Grafana's default text repeats ``Value:``/``Labels:``/… per alert under ``**Firing**`` and
    ``**Resolved**`` headers: one section per alert, each starting with its header."""
    sections: list[list[str]] = [[]]
    header, has_labels = "", False
    for line in text.splitlines():
        bare = line.strip().strip("*").strip().lower()
        if bare in ("firing", "resolved"):
            header = line
            if has_labels:
                sections.append([])
                has_labels = False
            sections[-1].append(line)
            continue
        starts_alert = re.match(r"^\s*(Value|Labels):", line)
        if starts_alert and has_labels:
            sections.append([header])
            has_labels = False
        if re.match(r"^\s*Labels:\s*$", line):
            has_labels = True
        sections[-1].append(line)
    return ["\n".join(lines) for lines in sections if any(line.strip() for line in lines)] or [text]
