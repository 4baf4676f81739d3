"""Loki: recent log lines of the service, error lines first.

Two ``query_range`` calls run concurrently (the selector filtered to error-ish lines, and the bare
selector) so errors are found even when info lines drown them. Lines are ranked (error level, then
error-ish text, then warnings, then the rest; newest first within a rank), capped, and identical messages merged
into one evidence item with a count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
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

QUERY_PATH = "/loki/api/v1/query_range"
ERROR_PATTERN = "(?i)(error|exception|fatal|panic|timeout)"
ERROR_FILTER = f'|~ "{ERROR_PATTERN}"'
ERROR_LEVELS = frozenset({"error", "err", "fatal", "critical", "crit", "panic", "emerg", "alert"})
WARN_LEVELS = frozenset({"warn", "warning"})
LEVEL_KEYS = ("level", "lvl", "severity", "log.level")
MESSAGE_KEYS = ("msg", "message")
TIME_KEYS = frozenset({"ts", "time", "timestamp", "@timestamp", "t"})
_ERRORISH = re.compile(r"error|exception|fatal|panic|timeout", re.IGNORECASE)
_LOGFMT_LEVEL = re.compile(r"\b(?:level|lvl)=\"?(\w+)", re.IGNORECASE)

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
        queries = {"errors": f"{selector} {ERROR_FILTER}", "all": selector}
        answers, failures = await gather_parts(
            {name: self._query(query, request) for name, query in queries.items()}
        )
        raise_if_nothing(answers, failures)
        unique: dict[tuple[datetime, str], _Line] = {}
        for lines in answers.values():
            for line in lines:
                unique.setdefault((line.at, line.line), line)
        ranked = sorted(unique.values(), key=lambda ln: (ln.rank, -ln.at.timestamp()))
        groups = _group(ranked[: self._limit])
        evidence = [
            Evidence(
                id=f"logs-{i}",
                source=EvidenceSource.LOGS,
                detail=group.detail(),
                at=group.first.at,
                link=self._explore_link(selector, group.first.message, request),
                payload=LogLine(at=group.first.at, line=cut(group.first.line, LINE_CHARS),
                                level=group.first.level, labels=group.first.labels),
            )
            for i, group in enumerate(groups, start=1)
        ]
        return Collected(evidence=evidence, note=partial_note(failures, total=len(queries)))

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

    async def _query(self, query: str, request: InvestigationRequest) -> list[_Line]:
        params = {
            "query": query,
            "start": str(unix_ns(request.window_start)),
            "end": str(unix_ns(request.window_end)),
            "limit": str(self._limit),
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
            return [
                _Line.parse(value[0], value[1], labels=stream.get("stream") or {})
                for stream in data["result"]
                for value in stream["values"]
            ]


@dataclass(slots=True)
class _Line:
    at: datetime
    line: str
    labels: dict[str, str]
    level: str | None
    fields: dict[str, Any] | None  # the line parsed as a JSON object, if it is one

    @classmethod
    def parse(cls, ns: str | int, line: str, *, labels: dict[str, str]) -> _Line:
        if not isinstance(line, str):
            raise TypeError("log line is not a string")
        at = EPOCH + timedelta(microseconds=int(ns) // 1000)
        fields = _json_object(line)
        level = labels.get("level") or labels.get("detected_level") or _level_in(line, fields)
        return cls(at=at, line=line, labels={str(k): str(v) for k, v in labels.items()},
                   level=level.lower() if level else None, fields=fields)

    @property
    def rank(self) -> int:
        if self.level in ERROR_LEVELS:
            return 0
        if _ERRORISH.search(self.line):
            return 1
        return 2 if self.level in WARN_LEVELS else 3

    @property
    def message(self) -> str:
        if self.fields:
            for key in MESSAGE_KEYS:
                if isinstance(value := self.fields.get(key), str):
                    return value
        return self.line.strip()

    def extras(self) -> str:
        if not self.fields:
            return ""
        skip = TIME_KEYS | set(LEVEL_KEYS) | set(MESSAGE_KEYS)
        pairs = [
            f"{key}={cut(str(value), 40)}"
            for key, value in self.fields.items()
            if key not in skip and isinstance(value, str | int | float | bool)
        ]
        return f" ({' '.join(pairs)})" if pairs else ""


@dataclass(slots=True)
class _Group:
    first: _Line  # the newest line of the best rank
    count: int = 1

    def detail(self) -> str:
        count = f"(×{self.count}) " if self.count > 1 else ""
        level = f"{self.first.level} " if self.first.level else ""
        text = f"{clock(self.first.at)} {level}{count}{self.first.message}{self.first.extras()}"
        return cut(" ".join(text.split()), DETAIL_CHARS)


def _group(lines: list[_Line]) -> list[_Group]:
    """Merge identical messages (same level and message text), keeping first-seen order."""
    groups: dict[tuple[str | None, str], _Group] = {}
    for line in lines:
        key = (line.level, line.message)
        if key in groups:
            groups[key].count += 1
        else:
            groups[key] = _Group(first=line)
    return list(groups.values())


def _json_object(line: str) -> dict[str, Any] | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _level_in(line: str, fields: dict[str, Any] | None) -> str | None:
    if fields:
        for key in LEVEL_KEYS:
            if isinstance(value := fields.get(key), str):
                return value
        return None
    match = _LOGFMT_LEVEL.search(line)
    return match.group(1) if match else None
