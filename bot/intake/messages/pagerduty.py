"""PagerDuty incidents posted by its Slack app → ``Alert``s.

**PagerDuty** Slack app (support.pagerduty.com, Slack integration guide): attachment whose text
links the incident ``<https://acme.pagerduty.com/incidents/<id>|#1234: [checkout] …>``, fallback
``Triggered: #1234 …``, fields ``Status`` (Triggered / Acknowledged / Resolved), ``Urgency``,
``Service``, ``Assigned``; buttons Acknowledge/Resolve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.messages.build import build_alert
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.written import read_tags, read_written
from bot.models import Alert, AlertSource, AlertState

_PD_STATUS = re.compile(r"\b(Triggered|Acknowledged|Resolved|Escalated|Reassigned|Unacknowledged)\b", re.I)


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    incident = next(((label, url) for label, url in msg.links if "/incidents/" in url), None)
    status_text = msg.fields.get("status") or " ".join([msg.fallback, msg.title, msg.text])
    status = _PD_STATUS.search(status_text)
    title = incident[0] if incident and incident[0] else msg.title
    title = _PD_STATUS.sub("", title, count=1) if _PD_STATUS.match(title.strip()) else title
    title = re.sub(r"^[\s:*-]*(?:incident\s*)?\[?#\d+\]?\s*[:-]?\s*", "", title, flags=re.I).strip(" *:-")
    tags = re.findall(r"^\[([\w.-]+)\]\s*|\s\[([\w.-]+)\]", title)
    bracketed = [a or b for a, b in tags]
    name = re.sub(r"^(?:\[[\w.-]+\]\s*)+", "", title).strip() or title
    written = read_written(msg.text, fields={k: v for k, v in msg.fields.items() if k != "service"})
    labels = {**read_tags(msg.text), **written.labels}
    pd_service = msg.fields.get("service") or written.pairs.get("service")
    if "service" not in labels:
        candidates = [*bracketed, pd_service or "", (pd_service or "").split(" ")[0]]
        service = next((known[c.lower()] for c in candidates if c and c.lower() in known), None)
        service = service or next(iter(bracketed), None) or _slug(pd_service)
        if service:
            labels["service"] = service
    severity = msg.fields.get("urgency") or msg.fields.get("priority") or labels.get("severity")
    state = AlertState.RESOLVED if status and status.group(1).lower() == "resolved" else AlertState.FIRING
    incident_id = re.search(r"/incidents/([A-Za-z0-9]+)", incident[1]) if incident else None
    number = re.search(r"#(\d+)", " ".join([incident[0] if incident else "", msg.title, msg.fallback]))
    annotations = {"status": status.group(1).capitalize()} if status else {}
    if number:
        annotations["incident_number"] = number.group(1)
    if pd_service:
        annotations["pagerduty_service"] = pd_service
    return [build_alert(msg, source=AlertSource.PAGERDUTY, name=name, state=state, labels=labels, known=known,
                        severity=severity, summary=name, links={"incident": incident[1]} if incident else {},
                        annotations=annotations,
                        fingerprint=f"pagerduty-{incident_id.group(1)}" if incident_id else None)]


def _slug(value: str | None) -> str | None:
    """A PagerDuty service name usable as a service: ``checkout (prod)`` → ``checkout``."""
    first = (value or "").split(" ")[0].strip().lower()
    return first if re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", first) else None
