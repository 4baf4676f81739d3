"""The incident's key series as one PNG, readable on a phone: baseline vs now, onset and deploys marked.

At most two panels: the series whose onset came first (the symptom), then the other of p99 latency /
error ratio when it has data. Each panel shows the series, its baseline (median before the onset) as a
dashed line, the onset as a red line and every deploy in the window as a labelled grey line; units on
the axis, large fonts, few lines. matplotlib's object API on the Agg canvas (no pyplot, no global state): no display needed, safe to
render from worker threads.
``incident_chart`` returns None when Prometheus gave no finite points.
matplotlib (~0.5 s to import) is imported by the first chart, in the worker thread that renders it,
not when the web app starts.
"""

from __future__ import annotations

import io
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.analyst.signals import METRIC_LABEL, metric_onsets
from bot.collectors.base import as_utc
from bot.models import Deploy, Evidence, MetricSeries, SourceResult

if TYPE_CHECKING:
    from matplotlib.ticker import FuncFormatter

#: panels after the symptom's own, in order of interest
PREFERRED = ("p99_latency", "error_ratio", "memory", "request_rate")
MAX_PANELS = 2
WIDTH_IN, PANEL_HEIGHT_IN, DPI = 8.0, 3.4, 100  # 800 px wide: a phone shows it without zooming
TITLE_PT, LABEL_PT, TICK_PT, NOTE_PT = 17, 14, 13, 12


@dataclass(frozen=True, slots=True)
class Chart:
    png: bytes
    filename: str
    title: str
    metrics: tuple[str, ...]


def _unit(metric: str) -> tuple[str, FuncFormatter]:
    from matplotlib.ticker import FuncFormatter

    if metric == "p99_latency":
        return "latency", FuncFormatter(lambda v, _: f"{v * 1000:.0f} ms" if abs(v) < 1 else f"{v:.1f} s")
    if metric == "error_ratio":
        return "errors", FuncFormatter(lambda v, _: f"{v * 100:.0f}%" if v >= 0.1 else f"{v * 100:.1f}%")
    if metric == "memory":
        return "working set", FuncFormatter(lambda v, _: f"{v / 1024**3:.1f} GiB" if v >= 1024**3 else f"{v / 1024**2:.0f} MiB")
    if metric == "cpu":
        return "cores", FuncFormatter(lambda v, _: f"{v:.2f}")
    if metric == "request_rate":
        return "requests/s", FuncFormatter(lambda v, _: f"{v:.0f}/s")
    return "", FuncFormatter(lambda v, _: f"{v:g}")


def _series(results: Sequence[SourceResult]) -> list[tuple[Evidence, MetricSeries]]:
    found = []
    for result in results:
        for item in result.evidence:
            payload = item.payload
            if isinstance(payload, MetricSeries) and any(math.isfinite(v) for _, v in payload.points):
                found.append((item, payload))
    return found


def _pick(series: list[tuple[Evidence, MetricSeries]], evidence: list[Evidence]
          ) -> list[tuple[MetricSeries, datetime | None]]:
    """(series, its onset) for each panel: the earliest symptom first, then the preferred others."""
    onsets = {o.evidence_id: o.at for o in metric_onsets(evidence)}
    chosen: list[tuple[MetricSeries, datetime | None]] = []
    if onsets:
        first = min(onsets, key=lambda i: onsets[i])
        chosen += [(s, onsets[first]) for item, s in series if item.id == first][:1]
    for name in PREFERRED:
        for item, s in series:
            if s.name == name and len(chosen) < MAX_PANELS and all(c[0].name != name for c in chosen):
                chosen.append((s, onsets.get(item.id)))
    return chosen or [(series[0][1], onsets.get(series[0][0].id))]


def incident_chart(results: Sequence[SourceResult], *, service: str, incident_id: int | None = None) -> Chart | None:
    """The PNG of the incident's key series, or None when no metric has data."""
    series = _series(results)
    if not series:
        return None
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    evidence = [item for r in results for item in r.evidence]
    panels = _pick(series, evidence)
    deploys = [item.payload for item in evidence if isinstance(item.payload, Deploy)]
    onset = min((at for _, at in panels if at is not None), default=None)

    fig = Figure(figsize=(WIDTH_IN, PANEL_HEIGHT_IN * len(panels)), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)
    start = min(as_utc(p[0]) for s, _ in panels for p in s.points)
    end = max(as_utc(p[0]) for s, _ in panels for p in s.points)
    for ax, (s, series_onset) in zip(axes[:, 0], panels, strict=True):
        points = [(as_utc(at), v) for at, v in s.points if math.isfinite(v)]
        times, values = [p[0] for p in points], [p[1] for p in points]
        ax.plot(times, values, color="#1264a3", linewidth=2.5, label="now")
        cut = series_onset or times[len(times) // 2]
        baseline = statistics.median([v for t, v in points if t < cut] or values[:1])
        ax.axhline(baseline, color="#2eb67d", linestyle="--", linewidth=2, label="baseline")
        unit, formatter = _unit(s.name)
        ax.yaxis.set_major_formatter(formatter)
        ax.set_ylabel(unit, fontsize=LABEL_PT)
        ax.set_title(f"{service}: {METRIC_LABEL.get(s.name, s.name)}", loc="left", fontsize=TITLE_PT)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=TICK_PT)
        ax.grid(axis="y", alpha=0.3)
        if onset is not None:
            ax.axvline(onset, color="#e01e5a", linewidth=2.5, label=f"onset {onset:%H:%M}")
        for deploy in deploys:
            at = as_utc(deploy.deployed_at)
            if start <= at <= end:
                ax.axvline(at, color="#616061", linestyle=":", linewidth=2)
                ax.annotate(f"deploy {deploy.display_label}", xy=(at, 0.5),
                            xycoords=("data", "axes fraction"), xytext=(-6, 0), textcoords="offset points",
                            ha="right", va="center", fontsize=NOTE_PT, color="#616061")
        ax.legend(loc="upper left", frameon=False, fontsize=NOTE_PT)
    bottom = axes[-1, 0]
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=start.tzinfo))
    bottom.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
    bottom.set_xlabel("UTC", fontsize=LABEL_PT)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    names = tuple(s.name for s, _ in panels)
    label = f"incident-{incident_id}" if incident_id is not None else service
    return Chart(png=buffer.getvalue(), filename=f"{label}-{'-'.join(names)}.png".replace("_", "-"),
                 title=f"{service}: {', '.join(METRIC_LABEL.get(n, n) for n in names)} — baseline vs now",
                 metrics=names)
