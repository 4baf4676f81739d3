"""Opsgenie alerts posted by its Slack app → ``Alert``s.

**Opsgenie** Slack app (support.atlassian.com, Opsgenie Slack app): title
``#123: checkout p99 latency above 2s`` (also ``[Opsgenie] #123: …`` and ``[Closed] …``) linking
to ``<sub>.app.opsgenie.com/alert/detail/<id>/details``, fields ``Priority: P1``,
``Tags: service:checkout, …``, ``Routed Teams``; buttons Acknowledge/Close. Closed → resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.messages.build import SEVERITIES, build_alert
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.written import first_prose, read_tags, read_written
from bot.models import Alert, AlertSource, AlertState


#: a pretext saying what happened to the alert ("Alert closed by Alice"), not what it is about
_OG_NOTICE = re.compile(r"^\W*(?:new )?alert\b.*\b(?:created|closed|acknowledged|resolved|escalated|"
                        r"assigned|snoozed)\b|\b(?:closed|resolved|acknowledged) by\b", re.I)
_OG_STATUS_LINE = re.compile(r"^\W*(?:alert\s+)?(?:closed|resolved)\b|\b(?:closed|resolved) by\b", re.I)


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    title, states = msg.title, []
    while True:  # peel "[Opsgenie]", "[Closed]", "New alert:" off the front
        bracket = re.match(r"^\s*\[([^\]]*)\]\s*", title)
        prefix = re.match(r"^\s*(?:opsgenie|new alert|alert)\s*:\s*", title, re.I)
        if bracket and not re.fullmatch(r"#?\d+", bracket.group(1).strip()):
            states.append(bracket.group(1).strip().lower())
            title = title[bracket.end():]
        elif prefix:
            title = title[prefix.end():]
        else:
            break
    tiny = re.match(r"^\s*\[?#(\d+)\]?\s*[:-]?\s*", title)
    name = title[tiny.end():].strip(' "') if tiny else title.strip(' "')
    raw_tags = msg.fields.get("tags", "")
    labels = {**read_written(msg.text, fields={k: v for k, v in msg.fields.items() if k != "tags"}).labels,
              **read_tags(msg.text), **read_tags(raw_tags)}
    for bare in (t.strip() for t in re.split(r"[,\s]+", raw_tags) if t.strip() and ":" not in t):
        if bare.lower() in known and "service" not in labels:
            labels["service"] = known[bare.lower()]
        elif bare.lower() in SEVERITIES:
            labels.setdefault("severity", bare)
    priority = msg.fields.get("priority") or labels.get("priority")
    said = [line for line in msg.lines if _OG_STATUS_LINE.search(line)]
    status = " ".join([*states, msg.fields.get("status", ""), *said]).lower()
    resolved = re.search(r"\b(closed|resolved)\b", status)
    alert_link = next((url for _l, url in msg.links if "/alert/" in url), None)
    alert_id = re.search(r"/alert/(?:detail/)?([\w-]+)", alert_link) if alert_link else None
    annotations = {"tiny_id": tiny.group(1)} if tiny else {}
    return [build_alert(msg, source=AlertSource.OPSGENIE, name=name,
                        state=AlertState.RESOLVED if resolved else AlertState.FIRING, labels=labels,
                        known=known, severity=priority or labels.get("severity"),
                        summary=first_prose([line for line in msg.lines if not _OG_NOTICE.search(line)],
                                            skip=name) or name,
                        links={"alert": alert_link} if alert_link else {}, annotations=annotations,
                        fingerprint=f"opsgenie-{alert_id.group(1)}" if alert_id else None)]
