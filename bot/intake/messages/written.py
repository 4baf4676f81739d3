"""What a message writes out: ``key: value`` pairs, ``Labels:`` sections, ``key:value`` tags,
and its first line of prose."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.intake.messages.flatten import EMOJI, URL, clean
from bot.models import AlertState

#: written-out keys that describe an alert rather than label it
DESCRIPTIVE_KEYS = frozenset({
    "alert", "summary", "description", "details", "message", "title", "value", "values", "status",
    "state", "source", "silence", "dashboard", "panel", "runbook", "runbook_url", "link", "url",
    "labels", "annotations", "tags", "notified", "assigned", "assignee", "first_seen", "last_seen",
    "started", "starts_at", "since", "short_id", "routed_teams", "responders", "acknowledged_by",
})
#: "Source:"-style keys whose URL becomes a named link (the names webhooks use)
LINK_KEYS = {"source": "generatorURL", "generatorurl": "generatorURL", "silence": "silenceURL",
             "silenceurl": "silenceURL", "dashboard": "dashboardURL", "dashboardurl": "dashboardURL",
             "panel": "panelURL", "panelurl": "panelURL", "runbook": "runbook_url",
             "runbook_url": "runbook_url"}
_HEADER = re.compile(r"^\**\s*(labels|annotations|details|tags)\s*\**\s*:?\s*\**\s*$", re.I)
_PAIR = re.compile(
    r"^(?P<bullet>[•◦▪‣\-–]\s*)?\**_?(?P<key>[A-Za-z][\w./-]*(?: [A-Za-z][\w./-]*){0,2})_?\**"
    r"\s*(?::\**|=)(?!//)\s*(?P<value>.*?)\s*$")
TAG = re.compile(r"(?<![\w/:.@-])([A-Za-z][\w.-]*):(?![/\s])([A-Za-z0-9][\w./@-]*)")


@dataclass(slots=True)
class Written:
    """What a message writes out: exact labels, annotations, other ``key: value`` pairs, links."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    state: AlertState | None = None  # a Grafana "**Firing**"/"**Resolved**" header above


def read_written(text: str, *, fields: Mapping[str, str] | None = None) -> Written:
    """Read ``key: value`` lines. A ``Labels:``/``*Details:*``/``Tags:`` header starts a section
    whose bulleted pairs (`` - key = value``, ``• *key:* `value```) are exact labels; an
    ``Annotations:`` section gives annotations. Other pairs (several on one line when spaced
    apart, as Sentry writes them) go to ``pairs``; single-word keys with single-token values
    that do not describe the alert are labels too."""
    out = Written()
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            section = None
            continue
        header = _HEADER.match(line)
        if header:
            section = "annotations" if header.group(1).lower() == "annotations" else "labels"
            continue
        lowered = line.strip("*_ ").lower()
        if lowered in ("firing", "resolved"):
            out.state = AlertState(lowered)
            continue
        match = _PAIR.match(line)
        if section and match and match.group("bullet") is not None:
            key, value = match.group("key").strip(), clean(match.group("value"))
            target = out.annotations if section == "annotations" else out.labels
            target.setdefault(key if section == "annotations" else key.lower(), value)
            continue
        section = None
        for chunk in re.split(r"\s{2,}|\s+[|·]\s+", line):
            pair = _PAIR.match(chunk.strip())
            if pair and pair.group("key").lower() not in ("http", "https"):
                _add_pair(out, pair.group("key"), pair.group("value"))
    for key, value in (fields or {}).items():
        _add_pair(out, key, value)
    return out


def _add_pair(out: Written, key: str, value: str) -> None:
    name = "_".join(key.lower().split())
    value = clean(value)
    if not value or name in out.pairs:
        return
    out.pairs[name] = value
    url = URL.match(value)
    if url:
        out.links.setdefault(LINK_KEYS.get(name, name), url.group(0))
    elif " " not in key.strip() and " " not in value and name not in DESCRIPTIVE_KEYS:
        out.labels.setdefault(name, value)


def read_tags(text: str) -> dict[str, str]:
    """``service:checkout, env:prod`` style tags (URLs, times and ``Key: value`` prose skipped)."""
    tags: dict[str, str] = {}
    for key, value in TAG.findall(URL.sub(" ", text)):
        if key.lower() in ("http", "https", "mailto") or value.isdigit():
            continue
        tags.setdefault(key.lower(), value.rstrip(".,;"))
    return tags


def first_prose(lines: Iterable[str], *, skip: str) -> str | None:
    """The first line that says something: not the title, not tags, not a mention."""
    skip = clean(skip)
    for line in lines:
        bare = clean(EMOJI.sub("", line))
        if not bare or bare == skip or bare.startswith("@") or URL.fullmatch(bare):
            continue
        if read_tags(bare) and len(TAG.sub("", bare).strip(" ,")) < 3:
            continue
        return bare[:300]
    return None
