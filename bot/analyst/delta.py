"""What changed between two collections of the same incident: the evidence behind the last brief and a
fresh look when its alert fires again or another alert joins.

    new log messages        error/warn messages not seen before, with their counts; ones that stopped
    metric movement         each named series' latest value then → now, when it moved ≥ 20 %
    new deploys             history entries that were not there
    new failing spans       (service, operation) failing now that did not before
    sources                 a source that answered then and fails now (or the reverse)

Pure functions over ``SourceResult`` lists (already redacted); ``Delta.lines()`` is what the thread shows.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.analyst.signals import METRIC_LABEL, fmt_metric, truncate
from bot.models import Deploy, LogLine, MetricSeries, SourceResult, SourceStatus, Trace

MOVED = 0.2  # a metric "moved" when its latest value changed by at least this share
ERROR_LEVELS = frozenset({"error", "err", "fatal", "critical", "crit", "panic", "warn", "warning"})
MAX_LINES = 5


@dataclass
class Delta:
    new_messages: list[tuple[str, int]] = field(default_factory=list)
    gone_messages: list[str] = field(default_factory=list)
    moved: list[tuple[str, float, float]] = field(default_factory=list)  # (metric, then, now)
    new_deploys: list[Deploy] = field(default_factory=list)
    new_failing: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_messages or self.gone_messages or self.moved or self.new_deploys
                    or self.new_failing or self.sources)

    def lines(self) -> list[str]:
        """One bullet per kind of change, most telling first; a line saying so when nothing changed."""
        out: list[str] = []
        for deploy in self.new_deploys[:MAX_LINES]:
            who = f" by {deploy.initiated_by}" if deploy.initiated_by else ""
            out.append(f"new deploy: {deploy.app} {deploy.ref}{who}")
        for metric, then, now in self.moved[:MAX_LINES]:
            label = METRIC_LABEL.get(metric, metric)
            out.append(f"{label}: {fmt_metric(metric, then)} → {fmt_metric(metric, now)}")
        for message, count in self.new_messages[:MAX_LINES]:
            out.append(f'new log message ({count}×): "{truncate(message, 120)}"')
        for span in self.new_failing[:MAX_LINES]:
            out.append(f"newly failing: {span}")
        for message in self.gone_messages[:MAX_LINES]:
            out.append(f'stopped: "{truncate(message, 120)}"')
        out += self.sources
        return out or ["nothing changed: the same errors, metrics steady, no new deploy or failing span"]


def _messages(results: Sequence[SourceResult]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for result in results:
        for item in result.evidence:
            if isinstance(item.payload, LogLine) and (item.payload.level or "") in ERROR_LEVELS:
                # the detail is "03:41:12Z error (×2) message (fields)": the message part identifies it
                text = item.detail.split(" ", 2)[-1] if item.detail[:1].isdigit() else item.detail
                times = 1
                if text.startswith("(×"):
                    head, _, text = text.partition(") ")
                    times = int(head[2:]) if head[2:].isdecimal() else 1
                counts[text.split(" (", 1)[0]] += times
    return counts


def _latest(results: Sequence[SourceResult]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for result in results:
        for item in result.evidence:
            if isinstance(item.payload, MetricSeries):
                finite = [v for _, v in sorted(item.payload.points) if math.isfinite(v)]
                if finite:
                    latest[item.payload.name] = finite[-1]
    return latest


def _deploys(results: Sequence[SourceResult]) -> dict[tuple[str, int], Deploy]:
    return {(d.app, d.history_id): d for r in results for e in r.evidence
            if isinstance(d := e.payload, Deploy)}


def _failing(results: Sequence[SourceResult]) -> set[str]:
    return {f"{span.service} {span.operation}" for r in results for e in r.evidence
            if isinstance(e.payload, Trace) for span in e.payload.spans if span.error}


def evidence_delta(before: Sequence[SourceResult], after: Sequence[SourceResult]) -> Delta:
    delta = Delta()
    then_messages, now_messages = _messages(before), _messages(after)
    delta.new_messages = sorted(((m, n) for m, n in now_messages.items() if m not in then_messages),
                                key=lambda p: -p[1])
    delta.gone_messages = sorted(m for m in then_messages if m not in now_messages)
    then_metrics, now_metrics = _latest(before), _latest(after)
    for name, now in now_metrics.items():
        then = then_metrics.get(name)
        if then is None:
            continue
        base = max(abs(then), 1e-9)
        if abs(now - then) / base >= MOVED and not (abs(then) < 1e-6 and abs(now) < 1e-6):
            delta.moved.append((name, then, now))
    delta.moved.sort(key=lambda m: -abs(m[2] - m[1]) / max(abs(m[1]), 1e-9))
    old_deploys = _deploys(before)
    delta.new_deploys = [d for key, d in sorted(_deploys(after).items(), key=lambda kv: kv[1].deployed_at)
                         if key not in old_deploys]
    delta.new_failing = sorted(_failing(after) - _failing(before))
    then_status = {r.source: r.status for r in before}
    for result in after:
        was = then_status.get(result.source)
        if was is SourceStatus.OK and result.status in (SourceStatus.ERROR, SourceStatus.TIMEOUT):
            delta.sources.append(f"{result.source.label} stopped answering: {result.describe()}")
        elif was in (SourceStatus.ERROR, SourceStatus.TIMEOUT) and result.status is SourceStatus.OK:
            delta.sources.append(f"{result.source.label} answers again")
    return delta
