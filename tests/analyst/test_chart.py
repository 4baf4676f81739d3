"""The incident chart: a phone-readable PNG of the symptom with the onset and the deploys marked."""

from __future__ import annotations

import struct
from pathlib import Path

from bot.analyst.chart import incident_chart
from bot.models import SourceName, SourceStatus
from tests.analyst import scenario
from tests.analyst.scenario import missing


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def test_the_scenario_chart_is_a_readable_png(tmp_path: Path) -> None:
    chart = incident_chart(scenario.checkout_results(), service="checkout", incident_id=7)
    assert chart is not None
    path = tmp_path / chart.filename
    path.write_bytes(chart.png)
    assert path.stat().st_size > 20_000
    width, height = png_size(chart.png)
    assert (width, height) == (800, 680)  # two panels, 800 px wide: no zooming on a phone
    assert chart.metrics == ("p99_latency", "error_ratio")  # the symptom first
    assert chart.filename == "incident-7-p99-latency-error-ratio.png"
    assert "checkout" in chart.title and "baseline" in chart.title


def test_one_series_gives_one_panel() -> None:
    results = scenario.checkout_results()
    prometheus = next(r for r in results if r.source is SourceName.PROMETHEUS)
    prometheus.evidence = [e for e in prometheus.evidence if e.id == "metrics-3"]  # request rate only
    chart = incident_chart(results, service="checkout")
    assert chart is not None and chart.metrics == ("request_rate",)
    assert png_size(chart.png) == (800, 340)


def test_no_metric_data_means_no_chart() -> None:
    results = [r for r in scenario.checkout_results() if r.source is not SourceName.PROMETHEUS]
    assert incident_chart(results, service="checkout") is None
    results.append(missing(SourceName.PROMETHEUS, SourceStatus.TIMEOUT))
    assert incident_chart(results, service="checkout") is None
