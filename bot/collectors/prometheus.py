"""Prometheus: one ``query_range`` per named query (request rate, error ratio, p99, cpu, ...), run
concurrently. An empty query is skipped; some failing while others answer is OK with the failures
noted in ``error``; all failing is ERROR.

Evidence: first one item per series of the RED/resource queries (``metrics-1``…, in query order), then
one item per saturation fact (``bot.digest.saturation``: request rate against its baseline, CPU
throttling, memory against its limit, OOM kills, the HPA at its maximum, a full filesystem, a failing
probe, a certificate's expiry), whose payload is the series it was read from under the fact's name. A
saturation query that answers nothing, or nothing worth saying, adds nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import urlencode

import httpx

from bot.collectors.base import (
    Collected,
    SourceError,
    UpstreamHTTPError,
    as_utc,
    body_hint,
    clock,
    cut,
    from_unix,
    gather_parts,
    guarded,
    http_error,
    json_body,
    parsing,
    partial_note,
    public_url,
    raise_if_nothing,
)
from bot.models import (
    Evidence,
    EvidenceSource,
    InvestigationRequest,
    MetricSeries,
    SourceName,
    SourceResult,
)
from bot.digest.saturation import SATURATION_QUERIES, facts_for, transient_peak

QUERY_PATH = "/api/v1/query_range"
MIN_STEP_S = 15
DETAIL_CHARS = 300

Queries = Mapping[str, str] | Callable[[str], Mapping[str, str]]


class PrometheusCollector:
    """``queries``: name → PromQL, or a function of the service name (``Settings.promql_for``)."""

    source = SourceName.PROMETHEUS

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        queries: Queries,
        step: str | None = None,
        max_points: int = 120,
        max_series: int = 5,
        ui_url: str | None = None,
    ) -> None:
        self._client = client
        self._queries = queries
        self._step = step
        self._max_points = max_points
        self._max_series = max_series
        self._ui = public_url(client, ui_url)

    def queries_for(self, service: str) -> Mapping[str, str]:
        return self._queries(service) if callable(self._queries) else self._queries

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        return await guarded(self.source, self._collect(request))

    async def _collect(self, request: InvestigationRequest) -> Collected:
        queries = self.queries_for(request.service)
        step = self._step or step_for(request.window_start, request.window_end,
                                      max_points=self._max_points)
        answers, failures = await gather_parts(
            {name: self._query(name, query, request, step=step) for name, query in queries.items()}
        )
        raise_if_nothing(answers, failures)
        evidence: list[Evidence] = []
        for name in queries:
            if name in SATURATION_QUERIES:
                continue
            for series in answers.get(name, [])[: self._max_series]:
                peak = _peak(series)
                evidence.append(
                    Evidence(
                        id=f"metrics-{len(evidence) + 1}",
                        source=EvidenceSource.METRICS,
                        detail=describe_series(series, service=request.service, ref=request.window_end),
                        at=peak[1] if peak else None,
                        link=self._link(series.query, request),
                        payload=series,
                    )
                )
        for name in queries:  # after every raw series, so their ids do not move when a fact appears
            for fact in facts_for(name, answers.get(name, []), ref=request.window_end)[: self._max_series]:
                evidence.append(
                    Evidence(
                        id=f"metrics-{len(evidence) + 1}",
                        source=EvidenceSource.METRICS,
                        detail=cut(fact.text, DETAIL_CHARS),
                        at=fact.at,
                        link=self._link(fact.series.query, request),
                        payload=fact.series,
                    )
                )
        return Collected(evidence=evidence, note=partial_note(failures, total=len(queries)))

    async def _query(
        self, name: str, query: str, request: InvestigationRequest, *, step: str
    ) -> list[MetricSeries]:
        params = {
            "query": query,
            "start": _unix_s(request.window_start),
            "end": _unix_s(request.window_end),
            "step": step,
        }
        response = await self._client.get(QUERY_PATH, params=params)
        if response.is_error:
            raise self._error(response)
        body = json_body(response, source=self.source)
        with parsing(self.source):
            if body.get("status") != "success":
                raise SourceError(source=self.source, reason=_api_error(body) or "status error")
            data = body["data"]
            if data["resultType"] != "matrix":
                raise ValueError(f"resultType {data['resultType']!r}, expected matrix")
            return [
                MetricSeries(
                    name=name,
                    query=query,
                    labels={k: str(v) for k, v in (item.get("metric") or {}).items() if k != "__name__"},
                    points=[(from_unix(float(ts)), float(value)) for ts, value in item["values"]],
                )
                for item in data["result"]
                if item.get("values")
            ]

    def _error(self, response: httpx.Response) -> UpstreamHTTPError:
        try:
            reason = _api_error(response.json())
        except ValueError:
            reason = None
        if reason:
            return UpstreamHTTPError(source=self.source, status_code=response.status_code, reason=reason)
        return http_error(response, source=self.source, detail=body_hint(response))

    def _link(self, query: str, request: InvestigationRequest) -> str:
        minutes = max(1, math.ceil((request.window_end - request.window_start).total_seconds() / 60))
        params = {
            "g0.expr": query,
            "g0.tab": "0",
            "g0.range_input": f"{minutes}m",
            "g0.end_input": as_utc(request.window_end).strftime("%Y-%m-%d %H:%M:%S"),
        }
        return f"{self._ui}/graph?{urlencode(params)}"


def step_for(start: datetime, end: datetime, *, max_points: int = 120) -> str:
    """A step (``"30s"``) that keeps a range query at or under ``max_points`` points."""
    seconds = max((end - start).total_seconds(), 0.0)
    return f"{max(MIN_STEP_S, math.ceil(seconds / max(max_points - 1, 1)))}s"


def describe_series(series: MetricSeries, *, service: str, ref: datetime | None = None) -> str:
    """``p99_latency (service=checkout): 0.182 → 8.4 (baseline median 0.195, peak 8.4 at 03:42Z)``.
    The baseline is the median of the finite values in the first half of the window."""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(series.labels.items())) or f"service={service}"
    head = f"{series.name} ({labels})"
    usable = [(at, v) for at, v in series.points if not math.isnan(v)]
    if not usable:
        return cut(f"{head}: no numeric values ({len(series.points)} points)", DETAIL_CHARS)
    early = [v for _, v in series.points[: math.ceil(len(series.points) / 2)] if math.isfinite(v)]
    baseline = fmt(statistics.median(early)) if early else "n/a"
    peak_at, peak = max(usable, key=lambda p: p[1])
    text = (
        f"{head}: {fmt(series.points[0][1])} → {fmt(series.points[-1][1])} "
        f"(baseline median {baseline}, peak {fmt(peak)} at {clock(peak_at, ref=ref, seconds=False)})"
    )
    if transient_peak(series) is not None:
        text += "; transient: the peak was short and it is back at baseline"
    return cut(text, DETAIL_CHARS)


def fmt(value: float) -> str:
    """3 significant digits, SI suffix for large numbers; ``NaN``/``+Inf`` as Prometheus writes them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= factor:
            scaled = value / (1e3 if suffix == "k" else factor)
            return f"{scaled:.3g}{suffix}"
    return f"{value:.3g}"


def _peak(series: MetricSeries) -> tuple[float, datetime] | None:
    usable = [(v, at) for at, v in series.points if not math.isnan(v)]
    return max(usable, key=lambda p: p[0]) if usable else None


def _api_error(body: object) -> str | None:
    if isinstance(body, dict) and body.get("status") == "error":
        return f"{body.get('errorType') or 'error'}: {body.get('error') or ''}".strip()
    return None


def _unix_s(moment: datetime) -> str:
    return f"{as_utc(moment).timestamp():.3f}"
