"""A message that no alerting product wrote → an ``Alert``, when it names a service.

**Anything else** (a person, an unknown bot): read as plain text when it names a service
(``service=checkout``, ``service: checkout`` or a known service's name), else refused with what to
do instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.errors import AlertParseError
from bot.intake.messages.build import SERVICE_KEYS, build_alert, first_label, known_in
from bot.intake.messages.flatten import FlatMessage
from bot.models import Alert, AlertSource, AlertState


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    text = msg.everything
    labels = {k.lower(): v for k, v in re.findall(
        r"\b(service|svc|app|namespace|ns|severity)\s*[=:]\s*`?([A-Za-z0-9][\w.-]*)`?", text, re.I)}
    for short, full in (("svc", "service"), ("ns", "namespace")):
        if short in labels:
            labels.setdefault(full, labels.pop(short))
    service = first_label(labels, SERVICE_KEYS) or known_in(text, known)
    if not service:
        raise AlertParseError("no service named: add a `service` label (service=checkout) "
                              "or use /incident <service>")
    labels["service"] = service
    resolved = re.match(r"^\W*(?:\[?resolved\]?|recovered|fixed)\b", msg.title, re.I)
    name = msg.title if len(msg.title) <= 120 else msg.title[:119].rstrip() + "…"
    return [build_alert(msg, source=AlertSource.TEXT, name=name, labels=labels, known=known,
                        state=AlertState.RESOLVED if resolved else AlertState.FIRING,
                        severity=labels.get("severity"), summary=" ".join(msg.text.split())[:300] or None)]
