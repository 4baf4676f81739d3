"""Causes the rule-based analyzer recognises before it blames a deploy, each with its remedy kind.

A deploy near the onset is the usual suspect, but some causes are not undone by any rollback: a
certificate that expired, a disk that is full, a dependency that is down, a surge of traffic that
the autoscaler already meets at its maximum. These are found in the evidence of every service
examined (the alerting one and the suspects followed), from log text and saturation facts:

    expired_certificate   "certificate has expired" / x509 errors, or a probe's certificate past expiry
    disk_full             "No space left on device", ENOSPC, or a filesystem below 10 % free
    traffic_surge         request rate ≥ 2× its baseline with the HPA at its maximum or CPU throttled
    memory_leak           OOMKilled restarts, or memory at ≥ 90 % of its limit
    dependency_down       connection refused / unreachable host errors naming a known peer

Pure functions of evidence; ``service_of`` tells which service an item was collected for.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.analyst.signals import payloads
from bot.digest.saturation import FACT_NAMES, REQUEST_RATE_FACT, fact_of
from bot.models import Evidence, LogLine, MetricSeries

_CERT = re.compile(r"certificate (?:has )?expired|x509: certificate has expired|certificate is not yet valid|"
                   r"CERT_HAS_EXPIRED|certificate verify failed[^\n]*expired|SSL certificate problem: certificate has "
                   r"expired|expired certificate|CertificateExpiredException|CertPathValidatorException: validity check "
                   r"failed", re.IGNORECASE)
_DISK = re.compile(r"no space left on device|\bENOSPC\b|disk (?:is )?full|could not extend file|"
                   r"database or disk is full|insufficient disk space", re.IGNORECASE)
_DOWN = re.compile(r"connection refused|ECONNREFUSED|could not connect to server|no route to host|"
                   r"connection reset by peer|name or service not known|no such host|server closed the connection|"
                   r"is the server running", re.IGNORECASE)
_OOM = re.compile(r"OOMKilled|out of memory|OutOfMemoryError|MemoryError|memory limit exceeded", re.IGNORECASE)
_CLUSTER_HOST = re.compile(r"\b([a-z0-9][a-z0-9-]*)\.[a-z0-9-]+\.svc\b")
_SUSPECT = re.compile(r"^\[([A-Za-z0-9][A-Za-z0-9_.-]*)\] ")


@dataclass(frozen=True, slots=True)
class Cause:
    kind: str  # expired_certificate | disk_full | traffic_surge | memory_leak | dependency_down
    service: str  # where it is: the service whose evidence shows it
    evidence_ids: tuple[str, ...]
    what: str  # one line for the brief: the exception text or the fact
    ratio: float | None = None  # traffic_surge: load against baseline
    replicas: float | None = None  # traffic_surge: the HPA's (maximum) replica count
    #: the service's own evidence shows it (its logs, its events, its metrics), not only a caller's
    #: error that mentions it
    firsthand: bool = True


def service_of(item: Evidence, default: str) -> str:
    """The service an evidence item was collected for: a followed suspect's ``[name]`` prefix, else
    ``default`` (the alerting service)."""
    match = _SUSPECT.match(item.detail)
    return match.group(1) if match else default


def find_causes(evidence: Sequence[Evidence], *, service: str, peer: str | None = None) -> list[Cause]:
    """Every cause the evidence shows, strongest kinds first (see the module docstring). ``peer``:
    the failure's next hop as the traces show it (a failing client span's callee), which a disk or
    a connection error seen only by the alerting service is blamed on."""
    texts = [(item, log.line) for item, log in payloads(evidence, LogLine)]
    texts += [(item, item.detail) for item in evidence
              if item.payload is None and item.detail.startswith(("Kubernetes event", "["))]
    facts = {}
    for item, series in payloads(evidence, MetricSeries):
        if series.name in FACT_NAMES:
            fact = fact_of(series)
            if fact is not None:
                facts.setdefault(series.name, []).append((item, fact))
    causes: list[Cause] = []

    def by_text(kind: str, pattern: re.Pattern[str], *, blame_peer: bool = True) -> None:
        hits = [(item, text) for item, text in texts if pattern.search(text)]
        if not hits:
            return
        owner, firsthand = _owner(hits, service=service, peer=peer if blame_peer else None)
        own = [(i, t) for i, t in hits if service_of(i, service) == owner] or hits
        causes.append(Cause(kind, owner, tuple(dict.fromkeys(i.id for i, _ in own[:3])),
                            _excerpt(own[0][1], pattern), firsthand=firsthand))

    def by_fact(kind: str, name: str, keep: object = None) -> None:
        found = [(item, fact) for item, fact in facts.get(name, []) if keep is None or keep(fact)]  # type: ignore[operator]
        if found and all(c.kind != kind for c in causes):
            item, fact = found[0]
            causes.append(Cause(kind, service_of(item, service), (item.id,), fact.text))

    by_text("expired_certificate", _CERT, blame_peer=False)  # a partner's certificate: ours to chase
    by_fact("expired_certificate", "cert_expiry_days", lambda f: "(expired)" in f.text)
    by_text("disk_full", _DISK)
    by_fact("disk_full", "filesystem_available")
    surge = [(i, f) for i, f in facts.get(REQUEST_RATE_FACT, []) if "× baseline" in f.text and f.severity >= 2]
    pressure = facts.get("hpa_at_max", []) + facts.get("cpu_throttling", [])
    if surge and pressure:
        (item, fact), (p_item, p_fact) = surge[0], pressure[0]
        replicas = next((f.severity for _, f in facts.get("hpa_at_max", [])), None)
        causes.append(Cause("traffic_surge", service_of(item, service), (item.id, p_item.id),
                            f"{fact.text}; {p_fact.text}", ratio=fact.severity, replicas=replicas))
    by_fact("memory_leak", "oom_killed")
    by_text("memory_leak", _OOM)
    by_fact("memory_leak", "memory_vs_limit")
    by_text("dependency_down", _DOWN)
    return causes


def _owner(hits: Sequence[tuple[Evidence, str]], *, service: str, peer: str | None) -> tuple[str, bool]:
    """Whose problem the matching lines show, and whether its own evidence shows it: a followed
    service's own lines first; else a Kubernetes Service named by its DNS name in the lines; else the
    traces' next hop; else the alerting service."""
    theirs = [service_of(i, service) for i, _ in hits if service_of(i, service) != service]
    if theirs:
        return _busiest(theirs), True
    named = [name for _, text in hits for name in kubernetes_services(text)]
    if named:
        return _busiest(named), False
    if peer and peer != service:
        return peer, False
    return service, True


def kubernetes_services(text: str) -> list[str]:
    """The Kubernetes Services ``text`` names by their DNS names (``pg-offers.core.svc.cluster.local:5432``
    → ``pg-offers``): services of the cluster whether or not Sitrep knows them."""
    return [m.group(1) for m in _CLUSTER_HOST.finditer(text.lower())]


def _busiest(services: Iterable[str]) -> str:
    return Counter(services).most_common(1)[0][0]


def _excerpt(text: str, pattern: re.Pattern[str], *, width: int = 160) -> str:
    """The part of a line around what matched: the exception text, not the timestamp before it."""
    flat = " ".join(text.split())
    match = pattern.search(flat)
    if match is None:
        return flat[:width]
    start = max(match.start() - 60, 0)
    return ("…" if start else "") + flat[start:start + width]
