"""Traces → erroring and slow spans grouped by service and operation, the call edges seen, and
the deepest failing service (where a failure starts, as far as the traces show)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.models import Trace


@dataclass(slots=True)
class SpanGroup:
    service: str
    operation: str
    count: int = 0
    errors: int = 0
    worst_ms: float = 0.0
    depth: int = 0  # calls away from the root span (deepest failing wins)
    evidence_ids: list[str] = field(default_factory=list)

    def line(self) -> str:
        ids = ",".join(self.evidence_ids[:3])
        return (f"[{ids}] {self.service} {self.operation}: {self.count} spans, {self.errors} failing, "
                f"worst {self.worst_ms:.0f} ms, depth {self.depth}")


@dataclass(frozen=True, slots=True)
class TraceDigest:
    groups: list[SpanGroup]  # failing first, deepest first, then slowest
    edges: list[tuple[str, str]]
    deepest_failing: str | None

    def lines(self) -> list[str]:
        out = []
        if self.deepest_failing:
            out.append(f"deepest failing service: {self.deepest_failing}")
        if self.edges:
            out.append("calls seen: " + ", ".join(f"{a} → {b}" for a, b in self.edges))
        return out + [g.line() for g in self.groups]


def digest_traces(traces: Iterable[tuple[str, Trace]], *, slow_ms: float = 1000.0) -> TraceDigest:
    groups: dict[tuple[str, str], SpanGroup] = {}
    edges: set[tuple[str, str]] = set()
    for evidence_id, trace in traces:
        edges |= trace.call_edges()
        for span in trace.spans:
            if not (span.error or span.duration_ms >= slow_ms):
                continue
            depth = trace.depth_of(span)
            group = groups.setdefault((span.service, span.operation), SpanGroup(span.service, span.operation))
            group.count += 1
            group.errors += int(span.error)
            group.worst_ms = max(group.worst_ms, span.duration_ms)
            group.depth = max(group.depth, depth)
            if evidence_id not in group.evidence_ids:
                group.evidence_ids.append(evidence_id)
    ordered = sorted(groups.values(), key=lambda g: (-(g.errors > 0), -g.depth, -g.worst_ms))
    failing = [g for g in ordered if g.errors]
    return TraceDigest(groups=ordered, edges=sorted(edges),
                       deepest_failing=failing[0].service if failing else None)
