"""Datadog monitor notifications in Slack → ``Alert``s.

**Datadog** Slack integration (docs.datadoghq.com/integrations/slack, monitor notifications):
title ``Triggered: [P1] <monitor name>`` (older: ``[Triggered] <name>``, multi-alert:
``[Triggered on {service:checkout,env:prod}] <name>``; also ``Recovered``, ``Warn``,
``Re-Triggered``, ``No Data``), ``title_link`` to ``app.datadoghq.com/monitors/<id>``, text = the
monitor message, then (display option "tags") the scope tags ``env:prod, service:checkout``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.messages.build import build_alert
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.written import first_prose, read_tags, read_written
from bot.models import Alert, AlertSource, AlertState

_DD_WORDS = r"(?:Re-?Triggered|Triggered|Recovered|Warn(?:ing)?(?: Recovered)?|No ?Data(?: Recovered)?|Re-?notify|Renotify|Resolved|Alert|OK)"
_DD_SURE = r"(?:Re-?Triggered|Triggered|Recovered|Warn(?: Recovered)?|No Data(?: Recovered)?|Re-?notify)"
#: a Datadog title, when nothing else says it is one
DD_STATUS = re.compile(rf"^\s*(?:(?:\[P\d\]\s*)?\[{_DD_SURE}\b|{_DD_SURE}:)", re.I)


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    title, status, priority, scope = msg.title, "", None, ""
    while True:  # peel "[P1]", "[Triggered on {…}]", "Triggered:" off the front
        bracket = re.match(r"^\s*\[([^\]]*)\]\s*", title)
        prefix = re.match(rf"^\s*({_DD_WORDS})\s*:\s*", title, re.I)
        if bracket:
            inner = bracket.group(1).strip()
            if re.fullmatch(r"P\d", inner, re.I):
                priority = inner.upper()
            elif re.match(_DD_WORDS, inner, re.I):
                word, _, rest = inner.partition(" on ")
                status, scope = status or word, scope or rest
            else:
                break
            title = title[bracket.end():]
        elif prefix and not status:
            status, title = prefix.group(1), title[prefix.end():]
        else:
            break
    trailing = re.search(r"\s+on\s+\{?((?:[\w.-]+:[\w./-]+,?\s*)+)\}?\s*$", title)
    if trailing:  # "… on service:checkout,env:prod"
        scope, title = scope or trailing.group(1), title[:trailing.start()]
    labels = read_tags(scope.strip("{} ")) | read_tags("\n".join([msg.text, msg.fields.get("tags", "")]))
    labels = {**read_written(msg.text, fields=msg.fields).labels, **labels}
    labels.pop("tags", None)
    if priority:
        labels.setdefault("priority", priority)
    word = status.lower()
    state = AlertState.RESOLVED if "recovered" in word or word in ("resolved", "ok") else AlertState.FIRING
    links = {"monitor": url for _l, url in msg.links if "/monitors/" in url}
    return [build_alert(msg, source=AlertSource.DATADOG, name=title, state=state, labels=labels, known=known,
                        severity=labels.get("severity") or priority,
                        summary=first_prose(msg.lines, skip=title), links=links,
                        annotations={"status": status} if status else {})]
