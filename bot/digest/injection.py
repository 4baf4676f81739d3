"""Instruction-like text in the evidence: what a prompt injection through logs, traces or alerts
looks like ("ignore previous instructions", a fake system prompt, chat-template delimiters).

The text still reaches the model inside the evidence block (it is data, and the system prompt says so);
this only makes it visible: the brief says "suspicious content in logs from Loki" so a person knows
the model read something that tried to steer it. Patterns are deliberately narrow (phrases an ordinary
log line does not contain) — a missed exotic phrasing is acceptable, a false alarm on every stack
trace is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.models import Evidence, LogLine, SourceResult, Span, Trace

#: (kind, pattern) — the kind is what the brief names, never the matched text
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("override instruction", re.compile(
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier|"
        r"preceding|your)\s+(?:instructions?|prompts?|rules|directions|context)\b", re.I)),
    ("role instruction", re.compile(
        r"\byou\s+are\s+now\s+(?:a|an|the|in)\b|\bact\s+as\s+(?:a|an|the)\s+\w+|\bnew\s+instructions?\s*:", re.I)),
    # "system: you are…" (a space after the colon: Kubernetes' "system:serviceaccount:…" is not one)
    ("fake system prompt", re.compile(r"(?:^|[\s\"'{(\[])(?:system|assistant)\s*:\s+[a-z]|<\s*/?\s*system\s*>",
                                      re.I)),
    ("chat delimiter", re.compile(
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<</?SYS>>|"
        r"\n\s*(?:Human|Assistant)\s*:", re.I)),
    ("tool or action request", re.compile(
        r"\b(?:call|use|invoke)\s+the\s+\w+\s+tool\b|\b(?:approve|execute|run)\s+(?:this|the\s+following)\s+"
        r"(?:command|action|rollback)\b", re.I)),
)


@dataclass(frozen=True, slots=True)
class Suspicion:
    source: str  # the source's label, e.g. "Loki"
    evidence_id: str
    kind: str

    def describe(self) -> str:
        return f"suspicious content in {self.what} from {self.source} ({self.evidence_id}: {self.kind})"

    @property
    def what(self) -> str:
        return {"Loki": "logs", "Jaeger": "traces", "Prometheus": "metrics", "ArgoCD": "deploys"}.get(
            self.source, "evidence")


def _texts(item: Evidence) -> Iterable[str]:
    yield item.detail
    payload = item.payload
    if isinstance(payload, LogLine):
        yield payload.line
    elif isinstance(payload, Trace):
        for span in payload.spans:
            yield from _span_texts(span)


def _span_texts(span: Span) -> Iterable[str]:
    yield span.service
    yield span.operation


def find_suspicious(results: Sequence[SourceResult]) -> list[Suspicion]:
    """One finding per evidence item (its first matching kind), in evidence order."""
    found: list[Suspicion] = []
    for result in results:
        for item in result.evidence:
            kind = next((kind for text in _texts(item) for kind, pattern in PATTERNS if pattern.search(text)), None)
            if kind is not None:
                found.append(Suspicion(source=result.source.label, evidence_id=item.id, kind=kind))
    return found
