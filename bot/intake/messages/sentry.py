"""Sentry issue alerts in Slack → ``Alert``s.

**Sentry** Slack integration (getsentry/sentry ``integrations/slack/message_builder``): legacy
attachment titled with the issue (``ConnectionError: …``) linking to ``…sentry.io/issues/<id>/``,
text = culprit, ``fields`` = tags (``environment``, ``level``, ``service``…), footer
``<SHORT-ID> via <alert rule>``, buttons Resolve/Ignore; or the newer blocks: a section with the
linked title, the culprit, a context ``State: *New*   First Seen: *…*``, tags as
``environment: `production```, a context ``Project: <url|checkout>   Alert: …   Short ID: …``,
buttons Resolve/Archive/Assign. ``State: *Resolved*`` (or "Resolved by") → resolved.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.intake.messages.build import build_alert
from bot.intake.messages.flatten import FlatMessage
from bot.intake.messages.written import first_prose, read_tags, read_written
from bot.models import Alert, AlertSource, AlertState


def parse(msg: FlatMessage, known: Mapping[str, str]) -> list[Alert]:
    written = read_written(msg.text, fields=msg.fields)
    labels = {**read_tags("\n".join(line for line in msg.lines if "`" not in line)), **written.labels}
    issue = next(((label, url) for label, url in msg.links if "/issues/" in url), None)
    name = msg.title
    if issue and issue[0] and (not name or name in (issue[1], msg.fallback)):
        name = issue[0]
    name = name.strip("*_~ ")
    project = labels.get("project") or written.pairs.get("project")
    short_id = written.pairs.get("short_id") or _short_id(msg.footer)
    if "service" not in labels:
        from_short_id = short_id.rsplit("-", 1)[0].lower() if short_id else None
        candidate = project or (from_short_id if from_short_id in known else None)
        if candidate:
            labels["service"] = candidate
    state_word = (written.pairs.get("state") or written.pairs.get("status") or "").lower()
    resolved = state_word.startswith("resolved") or re.search(
        r"\bresolved by\b|\bmarked (?:as )?resolved\b", msg.text, re.I) or msg.title.startswith("~")
    issue_id = re.search(r"/issues/(\d+)", issue[1]) if issue else None
    links = {"issue": issue[1]} if issue else {}
    annotations = {k: v for k, v in (("short_id", short_id), ("state", written.pairs.get("state"))) if v}
    return [build_alert(msg, source=AlertSource.SENTRY, name=name,
                        state=AlertState.RESOLVED if resolved else AlertState.FIRING, labels=labels,
                        known=known, severity=labels.get("level") or labels.get("severity"),
                        summary=first_prose(msg.lines, skip=name) or name, links=links,
                        annotations=annotations,
                        fingerprint=f"sentry-{issue_id.group(1)}" if issue_id else None)]


def _short_id(footer: str) -> str | None:
    found = re.match(r"^\s*([A-Z][A-Z0-9_-]*-[A-Z0-9]+)\b", footer)
    return found.group(1) if found else None
