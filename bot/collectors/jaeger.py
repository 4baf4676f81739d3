"""Jaeger: erroring and slow traces of the service.

Two ``/api/traces`` searches run concurrently (``tags={"error":"true"}`` and ``minDuration``), merged
by trace id; error traces first, then the slowest. Each trace names its deepest failing span (or, for
a slow trace, its slowest span), which is usually where the problem is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from bot.collectors.base import (
    EPOCH,
    Collected,
    SourceError,
    UpstreamHTTPError,
    body_hint,
    cut,
    gather_parts,
    guarded,
    http_error,
    json_body,
    parsing,
    partial_note,
    public_url,
    raise_if_nothing,
    unix_us,
)
from bot.models import Evidence, EvidenceSource, InvestigationRequest, SourceName, SourceResult, Span, Trace

TRACES_PATH = "/api/traces"
DEPENDENCIES_PATH = "/api/dependencies"
MAX_SPANS = 200
DETAIL_CHARS = 300


class JaegerCollector:
    """``ui_url`` is the Jaeger UI base for links (default: the client's base URL)."""

    source = SourceName.JAEGER

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        ui_url: str | None = None,
        limit: int = 20,
        min_duration: str = "1s",
        max_traces: int = 10,
    ) -> None:
        self._client = client
        self._ui = public_url(client, ui_url)
        self._limit = limit
        self._min_duration = min_duration
        self._max_traces = max_traces

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        return await guarded(self.source, self._collect(request))

    async def _collect(self, request: InvestigationRequest) -> Collected:
        base = {
            "service": request.service,
            "start": str(unix_us(request.window_start)),
            "end": str(unix_us(request.window_end)),
            "limit": str(self._limit),
        }
        searches = {
            "errors": {**base, "tags": json.dumps({"error": "true"}, separators=(",", ":"))},
            "slow": {**base, "minDuration": self._min_duration},
        }
        answers, failures = await gather_parts(
            {name: self._search(params) for name, params in searches.items()}
        )
        raise_if_nothing(answers, failures)
        merged: dict[str, Trace] = {}
        for name in searches:
            for trace in answers.get(name, []):
                merged.setdefault(trace.trace_id, trace)
        ordered = sorted(merged.values(), key=lambda t: (not t.error, -t.duration_ms))
        evidence = [
            Evidence(
                id=f"traces-{i}",
                source=EvidenceSource.TRACES,
                detail=describe_trace(trace),
                at=trace.start,
                link=f"{self._ui}/trace/{trace.trace_id}",
                payload=trace,
            )
            for i, trace in enumerate(ordered[: self._max_traces], start=1)
        ]
        return Collected(evidence=evidence, note=partial_note(failures, total=len(searches)))

    async def dependencies(self, *, lookback: timedelta = timedelta(hours=24)) -> list[tuple[str, str, int]]:
        """The service call graph Jaeger derived from spans: ``(parent, child, callCount)``.
        ``GET /api/dependencies?endTs=<ms>&lookback=<ms>``; raises ``SourceError``."""
        params = {"endTs": str(int(time.time() * 1000)), "lookback": str(int(lookback.total_seconds() * 1000))}
        try:
            response = await self._client.get(DEPENDENCIES_PATH, params=params)
        except httpx.HTTPError as exc:
            raise SourceError(source=self.source, reason=type(exc).__name__) from exc
        if response.is_error:
            raise self._error(response)
        body = json_body(response, source=self.source)
        with parsing(self.source):
            return [(str(d["parent"]), str(d["child"]), int(d.get("callCount") or 0))
                    for d in body.get("data") or [] if d.get("parent") and d.get("child")]

    async def _search(self, params: Mapping[str, str]) -> list[Trace]:
        response = await self._client.get(TRACES_PATH, params=params)
        if response.is_error:
            raise self._error(response)
        body = json_body(response, source=self.source)
        with parsing(self.source):
            if not body.get("data") and body.get("errors"):
                raise SourceError(source=self.source, reason=_messages(body) or "error")
            traces = (parse_trace(item) for item in body.get("data") or [])
            return [trace for trace in traces if trace is not None]

    def _error(self, response: httpx.Response) -> UpstreamHTTPError:
        try:
            detail = _messages(response.json())
        except ValueError:
            detail = None
        return http_error(response, source=self.source, detail=detail or body_hint(response))


def parse_trace(item: Mapping[str, Any]) -> Trace | None:
    """A Jaeger ``/api/traces`` trace as a ``Trace``; None when it has no spans."""
    processes = item.get("processes") or {}
    spans = [_span(raw, processes) for raw in item.get("spans") or []]
    if not spans:
        return None
    root = root_span(spans)
    assert root is not None
    start = min(s.start for s in spans)
    end = max(s.start + timedelta(milliseconds=s.duration_ms) for s in spans)
    return Trace(
        trace_id=str(item.get("traceID") or spans[0].span_id),
        root_service=root.service,
        root_operation=root.operation,
        start=start,
        duration_ms=round((end - start) / timedelta(milliseconds=1), 3),
        error=any(s.error for s in spans),
        spans=_trim(sorted(spans, key=lambda s: s.start), root=root),
    )


def describe_trace(trace: Trace) -> str:
    """``trace 4bf92f35… checkout POST /api/checkout 8213 ms error (HTTP 503); deepest failing
    span: checkout pool.acquire (5000 ms)``."""
    root = root_span(trace.spans)
    text = f"trace {trace.trace_id[:8]}… {trace.root_service} {trace.root_operation} {_ms(trace.duration_ms)}"
    if trace.error:
        text += " error" + (f" (HTTP {root.status_code})" if root and root.status_code else "")
        failing = trace.deepest_failing_span()
        if failing is not None and failing is not root:
            text += f"; deepest failing span: {failing.service} {failing.operation} ({_ms(failing.duration_ms)})"
    else:
        slowest = max((s for s in trace.spans if s is not root), key=lambda s: s.duration_ms, default=None)
        if slowest is not None:
            text += f"; slowest span: {slowest.service} {slowest.operation} ({_ms(slowest.duration_ms)})"
    return cut(text, DETAIL_CHARS)


def root_span(spans: list[Span]) -> Span | None:
    """The earliest span whose parent is not in the trace."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id is None or s.parent_id not in ids]
    return min(roots or spans, key=lambda s: s.start, default=None)


def _span(raw: Mapping[str, Any], processes: Mapping[str, Any]) -> Span:
    tags = {tag["key"]: tag.get("value") for tag in raw.get("tags") or []}
    parent = next(
        (ref["spanID"] for ref in raw.get("references") or [] if ref.get("refType") == "CHILD_OF"),
        None,
    )
    status = _int(tags.get("http.status_code", tags.get("http.response.status_code")))
    error = (
        tags.get("error") in (True, "true")
        or (status is not None and status >= 500)
        or tags.get("otel.status_code") == "ERROR"
    )
    process = processes.get(str(raw.get("processID"))) or {}
    return Span(
        span_id=str(raw["spanID"]),
        parent_id=parent,
        service=process.get("serviceName") or "unknown",
        operation=str(raw.get("operationName") or ""),
        start=EPOCH + timedelta(microseconds=int(raw["startTime"])),
        duration_ms=int(raw.get("duration") or 0) / 1000,
        error=error,
        status_code=status,
        peer=_peer(tags),
    )


def _peer(tags: Mapping[str, Any]) -> str | None:
    """Who a client span calls, by the OpenTelemetry conventions (old and new names): the peer
    service, else the first label of the server's host name (``pg-offers.core.svc`` → ``pg-offers``)."""
    for key in ("peer.service", "server.address", "net.peer.name"):
        value = tags.get(key)
        if isinstance(value, str) and value.strip() and not value[0].isdigit():
            return value.strip().split(".", 1)[0] if key != "peer.service" else value.strip()
    return None


def _trim(spans: list[Span], *, root: Span) -> list[Span]:
    """At most ``MAX_SPANS``: the root, failing spans, then the longest; in start order."""
    if len(spans) <= MAX_SPANS:
        return spans
    ranked = sorted(spans, key=lambda s: (s is not root, not s.error, -s.duration_ms))
    keep = {id(s) for s in ranked[:MAX_SPANS]}
    return [s for s in spans if id(s) in keep]


def _messages(body: object) -> str | None:
    if not isinstance(body, dict) or not body.get("errors"):
        return None
    return "; ".join(str(e.get("msg") or e) if isinstance(e, dict) else str(e) for e in body["errors"])


def _int(value: object) -> int | None:
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
