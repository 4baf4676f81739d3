"""Saturation series → short facts a brief can cite ("memory 97% of limit (pod cart-5b7c9d8e6-h4j5k)").

Each query of ``SATURATION_QUERIES`` (templates in ``bot.settings.DEFAULT_PROMQL``) is read as one kind of
signal; ``facts_for(name, series)`` says what is worth saying about it, or nothing. A fact keeps the series
it was read from, renamed to ``Fact.name`` (``memory_vs_limit``, ``request_rate_vs_baseline``…), so the
Prometheus collector can make it its own ``Evidence`` and the digest can say it again from the payload
alone (``fact_of``).

    request_rate_vs_baseline  request rate 3.1× baseline (420 → 1300 req/s)
    cpu_throttling            CPU throttled 41% (pod x, container y)
    memory_vs_limit           memory 97% of limit (pod x, container y) at 03:45Z
    oom_killed                3 OOMKilled restarts in 15m (pod x), first at 03:44Z
    hpa_at_max                HPA invoices at max 12/12 replicas since 03:42Z
    filesystem_available      /var/lib/postgresql 2% free on db-0 at 03:40Z
    probe_success             probe https://… success 0.4 (5m average, recent)
    cert_expiry_days          certificate for https://… expires in -2 days (expired)

Levels are sustained ones (the median of the window's last third), never a single peak, except where a
peak is the fact itself (memory against its limit: the kernel kills at the peak; OOM kills; a full disk).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median

from bot.models import MetricSeries

#: the queries read as saturation: they give facts, never raw series evidence
SATURATION_QUERIES: tuple[str, ...] = (
    "cpu_throttling", "memory_vs_limit", "oom_killed", "hpa_at_max", "filesystem_available",
    "probe_success", "cert_expiry_days",
)
#: the fact read from the ``request_rate`` query (which also stays a raw series)
REQUEST_RATE_FACT = "request_rate_vs_baseline"
#: every ``MetricSeries.name`` a fact's payload can carry
FACT_NAMES: frozenset[str] = frozenset({*SATURATION_QUERIES, REQUEST_RATE_FACT})

#: thresholds (the README's example alerts)
SURGE_RATIO = 2.0  # request rate this many times the baseline (or its inverse for a drop)
THROTTLED = 0.25
MEMORY_NEAR_LIMIT = 0.9
FS_LOW = 0.1
PROBE_FAILING = 0.9
CERT_SOON_DAYS = 14.0
#: a series last seen this close to the window's end is "now"
NOW_SLACK = timedelta(minutes=2)
#: labels that say where a signal is, in the order a fact names them
_WHERE = ("pod", "container")


@dataclass(frozen=True, slots=True)
class Fact:
    """One saturation fact: ``text`` is the line, ``series`` its payload (named ``name``)."""

    name: str
    text: str
    at: datetime | None
    series: MetricSeries
    severity: float = 1.0  # how far past its threshold: orders facts of one kind, worst first


def facts_for(name: str, series: Sequence[MetricSeries], *, ref: datetime | None = None) -> list[Fact]:
    """The facts worth stating about query ``name``'s answer; ``[]`` when it says nothing."""
    reader = _READERS.get(name)
    if reader is None:
        return []
    usable = [s for s in series if _finite(s)]
    return reader(usable, ref) if usable else []


def fact_of(series: MetricSeries, *, ref: datetime | None = None) -> Fact | None:
    """The fact a fact's payload states (its ``name`` is in ``FACT_NAMES``), or None."""
    if series.name not in FACT_NAMES:
        return None
    query = "request_rate" if series.name == REQUEST_RATE_FACT else series.name
    facts = facts_for(query, [series], ref=ref)
    return facts[0] if facts else None


# --------------------------------------------------------------------------- readers


def _request_rate(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    facts = []
    for item in series:
        values = [v for _, v in _finite(item)]
        if len(values) < 4:
            continue
        baseline = median(values[: math.ceil(len(values) / 2)])
        # a surge is what is happening now: the last tenth of the window (a surge that began minutes
        # before the alert is still under the median of the last third)
        recent = median(values[-max(4, len(values) // 10):])
        if baseline <= 0 or recent <= 0:
            continue
        ratio = recent / baseline
        if ratio < SURGE_RATIO and ratio > 1 / SURGE_RATIO:
            continue
        where = _where(item, skip=("service", "namespace"))
        text = (f"request rate {_ratio(ratio)}× baseline ({_rate(baseline)} → {_rate(recent)} req/s)"
                f"{f' ({where})' if where else ''}")
        facts.append(Fact(REQUEST_RATE_FACT, text, _crossing(item, baseline * SURGE_RATIO if ratio > 1 else None),
                          _renamed(item, REQUEST_RATE_FACT), max(ratio, 1 / ratio)))
    return _worst_first(facts)


def _cpu_throttling(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    levels = [(item, _recent([v for _, v in _finite(item)])) for item in series]
    over = [(item, level) for item, level in levels if level >= THROTTLED]
    if not over:
        return []
    item, level = max(over, key=lambda pair: pair[1])
    text = f"CPU throttled {_pct(level)}{_where_suffix(item)}{_others(len(over), len(series), 'pods throttled')}"
    return [Fact("cpu_throttling", text, _crossing(item, THROTTLED), _renamed(item, "cpu_throttling"), level)]


def _memory_vs_limit(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    peaks = [(item, _peak(item)) for item in series]
    over = [(item, peak) for item, peak in peaks if peak[1] >= MEMORY_NEAR_LIMIT]
    if not over:
        return []
    item, (at, value) = max(over, key=lambda pair: pair[1][1])
    text = (f"memory {_pct(value)} of limit{_where_suffix(item)} at {_clock(at, ref)}"
            f"{_others(len(over), len(series), 'near their limit')}")
    return [Fact("memory_vs_limit", text, at, _renamed(item, "memory_vs_limit"), value)]


def _oom_killed(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    counted = [(item, _peak(item)) for item in series]
    counted = [(item, peak) for item, peak in counted if peak[1] > 0]
    if not counted:
        return []
    total = sum(max(1, round(value)) for _, (_, value) in counted)
    item, _ = max(counted, key=lambda pair: pair[1][1])
    at = min(_finite(s)[0][0] for s, _ in counted)  # the filter's first sample: the first kill seen
    pods = sorted({s.labels.get("pod", "") for s, _ in counted} - {""})
    where = f" (pod {pods[0]})" if len(pods) == 1 else f" ({len(pods)} pods, e.g. {pods[0]})" if pods else ""
    text = f"{total} OOMKilled restart{'s' if total != 1 else ''} in 15m{where}, first at {_clock(at, ref)}"
    return [Fact("oom_killed", text, at, _renamed(item, "oom_killed"), float(total))]


def _hpa_at_max(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    facts = []
    for item in series:
        points = _finite(item)
        first, (last_at, replicas) = points[0][0], points[-1]
        name = next((item.labels[k] for k in ("horizontalpodautoscaler", "deployment", "service", "app")
                     if item.labels.get(k)), "?")
        count = f"{replicas:.0f}/{replicas:.0f}"
        if ref is None or last_at >= ref - NOW_SLACK:
            text = f"HPA {name} at max {count} replicas since {_clock(first, ref)}"
        else:
            text = f"HPA {name} was at max {count} replicas {_clock(first, ref)}–{_clock(last_at, ref)}"
        facts.append(Fact("hpa_at_max", text, first, _renamed(item, "hpa_at_max"), replicas))
    return _worst_first(facts)


def _filesystem(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    facts = []
    for item in series:
        at, low = min(_finite(item), key=lambda p: p[1])
        if low > FS_LOW:
            continue
        mount = item.labels.get("mountpoint") or item.labels.get("device") or "filesystem"
        host = (item.labels.get("pod") or item.labels.get("node") or item.labels.get("instance")
                or item.labels.get("persistentvolumeclaim"))
        text = f"{mount} {_pct(low, small=True)} free{f' on {host}' if host else ''} at {_clock(at, ref)}"
        facts.append(Fact("filesystem_available", text, at, _renamed(item, "filesystem_available"), 1 - low))
    return _worst_first(facts)


def _probe_success(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    facts = []
    for item in series:
        values = [v for _, v in _finite(item)]
        level = _recent(values)
        if level >= PROBE_FAILING:
            continue
        target = item.labels.get("instance") or _where(item) or "?"
        text = f"probe {target} success {level:.2g} (5m average, recent)"
        at = _crossing(item, PROBE_FAILING, below=True)
        facts.append(Fact("probe_success", text, at, _renamed(item, "probe_success"), 1 - level))
    return _worst_first(facts)


def _cert_expiry(series: list[MetricSeries], ref: datetime | None) -> list[Fact]:
    facts = []
    for item in series:
        at, days = _finite(item)[-1]
        if days >= CERT_SOON_DAYS:
            continue
        target = item.labels.get("instance") or _where(item) or "?"
        shown = f"{days:.0f}" if abs(days) >= 1 else f"{days:.1f}"
        state = "expired" if days < 0 else "expiring"
        text = f"certificate for {target} expires in {shown} days ({state})"
        facts.append(Fact("cert_expiry_days", text, at, _renamed(item, "cert_expiry_days"), CERT_SOON_DAYS - days))
    return _worst_first(facts)


_READERS: dict[str, Callable[[list[MetricSeries], datetime | None], list[Fact]]] = {
    "request_rate": _request_rate,
    "cpu_throttling": _cpu_throttling,
    "memory_vs_limit": _memory_vs_limit,
    "oom_killed": _oom_killed,
    "hpa_at_max": _hpa_at_max,
    "filesystem_available": _filesystem,
    "probe_success": _probe_success,
    "cert_expiry_days": _cert_expiry,
}


# --------------------------------------------------------------------------- transient peaks


def transient_peak(series: MetricSeries, *, min_ratio: float = 1.5, max_share: float = 0.25
                   ) -> tuple[datetime, float] | None:
    """``(peak time, peak)`` when the series rose to ``min_ratio``× its baseline for at most
    ``max_share`` of its points and is back near the baseline at the end (a SUM over a workload
    during a rolling update counts old and new pods: it doubles for two minutes, then returns)."""
    points = _finite(series)
    if len(points) < 6:
        return None
    values = [v for _, v in points]
    baseline = median(values)
    if baseline <= 0:
        return None
    high = [v for v in values if v >= baseline * min_ratio]
    at, peak = max(points, key=lambda p: p[1])
    if not high or len(high) > max_share * len(values):
        return None
    tail = values[-max(3, len(values) // 10):]
    if any(abs(v - baseline) > 0.2 * baseline for v in tail):  # not back (yet): maybe a real change
        return None
    return at, peak


# --------------------------------------------------------------------------- helpers


def _finite(series: MetricSeries) -> list[tuple[datetime, float]]:
    return [(at, v) for at, v in series.points if math.isfinite(v)]


def _recent(values: Sequence[float]) -> float:
    """The sustained recent level: the median of the last third (at least two points)."""
    tail = values[-max(2, len(values) // 3):]
    return median(tail)


def _peak(series: MetricSeries) -> tuple[datetime, float]:
    return max(_finite(series), key=lambda p: p[1])


def _crossing(series: MetricSeries, threshold: float | None, *, below: bool = False) -> datetime | None:
    """When the series last went past ``threshold`` and stayed there, else its last point's time."""
    points = _finite(series)
    if threshold is None:
        return points[-1][0] if points else None
    at = None
    for moment, value in points:
        past = value < threshold if below else value >= threshold
        if past and at is None:
            at = moment
        elif not past:
            at = None
    return at or (points[-1][0] if points else None)


def _renamed(series: MetricSeries, name: str) -> MetricSeries:
    return series if series.name == name else series.model_copy(update={"name": name})


def _where(series: MetricSeries, *, skip: Sequence[str] = ()) -> str:
    parts = [f"{k} {series.labels[k]}" for k in _WHERE if series.labels.get(k) and k not in skip]
    return ", ".join(parts)


def _where_suffix(series: MetricSeries) -> str:
    where = _where(series)
    return f" ({where})" if where else ""


def _others(over: int, total: int, what: str) -> str:
    return f"; {over} of {total} {what}" if over > 1 else ""


def _worst_first(facts: list[Fact]) -> list[Fact]:
    return sorted(facts, key=lambda f: -f.severity)


def _pct(value: float, *, small: bool = False) -> str:
    percent = value * 100
    return f"{percent:.1f}%" if small and 0 < abs(percent) < 1 else f"{percent:.0f}%"


def _ratio(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _rate(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"


def _clock(moment: datetime, ref: datetime | None) -> str:
    moment = moment.astimezone(UTC)
    text = moment.strftime("%H:%MZ")
    if ref is not None and ref.astimezone(UTC).date() != moment.date():
        text = moment.strftime("%Y-%m-%d ") + text
    return text
