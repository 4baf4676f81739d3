"""Loki: recent log events of the service, error events first, change lines kept.

Three ``query_range`` calls run concurrently (the selector filtered to error-ish lines, the bare
selector, and lines that look like configuration) so errors are found even when info lines drown
them. Lines of every common format are parsed (``bot.digest.logformat``), a pod's streams merged by
time and stack traces folded into one event whose message is the innermost exception. Events are
ranked (error level, then error-ish text, then warnings, then the rest; newest first within a rank),
capped, and identical messages merged into one evidence item with a count. Non-error lines that set
or report configuration (a timeout, a pool size, a flag, a deprecated setting, ``starting … version``)
are kept besides the cap, at most ``CONFIG_ITEMS`` distinct ones, marked ``config`` ("config: …").
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx

from bot.collectors.base import (
    EPOCH,
    Collected,
    SourceError,
    body_hint,
    clock,
    cut,
    gather_parts,
    guarded,
    http_error,
    json_body,
    parsing,
    partial_note,
    raise_if_nothing,
    unix_ns,
)
from bot.models import Evidence, EvidenceSource, InvestigationRequest, LogLine, SourceName, SourceResult

if TYPE_CHECKING:  # the log parsers (bot.digest.logformat, bot.digest.logs) are imported when lines are folded:
    # their regex tables are an investigation's cost, not that of a web process that only verifies
    from bot.digest.logformat import LogEvent

QUERY_PATH = "/loki/api/v1/query_range"
ERROR_PATTERN = "(?i)(error|exception|fatal|panic|timeout)"
ERROR_FILTER = f'|~ "{ERROR_PATTERN}"'
#: lines that may set or report configuration; ``is_config`` decides on the parsed line
CONFIG_PATTERN = ("(?i)(config|setting|version|timeout|pool|limit|max_?|flag|feature|deprecat|ignor|overrid"
                  "|default|enabled|disabled)")
CONFIG_FILTER = f'|~ "{CONFIG_PATTERN}"'
CONFIG_LIMIT = 200  # lines the change-line query reads
CONFIG_ITEMS = 10  # distinct change lines kept
_ERRORISH = re.compile(r"error|exception|fatal|panic|timeout", re.IGNORECASE)

DETAIL_CHARS = 300
LINE_CHARS = 2000


class LokiCollector:
    """``LokiCollector(client, selector='{service="{service}"}')``; ``{service}`` is substituted."""

    source = SourceName.LOKI

    def __init__(
        self, client: httpx.AsyncClient, *, selector: str | Callable[[str], str], limit: int = 100,
        grafana_url: str | None = None, grafana_datasource: str = "loki",
    ) -> None:
        self._client = client
        self._selector = selector
        self._limit = limit
        #: Loki has no UI of its own: log evidence links to Grafana Explore when its URL is known
        self._grafana = grafana_url.rstrip("/") if grafana_url else None
        self._datasource = grafana_datasource

    def selector_for(self, service: str) -> str:
        if callable(self._selector):
            return self._selector(service)
        return self._selector.replace("{service}", service)

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        return await guarded(self.source, self._collect(request))

    async def _collect(self, request: InvestigationRequest) -> Collected:
        selector = self.selector_for(request.service)
        queries = {"errors": (f"{selector} {ERROR_FILTER}", self._limit), "all": (selector, self._limit),
                   "config": (f"{selector} {CONFIG_FILTER}", max(self._limit, CONFIG_LIMIT))}
        answers, failures = await gather_parts(
            {name: self._query(query, request, limit=limit) for name, (query, limit) in queries.items()}
        )
        raise_if_nothing(answers, failures)
        # parsing, folding and grouping thousands of lines is CPU work: off the event loop that acks
        groups = await asyncio.to_thread(self._groups, answers)
        evidence = [
            Evidence(
                id=f"logs-{i}",
                source=EvidenceSource.LOGS,
                detail=group.detail(),
                at=group.first.at,
                link=self._explore_link(selector, group.first.needle, request),
                payload=group.first.payload(),
            )
            for i, group in enumerate(groups, start=1)
        ]
        return Collected(evidence=evidence, note=partial_note(failures, total=len(queries)))

    def _groups(self, answers: dict[str, list[tuple[datetime, str, dict[str, str]]]]) -> list[_Group]:
        unique: dict[tuple[datetime, str], tuple[datetime, str, dict[str, str]]] = {}
        for lines in answers.values():
            for at, line, labels in lines:
                unique.setdefault((at, line), (at, line, labels))
        from bot.digest.logformat import fold_events

        events = [_Event(event) for event in fold_events(unique.values())]
        ranked = sorted(events, key=lambda ev: (ev.rank, -ev.at.timestamp()))
        groups = _group(ranked[: self._limit])
        groups += _config_groups([ev for ev in ranked[self._limit:] if ev.config], kept=groups)
        return groups

    def _explore_link(self, selector: str, message: str, request: InvestigationRequest) -> str | None:
        """Grafana Explore on the Loki datasource: the service's lines containing this message, over
        the investigation window. None without ``GRAFANA_URL``."""
        if self._grafana is None:
            return None
        needle = cut(message, 80).replace("\\", "\\\\").replace('"', '\\"')
        pane = {"datasource": self._datasource, "queries": [{
            "refId": "A", "expr": f'{selector} |= "{needle}"', "queryType": "range",
            "datasource": {"type": "loki", "uid": self._datasource}}],
            "range": {"from": str(int(request.window_start.timestamp() * 1000)),
                      "to": str(int(request.window_end.timestamp() * 1000))}}
        panes = json.dumps({"sitrep": pane}, separators=(",", ":"))
        return f"{self._grafana}/explore?{urlencode({'schemaVersion': '1', 'panes': panes, 'orgId': '1'})}"

    async def _query(self, query: str, request: InvestigationRequest, *, limit: int
                     ) -> list[tuple[datetime, str, dict[str, str]]]:
        params = {
            "query": query,
            "start": str(unix_ns(request.window_start)),
            "end": str(unix_ns(request.window_end)),
            "limit": str(limit),
            "direction": "backward",
        }
        response = await self._client.get(QUERY_PATH, params=params)
        if response.is_error:
            raise http_error(response, source=self.source, detail=body_hint(response))
        body = json_body(response, source=self.source)
        with parsing(self.source):
            if body.get("status") != "success":
                raise SourceError(source=self.source, reason=f"status {body.get('status')!r}")
            data = body["data"]
            if data["resultType"] != "streams":
                raise ValueError(f"resultType {data['resultType']!r}, expected streams")
            out = []
            for stream in data["result"]:
                labels = {str(k): str(v) for k, v in (stream.get("stream") or {}).items()}
                for value in stream["values"]:
                    if not isinstance(value[1], str):
                        raise TypeError("log line is not a string")
                    out.append((EPOCH + timedelta(microseconds=int(value[0]) // 1000), value[1], labels))
            return out


class _Event:
    """A folded event as the collector ranks, merges and shows it."""

    __slots__ = ("event", "level", "config")

    def __init__(self, event: LogEvent) -> None:
        from bot.digest.logformat import Parsed, is_config

        self.event = event
        self.level = event.level
        parsed = Parsed(event.fmt, event.level, event.message, event.fields)
        self.config = event.folded == 1 and is_config(parsed, event.level)

    @property
    def at(self) -> datetime:
        return self.event.at

    @property
    def message(self) -> str:
        return self.event.message

    @property
    def needle(self) -> str:
        """Text of the raw lines to find the event by in Grafana: the headline's line when folded."""
        if self.event.folded > 1:
            return next((ln.strip() for ln in reversed(self.event.lines) if self.message in ln), self.message)
        return self.message if self.message in self.event.lines[0] else self.event.lines[0].strip()

    @property
    def rank(self) -> int:
        from bot.digest.logformat import ERROR_LEVELS, WARN_LEVELS

        if self.level in ERROR_LEVELS:
            return 0
        if _ERRORISH.search(self.message):
            return 1
        return 2 if self.level in WARN_LEVELS else 3

    def summary(self) -> str:
        from bot.digest.logformat import summary

        return summary(self.message, self.event.fields)

    def payload(self) -> LogLine:
        from bot.digest.logformat import key_fields

        event = self.event
        return LogLine(at=event.at, line=_cut_lines(event.lines, LINE_CHARS), level=event.level,
                       labels=event.labels, message=event.message, fmt=event.fmt,
                       fields=dict(key_fields(event.fields, message=event.message, limit=8)),
                       folded=event.folded, config=self.config)


def _cut_lines(lines: list[str], limit: int) -> str:
    """The raw lines, newline-joined; when too long the first and last lines are kept (a Python
    traceback's exception is its last line, a Java stack's its first)."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    head, tail = [], []
    budget = limit - 40
    for i in range(len(lines)):
        for side, line in ((head, lines[i]), (tail, lines[-1 - i])):
            if len(head) + len(tail) >= len(lines) or budget - len(line) - 1 < 0:
                break
            side.append(line)
            budget -= len(line) + 1
        else:
            continue
        break
    if not head and not tail:
        return cut(text, limit)
    skipped = len(lines) - len(head) - len(tail)
    return "\n".join([*head, f"… {skipped} lines …", *reversed(tail)])


@dataclass(slots=True)
class _Group:
    first: _Event  # the newest event of the best rank
    count: int = 1

    def detail(self) -> str:
        count = f"(×{self.count}) " if self.count > 1 else ""
        level = f"{self.first.level} " if self.first.level else ""
        text = f"{clock(self.first.at)} {level}{count}{self.first.summary()}"
        if self.first.config:
            text = f"config: {text}"
        return cut(" ".join(text.split()), DETAIL_CHARS)


def _group(events: list[_Event]) -> list[_Group]:
    """Merge identical messages (same level and message text), keeping first-seen order."""
    groups: dict[tuple[str | None, str], _Group] = {}
    for event in events:
        key = (event.level, event.message)
        if key in groups:
            groups[key].count += 1
        else:
            groups[key] = _Group(first=event)
    return list(groups.values())


def _config_groups(events: list[_Event], *, kept: list[_Group]) -> list[_Group]:
    """Change lines the cap left out: one group per distinct message shape, newest first, up to
    ``CONFIG_ITEMS`` change lines in all."""
    from bot.digest.logs import mask

    shapes = {mask(g.first.message) for g in kept if g.first.config}
    groups: dict[str, _Group] = {}
    for event in events:  # ranked: newest first within a rank
        shape = mask(event.message)
        if shape in shapes:
            continue
        if shape in groups:
            groups[shape].count += 1
        elif len(groups) + len(shapes) < CONFIG_ITEMS:
            groups[shape] = _Group(first=event)
    return list(groups.values())
