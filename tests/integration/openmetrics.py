"""OpenMetrics text for a "bad deploy" of ``checkout`` (namespace ``shop``), for
``promtool tsdb create-blocks-from openmetrics``.

One hour of 15 s scrapes ending at ``end`` (rounded down to 15 s); the deploy lands 10 minutes
before the end. Before it: ~42 req/s, 0.1 % 503s, p99 ≈ 0.2 s. After it: 12 % 503s, p99 ≈ 8 s.
CPU (~0.35 cores) and memory (~512 MiB) stay flat.

promtool needs every series' samples in time order and the file to end with ``# EOF``; samples are
written family by family, series by series, each point's samples (buckets, count, sum) together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SERVICE = "checkout"
NAMESPACE = "shop"
SCRAPE_S = 15
DURATION = timedelta(minutes=60)
ONSET_BEFORE_END = timedelta(minutes=10)

REQUESTS_PER_S = 42.0
ERROR_SHARE_BEFORE = 0.001
ERROR_SHARE_AFTER = 0.12
CPU_CORES = 0.35
MEMORY_BYTES = 512 * 2**20

#: histogram bucket upper bounds (seconds), without +Inf
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: share of requests at or under each bound. With linear interpolation inside a bucket,
#: p99 = 0.1 + 0.15 × (0.99 − 0.98) / (0.995 − 0.98) = 0.2 s before the deploy ...
CDF_BEFORE = (0.60, 0.98, 0.995, 0.999, 1.0, 1.0, 1.0, 1.0)
#: ... and 5 + 5 × (0.99 − 0.975) / (1.0 − 0.975) = 8 s after it
CDF_AFTER = (0.50, 0.80, 0.88, 0.90, 0.93, 0.95, 0.975, 1.0)
#: mean latency, for ``_sum``
MEAN_BEFORE_S = 0.06
MEAN_AFTER_S = 0.9

EXPECTED_P99_BEFORE = 0.2
EXPECTED_P99_AFTER = 8.0


@dataclass(frozen=True, slots=True)
class Scenario:
    text: str
    start: datetime  # the first sample
    end: datetime  # the last sample
    onset: datetime  # the bad deploy


def floor_to_scrape(moment: datetime) -> datetime:
    seconds = math.floor(moment.timestamp() / SCRAPE_S) * SCRAPE_S
    return datetime.fromtimestamp(seconds, UTC)


def bad_deploy(end: datetime) -> Scenario:
    end = floor_to_scrape(end)
    start = end - DURATION
    onset = end - ONSET_BEFORE_END
    times = [start.timestamp() + i * SCRAPE_S for i in range(int(DURATION.total_seconds()) // SCRAPE_S + 1)]
    text = "\n".join(_lines(times, onset.timestamp())) + "\n# EOF\n"
    return Scenario(text=text, start=start, end=end, onset=onset)


def _integral(before: float, after: float, t0: float, onset: float) -> Callable[[float], float]:
    """The running total from ``t0`` of a rate that is ``before`` until ``onset``, ``after`` from it."""

    def total(t: float) -> float:
        return before * (min(t, onset) - t0) + after * max(t - onset, 0.0)

    return total


def _labels(**extra: str) -> str:
    pairs = {"service": SERVICE, "namespace": NAMESPACE, **extra}
    return ",".join(f'{k}="{v}"' for k, v in pairs.items())


def _lines(times: list[float], onset: float) -> Iterator[str]:
    t0 = times[0] - 3600.0  # the process has been up a while: counters do not start at 0
    requests = _integral(REQUESTS_PER_S, REQUESTS_PER_S, t0, onset)
    errors = _integral(REQUESTS_PER_S * ERROR_SHARE_BEFORE, REQUESTS_PER_S * ERROR_SHARE_AFTER, t0, onset)

    yield "# HELP http_requests Requests served."
    yield "# TYPE http_requests counter"
    for code in ("200", "503"):
        for t in times:
            count = errors(t) if code == "503" else requests(t) - errors(t)
            yield f"http_requests_total{{{_labels(code=code)}}} {math.floor(count)} {t:.0f}"

    bucket_totals = [
        _integral(REQUESTS_PER_S * before, REQUESTS_PER_S * after, t0, onset)
        for before, after in zip(CDF_BEFORE, CDF_AFTER, strict=True)
    ]
    latency = _integral(REQUESTS_PER_S * MEAN_BEFORE_S, REQUESTS_PER_S * MEAN_AFTER_S, t0, onset)
    yield "# HELP http_request_duration_seconds Request latency."
    yield "# TYPE http_request_duration_seconds histogram"
    yield "# UNIT http_request_duration_seconds seconds"
    for t in times:
        count = math.floor(requests(t))
        for le, total in zip(BUCKETS, bucket_totals, strict=True):
            # min(): floating-point error must not put a bucket above +Inf
            yield f"http_request_duration_seconds_bucket{{{_labels(le=str(le))}}} {min(math.floor(total(t)), count)} {t:.0f}"
        yield f'http_request_duration_seconds_bucket{{{_labels(le="+Inf")}}} {count} {t:.0f}'
        yield f"http_request_duration_seconds_count{{{_labels()}}} {count} {t:.0f}"
        yield f"http_request_duration_seconds_sum{{{_labels()}}} {latency(t):.3f} {t:.0f}"

    yield "# HELP container_cpu_usage_seconds CPU time used."
    yield "# TYPE container_cpu_usage_seconds counter"
    for t in times:
        yield f"container_cpu_usage_seconds_total{{{_labels()}}} {CPU_CORES * (t - t0):.3f} {t:.0f}"

    yield "# HELP container_memory_working_set_bytes Working set."
    yield "# TYPE container_memory_working_set_bytes gauge"
    for i, t in enumerate(times):
        wobble = (i % 4) * 2**20  # flat, not perfectly constant
        yield f"container_memory_working_set_bytes{{{_labels()}}} {MEMORY_BYTES + wobble} {t:.0f}"
