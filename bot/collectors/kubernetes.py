"""Kubernetes: the Warning events of the service's pods, Deployment, ReplicaSets and HPA, read from the
core events API (optional: ``KUBERNETES_API_URL`` + ``KUBERNETES_TOKEN``, or the in-cluster service
account; see ``bot.executor.kubernetes.kubernetes_client``).

    GET /api/v1/namespaces/{ns}/events?fieldSelector=type=Warning
        kept: ``involvedObject.name`` is the service or starts with ``<service>-`` (its pods, ReplicaSets)
    GET /api/v1/namespaces/default/events?fieldSelector=involvedObject.kind=Node,reason=OOMKilling
        node-problem-detector's kernel OOM kills; kept when the killed process is the service's

Two event shapes come back side by side, in name order rather than time order: kubelet and
cluster-autoscaler events (``count``, ``firstTimestamp``, ``lastTimestamp``; ``eventTime`` null) and
events written through ``events.k8s.io`` by the scheduler (``eventTime``, ``series.count`` and
``series.lastObservedTime``; timestamps null, no ``count``). Events last seen before the window are
dropped; the rest are merged by object kind, reason and message (names, ids, addresses and numbers
masked), so twelve pods' "Back-off restarting failed container" are one item, counted:

    events-1  Kubernetes event: Warning BackOff (×7) on 3 pods (e.g. invoices-6f8b9c7d5-q7w2z),
              03:48:02Z–03:50:05Z: Back-off restarting failed container invoices in pod …

Evidence source ``logs`` (the Brief's sources are fixed), payload a ``LogLine`` (level ``warning``,
labels ``reason``, ``kind``, ``object``, ``namespace``, ``count``). Either request failing is noted; both
failing is the source's error (``HTTP 403: events is forbidden: User … cannot list …``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.collectors.base import (
    Collected,
    SourceError,
    UpstreamHTTPError,
    as_utc,
    clock,
    cut,
    gather_parts,
    guarded,
    http_error,
    json_body,
    one_line,
    parsing,
    partial_note,
    raise_if_nothing,
)
from bot.models import Evidence, EvidenceSource, InvestigationRequest, LogLine, SourceName, SourceResult

DETAIL_CHARS = 300
#: events the API returns at most per request (a busy namespace has thousands)
PAGE_LIMIT = 500
NODE_OOM_NAMESPACE = "default"
#: an event seen this long before the window still counts (the alert's window starts late)
WINDOW_SLACK = timedelta(minutes=5)

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:[a-zA-Z]{1,3})?\b")
_OOM_PROCESS = re.compile(r"Killed process \d+ \(([^)]+)\)")


class KubernetesCollector:
    """``client``: the API server (its auth in the client). ``default_namespace``: where to look when the
    request names none (``SITREP_DEFAULT_NAMESPACE``)."""

    source = SourceName.KUBERNETES

    def __init__(self, client: httpx.AsyncClient, *, default_namespace: str = "default",
                 max_items: int = 20, node_ooms: bool = True) -> None:
        self._client = client
        self._namespace = default_namespace
        self._max_items = max_items
        self._node_ooms = node_ooms

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        return await guarded(self.source, self._collect(request))

    async def _collect(self, request: InvestigationRequest) -> Collected:
        namespace = request.namespace or self._namespace
        parts = {"events": self._list(namespace, "type=Warning")}
        if self._node_ooms:
            parts["node OOM kills"] = self._list(NODE_OOM_NAMESPACE, "involvedObject.kind=Node,reason=OOMKilling")
        answers, failures = await gather_parts(parts)
        raise_if_nothing(answers, failures)
        since = as_utc(request.window_start) - WINDOW_SLACK
        events = [e for e in answers.get("events", [])  # Warning again: a proxy may drop the selector
                  if e.type == "Warning" and _belongs(e, request.service) and e.last >= since]
        events += [e for e in answers.get("node OOM kills", [])
                   if e.reason == "OOMKilling" and _killed_process_is(e, request.service) and e.last >= since]
        groups = merge_events(events)[: self._max_items]
        evidence = [
            Evidence(id=f"events-{i}", source=EvidenceSource.LOGS, detail=group.detail(ref=request.window_end),
                     at=group.last, payload=group.payload())
            for i, group in enumerate(groups, start=1)
        ]
        return Collected(evidence=evidence, note=partial_note(failures, total=len(parts)))

    async def _list(self, namespace: str, field_selector: str) -> list[KubeEvent]:
        path = f"/api/v1/namespaces/{_path_segment(namespace)}/events"
        response = await self._client.get(path, params={"fieldSelector": field_selector, "limit": PAGE_LIMIT})
        if response.is_error:
            raise _status_error(response)
        body = json_body(response, source=self.source)
        with parsing(self.source):
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise ValueError("not an EventList")
            return [event for item in body["items"] if (event := parse_event(item)) is not None]


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class KubeEvent:
    """One event, whichever API wrote it: ``count`` occurrences from ``first`` to ``last``."""

    type: str
    reason: str
    message: str
    kind: str
    name: str
    namespace: str
    count: int
    first: datetime
    last: datetime
    component: str = ""


def parse_event(item: Mapping[str, Any]) -> KubeEvent | None:
    """A core/v1 Event in either shape (see module doc); None when it has no time at all."""
    involved = item.get("involvedObject") or item.get("regarding") or {}
    series = item.get("series") or {}
    first = _time(item.get("firstTimestamp")) or _time(item.get("eventTime"))
    last = (_time(item.get("lastTimestamp")) or _time(series.get("lastObservedTime"))
            or _time(item.get("eventTime")) or first)
    first = first or _time((item.get("metadata") or {}).get("creationTimestamp")) or last
    if first is None or last is None:
        return None
    count = item.get("count") or series.get("count") or 1
    source = item.get("source") or {}
    return KubeEvent(
        type=str(item.get("type") or ""),
        reason=str(item.get("reason") or ""),
        message=str(item.get("message") or item.get("note") or ""),
        kind=str(involved.get("kind") or ""),
        name=str(involved.get("name") or ""),
        namespace=str(involved.get("namespace") or (item.get("metadata") or {}).get("namespace") or ""),
        count=int(count) if isinstance(count, int | float) and count > 0 else 1,
        first=min(first, last),
        last=max(first, last),
        component=str(item.get("reportingComponent") or source.get("component") or ""),
    )


@dataclass(slots=True)
class EventGroup:
    """Events of one kind, reason and message shape, merged."""

    kind: str
    reason: str
    type: str
    namespace: str
    example: KubeEvent
    count: int = 0
    objects: set[str] = field(default_factory=set)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, event: KubeEvent) -> None:
        self.count += event.count
        self.objects.add(event.name)
        self.first = event.first if self.first is None else min(self.first, event.first)
        if self.last is None or event.last >= self.last:
            self.last = event.last
            self.example = event  # the newest wording

    def detail(self, *, ref: datetime | None = None) -> str:
        kind = self.kind.lower() or "object"
        names = sorted(self.objects)
        on = f"{kind} {names[0]}" if len(names) == 1 else f"{len(names)} {kind}s (e.g. {self.example.name})"
        times = _span(self.first, self.last, ref=ref)
        count = f" (×{self.count})" if self.count > 1 else ""
        text = f"Kubernetes event: {self.type} {self.reason}{count} on {on}, {times}: {one_line(self.example.message, limit=DETAIL_CHARS)}"
        return cut(" ".join(text.split()), DETAIL_CHARS)

    def payload(self) -> LogLine:
        assert self.last is not None
        return LogLine(
            at=self.last,
            line=f"{self.reason}: {self.example.message}",
            level=self.type.lower() or None,
            labels={"source": "kubernetes", "reason": self.reason, "kind": self.kind,
                    "object": self.example.name, "namespace": self.namespace, "count": str(self.count),
                    **({"component": self.example.component} if self.example.component else {})},
        )


def merge_events(events: list[KubeEvent]) -> list[EventGroup]:
    """Merge by (kind, reason, masked message); newest group first."""
    groups: dict[tuple[str, str, str, str], EventGroup] = {}
    for event in sorted(events, key=lambda e: e.last):
        key = (event.type, event.kind, event.reason, _shape(event))
        group = groups.get(key)
        if group is None:
            group = groups[key] = EventGroup(kind=event.kind, reason=event.reason, type=event.type,
                                             namespace=event.namespace, example=event)
        group.add(event)
    return sorted(groups.values(), key=lambda g: (g.last is not None, g.last, g.count), reverse=True)


def _shape(event: KubeEvent) -> str:
    text = event.message.replace(event.name, "<name>") if event.name else event.message
    text = _UUID.sub("<uid>", text)
    text = _IP.sub("<ip>", text)
    return _NUMBER.sub("<n>", text)


def _belongs(event: KubeEvent, service: str) -> bool:
    """The service's own objects: named like it (Deployment, HPA, Service) or ``<service>-…`` (pods,
    ReplicaSets, a StatefulSet's ``<service>-0``)."""
    return event.name == service or event.name.startswith(f"{service}-")


def _killed_process_is(event: KubeEvent, service: str) -> bool:
    match = _OOM_PROCESS.search(event.message)
    return match is not None and (match.group(1) == service or match.group(1).startswith(f"{service}-"))


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _span(first: datetime | None, last: datetime | None, *, ref: datetime | None) -> str:
    if last is None:
        return "time unknown"
    if first is None or first == last:
        return clock(last, ref=ref)
    return f"{clock(first, ref=ref)}–{clock(last, ref=ref)}"


def _path_segment(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name):
        raise SourceError(source=SourceName.KUBERNETES, reason=f"invalid namespace {cut(name, 64)!r}")
    return name


def _status_error(response: httpx.Response) -> UpstreamHTTPError:
    """``HTTP 403: <the Status message>`` (the API server says what RBAC refused, no secrets)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status" and body.get("message"):
        return UpstreamHTTPError(source=SourceName.KUBERNETES, status_code=response.status_code,
                                 reason=f"HTTP {response.status_code}: {one_line(str(body['message']))}")
    return http_error(response, source=SourceName.KUBERNETES)
