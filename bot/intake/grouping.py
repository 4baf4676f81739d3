"""Which incident an alert belongs to, and which service an incident should investigate.

Pure functions over plain data, so the rules are easy to read and test:

- a firing alert for a service that has an open incident joins it;
- alerts on *different* services within the grouping window join one incident when they are
  linked: one service calls the other (the dependency graph learned from traces), they share a
  label that names a common resource (node, database...), or they carry the same error signature;
- an incident investigates its **probable root**: the alerting service that most of the others
  depend on (the deepest failing dependency), ties broken by the earliest onset.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: how many calls apart two services may be and still count as linked
MAX_HOPS = 4

_ERRORISH = re.compile(
    r"\b(errors?|exception|refused|timed? ?out|timeout|unavailable|failed|reset|denied|oom\w*)\b", re.I)
_VARIABLE = re.compile(r"\b[0-9a-f]{8,}\b|\d+(?:\.\d+)?")


class DependencyGraph:
    """Directed call edges: ``parent`` calls ``child`` (so ``parent`` depends on ``child``)."""

    def __init__(self, edges: Iterable[tuple[str, str]] = ()) -> None:
        self._children: dict[str, set[str]] = {}
        for parent, child in edges:
            if parent != child:
                self._children.setdefault(parent, set()).add(child)

    def __len__(self) -> int:
        return sum(len(c) for c in self._children.values())

    def depends_on(self, service: str, other: str, *, max_hops: int = MAX_HOPS) -> bool:
        """True when ``service`` calls ``other``, directly or through up to ``max_hops`` calls."""
        seen, frontier = {service}, deque([(service, 0)])
        while frontier:
            node, hops = frontier.popleft()
            if hops == max_hops:
                continue
            for child in self._children.get(node, ()):
                if child == other:
                    return True
                if child not in seen:
                    seen.add(child)
                    frontier.append((child, hops + 1))
        return False

    def callees(self, service: str) -> set[str]:
        """The services ``service`` calls directly."""
        return set(self._children.get(service, ()))

    def linked(self, a: str, b: str) -> bool:
        return a != b and (self.depends_on(a, b) or self.depends_on(b, a))


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What grouping needs to know of one alert."""

    service: str
    name: str
    onset: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    summary: str | None = None


@dataclass(slots=True)
class OpenIncident:
    id: int
    service: str  # the service it investigates (its probable root so far)
    opened_at: datetime
    alerts: list[AlertFacts] = field(default_factory=list)

    @property
    def services(self) -> set[str]:
        return {self.service, *(a.service for a in self.alerts)}


@dataclass(frozen=True, slots=True)
class Match:
    incident: OpenIncident
    reason: str  # said in the thread: why this alert joined


def error_signature(alert: AlertFacts) -> str | None:
    """The alert's text with numbers, ids and its own service name masked, when it reads like an
    error ("connection refused to orders-db:5432"); None for a plain symptom ("p99 above 2s"),
    which many unrelated services share."""
    text = (alert.summary or "").replace(alert.name, " ")  # "HighErrorRate on cart" is a symptom
    if not _ERRORISH.search(text):
        return None
    masked = _VARIABLE.sub("#", text.lower().replace(alert.service.lower(), "<svc>"))
    masked = " ".join(masked.split())
    return masked if len(masked) >= 12 else None


def find_incidents(
    alert: AlertFacts,
    incidents: Collection[OpenIncident],
    *,
    graph: DependencyGraph,
    window: timedelta,
    group_labels: Collection[str],
    now: datetime,
) -> list[Match]:
    """Every open incident this firing alert is linked to, oldest first. Empty: it opens a new
    one. Several: they are one incident (the alert is their common cause) and are merged."""
    ordered = sorted(incidents, key=lambda i: i.opened_at)
    same = [Match(i, f"another alert for {alert.service}") for i in ordered if alert.service in i.services]
    if same:
        return same[:1]
    matches = []
    signature = error_signature(alert)
    for incident in ordered:
        if now - incident.opened_at > window:
            continue
        reason = _link(alert, incident, graph=graph, group_labels=group_labels, signature=signature)
        if reason:
            matches.append(Match(incident, reason))
    return matches


def find_incident(alert: AlertFacts, incidents: Collection[OpenIncident], **kwargs: Any) -> Match | None:
    """The (oldest) open incident this firing alert joins, or None."""
    matches = find_incidents(alert, incidents, **kwargs)
    return matches[0] if matches else None


def _link(alert: AlertFacts, incident: OpenIncident, *, graph: DependencyGraph,
          group_labels: Collection[str], signature: str | None) -> str | None:
    for service in sorted(incident.services):
        if graph.depends_on(alert.service, service):
            return f"{alert.service} calls {service}"
        if graph.depends_on(service, alert.service):
            return f"{service} calls {alert.service}"
    for other in incident.alerts:
        shared = sorted(name for name in group_labels
                        if alert.labels.get(name) and alert.labels.get(name) == other.labels.get(name))
        if shared:
            return f"same {shared[0]} `{alert.labels[shared[0]]}` as {other.service}"
    if signature and any(error_signature(other) == signature for other in incident.alerts):
        return "the same error as the incident's other alerts"
    return None


def probable_root(alerts: Collection[AlertFacts], *, graph: DependencyGraph) -> str:
    """The service to investigate: the one most other alerting services depend on; then the
    earliest onset. ``alerts`` must not be empty."""
    onsets: dict[str, datetime] = {}
    for alert in alerts:
        onsets[alert.service] = min(onsets.get(alert.service, alert.onset), alert.onset)
    services = list(onsets)

    def dependents(service: str) -> int:
        return sum(1 for other in services if other != service and graph.depends_on(other, service))

    return min(services, key=lambda s: (-dependents(s), onsets[s], s))
