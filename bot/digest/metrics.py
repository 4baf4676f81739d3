"""Metric series → one line each: baseline before the change vs the incident level, and when it
changed ("p99_latency 200 ms → 8.2 s at 03:41 UTC").

The change point is the split of the series that best explains it as two flat levels (least
squares over every split, O(n) with prefix sums); a series whose two levels differ by less than
``min_ratio`` (default 1.5×) and less than ``min_delta`` is reported as flat, which the budget drops
first.

A saturation fact's series (``bot.digest.saturation``: ``memory_vs_limit``, ``hpa_at_max``…) is said as its
fact ("memory 97% of limit (pod x) at 03:45Z") and counts as a change. A flat series with a short peak
that went back to its baseline (a SUM over pods during a rolling update) says so: "transient peak".
"""

from __future__ import annotations

import math
from statistics import median
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.digest.saturation import fact_of, transient_peak
from bot.models import MetricSeries


@dataclass(frozen=True, slots=True)
class MetricDigest:
    evidence_id: str
    name: str
    before: float
    after: float
    changed_at: datetime | None  # None: no change worth the name
    peak: float
    peak_at: datetime | None = None
    #: the saturation fact this series states (its line), None for an ordinary series
    fact: str | None = None
    #: a flat series whose short peak went back to baseline (not a symptom)
    transient: bool = False

    @property
    def changed(self) -> bool:
        return self.changed_at is not None or self.fact is not None

    @property
    def ratio(self) -> float:
        low = min(abs(self.before), abs(self.after))
        return math.inf if low == 0 else max(abs(self.before), abs(self.after)) / low

    def line(self, *, fmt_time: Callable[[datetime], str]) -> str:
        if self.fact is not None:
            return f"[{self.evidence_id}] {self.fact}"
        if not self.changed:
            text = f"[{self.evidence_id}] {self.name} flat at {fmt_value(self.name, self.after)}"
            if self.transient and self.peak_at is not None:
                text += (f" (transient peak {fmt_value(self.name, self.peak)} at {fmt_time(self.peak_at)}, "
                         "back to baseline)")
            return text
        assert self.changed_at is not None
        direction = "↑" if self.after > self.before else "↓"
        return (f"[{self.evidence_id}] {self.name} {fmt_value(self.name, self.before)} → "
                f"{fmt_value(self.name, self.after)} {direction} at {fmt_time(self.changed_at)} "
                f"(peak {fmt_value(self.name, self.peak)})")


def change_point(values: list[float]) -> int | None:
    """Index of the first point of the second level, or None for fewer than 4 points."""
    n = len(values)
    if n < 4:
        return None
    prefix, squares = [0.0], [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
        squares.append(squares[-1] + v * v)

    def cost(i: int, j: int) -> float:  # squared error of values[i:j] around its mean
        count = j - i
        total = prefix[j] - prefix[i]
        return (squares[j] - squares[i]) - total * total / count

    best, best_cost = None, math.inf
    for split in range(2, n - 1):
        c = cost(0, split) + cost(split, n)
        if c < best_cost:
            best, best_cost = split, c
    return best


def digest_series(evidence_id: str, series: MetricSeries, *, min_ratio: float = 1.5,
                  min_delta: float = 0.0) -> MetricDigest | None:
    points = [(t, v) for t, v in series.points if math.isfinite(v)]
    if not points:
        return None
    values = [v for _, v in points]
    peak_at, peak = max(points, key=lambda p: abs(p[1]))
    if (fact := fact_of(series)) is not None:
        return MetricDigest(evidence_id, series.name, values[0], values[-1], fact.at, peak, peak_at, fact.text)
    split = change_point(values)
    if split is None:
        mean = sum(values) / len(values)
        return MetricDigest(evidence_id, series.name, mean, mean, None, peak, peak_at)
    before = median(values[:split])
    after = median(values[split:])
    low, high = sorted((abs(before), abs(after)))
    big_enough = (high / low >= min_ratio) if low > 0 else high > 0
    transient = transient_peak(series) is not None
    if not big_enough or abs(after - before) <= min_delta or transient:
        return MetricDigest(evidence_id, series.name, before, after, None, peak, peak_at, transient=transient)
    return MetricDigest(evidence_id, series.name, before, after, points[split][0], peak, peak_at)


def fmt_value(name: str, value: float) -> str:
    if "latency" in name or name.endswith("_seconds"):
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.1f} s"
    if "ratio" in name:
        return f"{value * 100:.1f} %"
    if "memory" in name or name.endswith("_bytes"):
        for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(value) >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} B"
    if "cpu" in name:
        return f"{value:.2f} cores"
    if "rate" in name:
        return f"{value:.1f}/s"
    return f"{value:.3g}"
