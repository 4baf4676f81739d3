"""Follow the failure: after the first round of collection, which other services to examine.

When the alerting service's traces fail deepest in another service, or its error lines name a peer,
that service's own logs, deploys and saturation decide the incident (its full disk, its expired
certificate, its bad deploy). At most ``MAX_SUSPECTS``, in this order of strength:

    1. the service of the deepest failing span, when it is not the alerting service
    2. a known service named in the alerting service's error lines (``payments``, ``payments.shop.svc``)
    3. a service the alerting service calls (the learned call graph), when error lines exist at all

Pure: the caller gives the first round's results, the names it knows and the call graph.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.analyst.causes import kubernetes_services
from bot.analyst.signals import all_evidence, deepest_failing_span, payloads
from bot.models import LogLine, SourceResult

MAX_SUSPECTS = 2
_ERROR_LEVELS = {"error", "err", "fatal", "critical", "crit", "panic", "emerg", "alert"}
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class Suspect:
    service: str
    why: str  # "deepest failing span", "named in error lines", "called by checkout"

    def describe(self) -> str:
        return f"{self.service} ({self.why})"


def pick_suspects(
    results: Sequence[SourceResult],
    *,
    service: str,
    known: Iterable[str] = (),
    callees: Callable[[str], Iterable[str]] | None = None,
    limit: int = MAX_SUSPECTS,
) -> list[Suspect]:
    """The services worth a second look, strongest first, never ``service`` itself."""
    evidence = all_evidence(results)
    known_names = {k for k in known if k and k != service}
    picked: list[Suspect] = []

    def add(name: str, why: str) -> None:
        if name and name != service and all(s.service != name for s in picked) and len(picked) < limit:
            picked.append(Suspect(name, why))

    failing = deepest_failing_span(evidence)
    if failing is not None:
        known_names.add(failing.service)
        add(failing.service, "deepest failing span")
        if failing.peer:
            known_names.add(failing.peer)
            add(failing.peer, f"called by the failing span {failing.service} {failing.operation}")
    error_lines = [p for _, p in payloads(evidence, LogLine) if (p.level or "").lower() in _ERROR_LEVELS]
    named: Counter[str] = Counter()
    for line in error_lines:
        text = line.line
        for word in set(_WORD.findall(text)):
            cluster = kubernetes_services(word)
            if cluster:  # <service>.<namespace>.svc[.cluster.local]: a Kubernetes Service by its DNS name
                named.update(cluster)
                continue
            for candidate in _candidates(word):
                if candidate in known_names:
                    named[candidate] += 1
    for name, _ in named.most_common():
        add(name, "named in error lines")
    if error_lines and callees is not None:
        for name in sorted(callees(service)):
            add(name, f"called by {service}")
    return picked


def _candidates(word: str) -> list[str]:
    """``payments.shop.svc.cluster.local:443`` names ``payments``; ``orders-db-0`` names ``orders-db``."""
    host = word.split(":", 1)[0].lower()
    parts = [host, host.split(".", 1)[0]]
    stem = _POD_SUFFIX.sub("", parts[1])  # a Deployment's pod, a StatefulSet's ordinal
    return list(dict.fromkeys([*parts, stem]))


_POD_SUFFIX = re.compile(r"(-[a-z0-9]{6,10}-[a-z0-9]{5}|-\d+)$")
