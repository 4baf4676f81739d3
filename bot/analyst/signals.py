"""Small, pure readings of collected evidence shared by the prompt and the rule-based analyzer:
symptom onset in a metric series, the deploys in order, the deepest failing span of the
erroring traces, the most frequent error log message, and number/time formatting."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from bot.models import Deploy, Evidence, LogLine, MetricSeries, SourceResult, Trace

# --------------------------------------------------------------------------- formatting


def fmt_time(at: datetime, *, ref: datetime | None = None) -> str:
    """``03:41:00Z``; with the date when it differs from ``ref`` (``2025-11-24 21:30:05Z``)."""
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    if ref is not None:
        ref = ref.astimezone(UTC) if ref.tzinfo else ref.replace(tzinfo=UTC)
    if ref is None or at.date() != ref.date():
        return at.strftime("%Y-%m-%d %H:%M:%SZ")
    return at.strftime("%H:%M:%SZ")


def fmt_seconds(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s"


def fmt_gap(seconds: float) -> str:
    """A human gap: ``45 s``, ``3 min``, ``2 h 5 min``, ``4 d``."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours // 24} d"


def fmt_metric(name: str, value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    match name:
        case "p99_latency":
            return fmt_seconds(value)
        case "error_ratio":
            return f"{value * 100:.1f}%"
        case "request_rate":
            return f"{value:.1f} req/s"
        case "cpu":
            return f"{value:.2f} cores"
        case "memory":
            return f"{value / 2**20:.0f} MiB"
        case "restarts":
            return f"{value:.0f}"
        case _:
            return f"{value:.3g}"


METRIC_LABEL = {
    "p99_latency": "p99 latency",
    "error_ratio": "error ratio",
    "request_rate": "request rate",
    "cpu": "CPU",
    "memory": "memory",
    "restarts": "restarts",
}


def truncate(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


# --------------------------------------------------------------------------- evidence access


def all_evidence(results: Iterable[SourceResult]) -> list[Evidence]:
    return [item for result in results for item in result.evidence]


T = TypeVar("T")


def payloads(evidence: Iterable[Evidence], kind: type[T]) -> list[tuple[Evidence, T]]:
    return [(item, item.payload) for item in evidence if isinstance(item.payload, kind)]


# --------------------------------------------------------------------------- metrics: onset

#: name → (minimum factor over the baseline, absolute floor the value must reach)
ONSET_RULES: dict[str, tuple[float, float]] = {
    "p99_latency": (3.0, 0.5),  # seconds
    "error_ratio": (3.0, 0.05),  # 5 % of requests
    "memory": (2.0, 256 * 1024**2),  # bytes: a leak doubles the working set
}


@dataclass(frozen=True, slots=True)
class Onset:
    metric: str
    evidence_id: str
    at: datetime
    baseline: float
    peak: float
    peak_at: datetime
    last: float | None = None
    #: the last two points are below the onset threshold again: the symptom has cleared
    cleared: bool = False

    def describe(self) -> str:
        """``p99 latency 195 ms → 8.4 s``."""
        label = METRIC_LABEL.get(self.metric, self.metric)
        return f"{label} {fmt_metric(self.metric, self.baseline)} → {fmt_metric(self.metric, self.peak)}"


def _finite(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    return sorted(((at, v) for at, v in points if math.isfinite(v)), key=lambda p: p[0])


def series_onset(evidence_id: str, series: MetricSeries) -> Onset | None:
    """The first point that is ≥ factor × the median of the points before it and above the floor,
    confirmed by the next point when there is one."""
    rule = ONSET_RULES.get(series.name)
    if rule is None:
        return None
    factor, floor = rule
    points = _finite(series.points)

    def high(value: float, baseline: float) -> bool:
        return value >= floor and value >= factor * baseline

    for i in range(1, len(points)):
        baseline = statistics.median(v for _, v in points[:i])
        if not high(points[i][1], baseline):
            continue
        if i + 1 < len(points) and not high(points[i + 1][1], baseline):
            continue
        peak_at, peak = max(points[i:], key=lambda p: p[1])
        tail = points[i + 1:][-2:]
        cleared = len(tail) == 2 and not any(high(v, baseline) for _, v in tail)
        return Onset(series.name, evidence_id, points[i][0], baseline, peak, peak_at,
                     last=points[-1][1], cleared=cleared)
    return None


def metric_onsets(evidence: Iterable[Evidence]) -> list[Onset]:
    """Every symptom onset found, earliest first."""
    found = [
        onset
        for item, series in payloads(evidence, MetricSeries)
        if (onset := series_onset(item.id, series)) is not None
    ]
    return sorted(found, key=lambda o: o.at)


def series_summary(series: MetricSeries, *, ref: datetime | None = None) -> str:
    """``195 ms → 8.4 s (min 182 ms, max 8.4 s at 03:42:00Z, last 8.4 s, 5 points)``."""
    points = _finite(series.points)
    if not points:
        return f"no finite points ({len(series.points)} raw)"
    name = series.name
    first, last = points[0][1], points[-1][1]
    peak_at, peak = max(points, key=lambda p: p[1])
    low = min(v for _, v in points)
    return (
        f"{fmt_metric(name, first)} → {fmt_metric(name, last)} "
        f"(min {fmt_metric(name, low)}, max {fmt_metric(name, peak)} at {fmt_time(peak_at, ref=ref)}, "
        f"{len(points)} points {fmt_time(points[0][0], ref=ref)}–{fmt_time(points[-1][0], ref=ref)})"
    )


# --------------------------------------------------------------------------- deploys


def deploys_in_order(evidence: Iterable[Evidence]) -> list[tuple[Evidence, Deploy]]:
    """Deploy evidence, oldest first."""
    return sorted(payloads(evidence, Deploy), key=lambda p: (p[1].deployed_at, p[1].history_id))


def previous_deploy(
    deploys: list[tuple[Evidence, Deploy]], deploy: Deploy
) -> tuple[Evidence, Deploy] | None:
    """The history entry of the same app deployed just before ``deploy``."""
    earlier = [
        pair
        for pair in deploys
        if pair[1].app == deploy.app
        and pair[1].history_id != deploy.history_id
        and (pair[1].deployed_at, pair[1].history_id) < (deploy.deployed_at, deploy.history_id)
    ]
    return earlier[-1] if earlier else None


def deploy_label(deploy: Deploy) -> str:
    """``v2.14.3 (c4d5e6f)``: the deploy's label and short sha (``bot.deploy_history``), never a branch."""
    return deploy.name


# --------------------------------------------------------------------------- traces


@dataclass(frozen=True, slots=True)
class FailingSpan:
    service: str
    operation: str
    duration_ms: float
    evidence_id: str  # the trace it was seen in first
    traces: int  # erroring traces whose deepest failing span is this service+operation
    erroring_traces: int  # all erroring traces
    #: what that span calls when it is a client span (a database, another service): the failure's
    #: next hop, which has no spans of its own
    peer: str | None = None


def deepest_failing_span(evidence: Iterable[Evidence]) -> FailingSpan | None:
    """Across erroring traces, the (service, operation) most often found as the deepest span
    with an error; ties go to the deeper, then the slower one."""
    counts: Counter[tuple[str, str]] = Counter()
    best: dict[tuple[str, str], tuple[int, float, str]] = {}
    peers: dict[tuple[str, str], Counter[str]] = {}
    erroring = 0
    for item, trace in payloads(evidence, Trace):
        span = trace.deepest_failing_span()
        if not (trace.error or span):
            continue
        erroring += 1
        if span is None:
            key = (trace.root_service, trace.root_operation)
            depth, duration = 0, trace.duration_ms
        else:
            key = (span.service, span.operation)
            depth, duration = trace.depth_of(span), span.duration_ms
            if span.peer and span.peer != span.service:
                peers.setdefault(key, Counter())[span.peer] += 1
        counts[key] += 1
        if key not in best:
            best[key] = (depth, duration, item.id)
        elif (depth, duration) > best[key][:2]:
            best[key] = (depth, duration, best[key][2])
    if not counts:
        return None
    key = max(counts, key=lambda k: (counts[k], best[k][0], best[k][1]))
    _, duration, evidence_id = best[key]
    peer = peers[key].most_common(1)[0][0] if key in peers else None
    return FailingSpan(key[0], key[1], duration, evidence_id, counts[key], erroring, peer)


# --------------------------------------------------------------------------- logs

ERROR_LEVELS = {"error", "err", "fatal", "critical", "crit", "panic", "emerg", "alert"}
_ERROR_WORDS = re.compile(r"\b(error|exception|fatal|panic|traceback|timed? ?out)\b", re.IGNORECASE)
_MESSAGE_KEYS = ("msg", "message", "error", "err", "event")
_CONTEXT_KEYS = ("pool", "error", "err", "status", "upstream", "host", "db", "target")
_VARIABLE = re.compile(r"\b(0x)?[0-9a-f]{8,}\b|\d+(\.\d+)?", re.IGNORECASE)


def _json_fields(line: str) -> dict[str, object] | None:
    stripped = line.strip()
    if not stripped.startswith("{"):
        return None
    try:
        fields = json.loads(stripped)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def log_level(log: LogLine) -> str | None:
    if log.level:
        return log.level.lower()
    fields = _json_fields(log.line)
    if fields and isinstance(fields.get("level"), str):
        return str(fields["level"]).lower()
    return None


def is_error_log(log: LogLine) -> bool:
    level = log_level(log)
    if level is not None:
        return level in ERROR_LEVELS
    return bool(_ERROR_WORDS.search(log.line))


def log_message(line: str) -> str:
    """The human part of a log line: a JSON line's ``msg`` plus telling fields (``pool=orders-db``)."""
    fields = _json_fields(line)
    if fields is None:
        return " ".join(line.split())
    message = next((str(fields[k]) for k in _MESSAGE_KEYS if isinstance(fields.get(k), str)), None)
    if message is None:
        return " ".join(line.split())
    context = [
        f"{key}={fields[key]}"
        for key in _CONTEXT_KEYS
        if key in fields and isinstance(fields[key], str | int) and str(fields[key]) not in message
    ]
    return message + (f" ({', '.join(context)})" if context else "")


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    message: str  # an example of the most frequent error message
    count: int  # lines with that message
    total: int  # all error lines
    evidence_id: str  # the first line with that message
    first_at: datetime  # the first error line of any message
    first_id: str


_MERGED = re.compile(r"\(×(\d+)\)")


def merged_count(item: Evidence) -> int:
    """How many identical lines one log evidence item stands for (the Loki collector merges them
    and says ``(×N)`` in the detail)."""
    match = _MERGED.search(item.detail)
    return int(match.group(1)) if match else 1


def top_error(evidence: Iterable[Evidence]) -> ErrorSummary | None:
    """The most frequent error message (numbers and hex ids ignored when grouping)."""
    errors = sorted(
        ((item, log) for item, log in payloads(evidence, LogLine) if is_error_log(log)),
        key=lambda p: p[1].at,
    )
    if not errors:
        return None
    groups: Counter[str] = Counter()
    example: dict[str, tuple[str, str]] = {}
    for item, log in errors:
        message = log_message(log.line)
        key = _VARIABLE.sub("#", message)
        groups[key] += merged_count(item)
        example.setdefault(key, (message, item.id))
    key, count = groups.most_common(1)[0]  # ties: the first seen (collectors rank errors first)
    message, evidence_id = example[key]
    first_item, first_log = errors[0]
    total = sum(groups.values())
    return ErrorSummary(message, count, total, evidence_id, first_log.at, first_item.id)


def first_error_trace(evidence: Iterable[Evidence]) -> tuple[Evidence, Trace] | None:
    erroring = [
        (item, trace)
        for item, trace in payloads(evidence, Trace)
        if trace.error or any(span.error for span in trace.spans)
    ]
    return min(erroring, key=lambda p: p[1].start) if erroring else None
