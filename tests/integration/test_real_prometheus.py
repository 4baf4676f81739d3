"""The Prometheus collector and the rule-based onset detection against a real Prometheus (2.42,
Debian's ``prometheus`` and ``promtool``), with a bad-deploy scenario backfilled by
``promtool tsdb create-blocks-from openmetrics`` before the server starts (blocks are only
loaded at start-up). No scrape targets: the server serves only the backfilled hour."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.analyst.signals import metric_onsets
from bot.collectors.factory import build_collectors
from bot.collectors.prometheus import PrometheusCollector
from bot.models import InvestigationRequest, MetricSeries, SourceName, SourceResult, SourceStatus
from bot.settings import Settings
from tests.integration.openmetrics import (
    EXPECTED_P99_AFTER,
    EXPECTED_P99_BEFORE,
    NAMESPACE,
    SERVICE,
    Scenario,
    bad_deploy,
)
from tests.support import free_port

READY_TIMEOUT_S = 30.0
#: the last sample this far before now: the window is entirely in the past
DATA_END_AGO = timedelta(minutes=3)
#: error_ratio is a ratio of 5m rates: at 12 % errors after a 0.1 % baseline it passes the 5 %
#: onset floor only once ~41 % of the 5m window is past the deploy (~2 min), plus up to one step
ERROR_RATIO_LAG = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class RealPrometheus:
    url: str
    scenario: Scenario


def _tools() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    reason = "needs `prometheus` and `promtool` on PATH (apt-get install prometheus)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real-Prometheus tests: {reason}")
    pytest.skip(reason)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"prometheus exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"prometheus not ready after {READY_TIMEOUT_S:.0f} s:\n"
                        f"{log_path.read_text(errors='replace')}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    prometheus_bin, promtool_bin = _tools()
    workdir = tmp_path_factory.mktemp("prometheus")
    scenario = bad_deploy(datetime.now(UTC) - DATA_END_AGO)
    openmetrics = workdir / "bad-deploy.om"
    openmetrics.write_text(scenario.text)
    datadir = workdir / "data"
    backfill = subprocess.run(
        [promtool_bin, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(datadir)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if backfill.returncode != 0:
        pytest.fail(f"promtool backfill failed ({backfill.returncode}):\n{backfill.stdout}\n{backfill.stderr}")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={datadir}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=30d",
                # 2.42 loads overlapping/backfilled blocks by default (the old
                # --storage.tsdb.allow-overlapping-blocks flag is gone)
            ],
            cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(proc, url, log_path)
        yield RealPrometheus(url=url, scenario=scenario)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _request(scenario: Scenario, service: str = SERVICE) -> InvestigationRequest:
    """The last hour, as an alert would ask for it, moved to end at the data's last sample."""
    request = InvestigationRequest.for_last(service, since=timedelta(minutes=60), namespace=NAMESPACE)
    return request.model_copy(update={"window_start": scenario.start, "window_end": scenario.end})


async def _collect(prom: RealPrometheus, service: str = SERVICE) -> SourceResult:
    settings = Settings(_env_file=None, prometheus_url=prom.url)  # type: ignore[call-arg]
    async with build_collectors(settings) as collector_set:
        collector = collector_set.collectors[SourceName.PROMETHEUS]
        assert isinstance(collector, PrometheusCollector)
        return await collector.collect(_request(prom.scenario, service))


def _series(result: SourceResult, name: str) -> MetricSeries:
    found = [e.payload for e in result.evidence if isinstance(e.payload, MetricSeries) and e.payload.name == name]
    assert len(found) == 1, f"{name}: {[e.detail for e in result.evidence]}"
    return found[0]


async def test_collects_the_bad_deploy_from_real_prometheus(prometheus: RealPrometheus) -> None:
    result = await _collect(prometheus)

    assert result.status is SourceStatus.OK, result.error
    assert result.error is None
    assert {e.payload.name for e in result.evidence if isinstance(e.payload, MetricSeries)} == {
        "request_rate", "error_ratio", "p99_latency", "cpu", "memory",  # no restarts metric
    }
    onset = prometheus.scenario.onset
    p99 = _series(result, "p99_latency")
    assert len(p99.points) > 60
    assert all(prometheus.scenario.start <= at <= prometheus.scenario.end for at, _ in p99.points)
    early = [v for at, v in p99.points if at < onset - timedelta(minutes=1)]
    late = [v for at, v in p99.points if at > onset + timedelta(minutes=5)]
    assert early and late
    assert all(0.1 < v < 0.5 for v in early), early
    assert all(4 < v < 10 for v in late), late
    assert abs(early[-1] - EXPECTED_P99_BEFORE) < 0.05
    assert abs(late[-1] - EXPECTED_P99_AFTER) < 0.5

    errors = _series(result, "error_ratio")
    assert all(v < 0.005 for at, v in errors.points if at < onset)
    assert all(0.1 < v < 0.14 for at, v in errors.points if at > onset + timedelta(minutes=5))
    # rate() over the first 5 minutes only sees part of a window (series start): skip those
    settled = prometheus.scenario.start + timedelta(minutes=5)
    assert all(41 < v < 43 for at, v in _series(result, "request_rate").points if at >= settled)
    assert all(abs(v - 0.35) < 0.01 for at, v in _series(result, "cpu").points if at >= settled)
    assert all(500 * 2**20 < v < 520 * 2**20 for _, v in _series(result, "memory").points)


async def test_onsets_found_near_the_deploy(prometheus: RealPrometheus) -> None:
    result = await _collect(prometheus)

    onsets = {o.metric: o for o in metric_onsets(result.evidence)}

    assert set(onsets) == {"p99_latency", "error_ratio"}  # flat memory is no onset
    deploy = prometheus.scenario.onset
    window = timedelta(minutes=2)
    assert deploy - window <= onsets["p99_latency"].at <= deploy + window, onsets["p99_latency"]
    assert onsets["p99_latency"].baseline < 0.5 and onsets["p99_latency"].peak > 4
    assert deploy <= onsets["error_ratio"].at <= deploy + ERROR_RATIO_LAG, onsets["error_ratio"]
    assert onsets["error_ratio"].baseline < 0.005 and onsets["error_ratio"].peak > 0.1


async def test_service_without_data_is_no_data(prometheus: RealPrometheus) -> None:
    result = await _collect(prometheus, service="payments")

    assert result.status is SourceStatus.NO_DATA
    assert result.evidence == [] and result.error is None


async def test_malformed_promql_is_an_error_with_prometheus_reason(prometheus: RealPrometheus) -> None:
    async with httpx.AsyncClient(base_url=prometheus.url, timeout=5) as client:
        collector = PrometheusCollector(client, queries={"bad": "sum(rate(http_requests_total[5m]"})
        result = await collector.collect(_request(prometheus.scenario))

    assert result.status is SourceStatus.ERROR
    assert result.error is not None
    # Prometheus's 400 body, errorType and error as it wrote them
    assert result.error == "bad_data: 1:33: parse error: unclosed left parenthesis"
