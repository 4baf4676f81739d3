"""Bench: parallel collection against four local fake upstreams over real HTTP.

    python bench/collect.py

Starts Loki, Prometheus, ArgoCD and Jaeger fakes (uvicorn, 127.0.0.1, free ports) answering with the
fixture bodies after 300/450/600/800 ms, builds the real collectors with ``build_collectors`` and runs
``gather_sources``:

1. 20 runs, all answering: wall time / slowest single source ≤ 1.15 (mean and max).
2. 3 runs with ArgoCD hanging, per-source budget 1.5 s (smaller than the 4 s default to keep the
   bench short): wall time ≤ budget + 100 ms, the other sources still OK.

Prints figures and PASS/FAIL per target; exits 0 unless it crashes.
"""

from __future__ import annotations

import asyncio
import socket
import re
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from bot.collectors.factory import build_collectors  # noqa: E402
from bot.collectors.gather import gather_sources  # noqa: E402
from bot.models import InvestigationRequest, SourceName, SourceResult, SourceStatus  # noqa: E402
from bot.settings import Settings  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "upstream"
DELAYS = {SourceName.LOKI: 0.300, SourceName.PROMETHEUS: 0.450, SourceName.ARGOCD: 0.600, SourceName.JAEGER: 0.800,
          SourceName.KUBERNETES: 0.350}
BODIES = {
    SourceName.LOKI: "loki/query_range_streams.json",
    SourceName.PROMETHEUS: "prometheus/query_range_matrix.json",
    SourceName.ARGOCD: "argocd/application.json",
    SourceName.JAEGER: "jaeger/traces.json",
    SourceName.KUBERNETES: "kubernetes/events_list.json",
}


def body_of(source: SourceName) -> bytes:
    """The fixture body; the Kubernetes events are made checkout's and recent (the collector keeps
    only the service's events within the window)."""
    raw = (FIXTURES / BODIES[source]).read_bytes()
    if source is not SourceName.KUBERNETES:
        return raw
    recent = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = re.sub(r'"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"', f'"{recent}"', raw.decode())
    return text.replace("invoices", "checkout").replace('"billing"', '"default"').encode()
RUNS = 20
HANG_RUNS = 3
HANG_SOURCE = SourceName.ARGOCD
SOURCE_BUDGET = 1.5  # bench-only: the default is 4 s
TOTAL_BUDGET = 2.5
RATIO_TARGET = 1.15
HANG_SLACK = 0.100

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FakeUpstream:
    """An ASGI app answering every GET with one fixture body after ``delay`` (or never, if hanging)."""

    def __init__(self, body: bytes, *, delay: float) -> None:
        self.body = body
        self.delay = delay
        self.hang = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self.hang:  # until released (end of the hang case), so shutdown stays clean
            while self.hang:
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(self.delay)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class Upstreams:
    """The five fakes, served by uvicorn in one background thread."""

    def __init__(self) -> None:
        self.apps = {s: FakeUpstream(body_of(s), delay=DELAYS[s]) for s in SourceName}
        self.sockets = {s: _bound_socket() for s in SourceName}
        self.servers = [
            uvicorn.Server(uvicorn.Config(self.apps[s], lifespan="off", log_level="warning",
                                          access_log=False, timeout_graceful_shutdown=1))
            for s in SourceName
        ]
        self.thread = threading.Thread(target=self._run, name="fake-upstreams", daemon=True)

    def url(self, source: SourceName) -> str:
        return f"http://127.0.0.1:{self.sockets[source].getsockname()[1]}"

    def _run(self) -> None:
        async def main() -> None:
            await asyncio.gather(*(srv.serve(sockets=[self.sockets[s]]) for srv, s in zip(self.servers, SourceName)))

        asyncio.run(main())

    def __enter__(self) -> Upstreams:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not all(srv.started for srv in self.servers):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("fake upstreams did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        for srv in self.servers:
            srv.should_exit = True
        self.thread.join(timeout=5)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle + delayed ACK add ~40 ms
    sock.bind(("127.0.0.1", 0))
    return sock


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


async def run_once(collectors: Any, request: InvestigationRequest) -> tuple[float, list[SourceResult]]:
    started = time.perf_counter()
    results = await gather_sources(collectors, request, source_budget=SOURCE_BUDGET, total_budget=TOTAL_BUDGET)
    return time.perf_counter() - started, results


async def bench(upstreams: Upstreams) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        loki_url=upstreams.url(SourceName.LOKI),
        prometheus_url=upstreams.url(SourceName.PROMETHEUS),
        argocd_url=upstreams.url(SourceName.ARGOCD),
        argocd_token=SecretStr("bench-token"),
        jaeger_url=upstreams.url(SourceName.JAEGER),
        kubernetes_api_url=upstreams.url(SourceName.KUBERNETES),
        kubernetes_token=SecretStr("bench-token"),
        sitrep_source_timeout=SOURCE_BUDGET,
    )
    request = InvestigationRequest.for_last("checkout", since=timedelta(minutes=30))
    async with build_collectors(settings) as collector_set:
        collectors = collector_set.collectors
        await run_once(collectors, request)  # warm-up: opens the keep-alive connections

        ratios, walls, bad = [], [], 0
        per_source: dict[SourceName, list[float]] = {s: [] for s in SourceName}
        for _ in range(RUNS):
            wall, results = await run_once(collectors, request)
            slowest = max(r.elapsed_s for r in results)
            ratios.append(wall / slowest)
            walls.append(wall)
            bad += sum(r.status is not SourceStatus.OK for r in results)
            for r in results:
                per_source[r.source].append(r.elapsed_s)
        print(f"1) all sources answering — {RUNS} runs (after one warm-up), source delays "
              + ", ".join(f"{s.label} {int(d * 1000)} ms" for s, d in DELAYS.items()))
        for source, values in per_source.items():
            print(f"   {source.label:<11} mean {statistics.mean(values) * 1000:7.1f} ms")
        print(f"   wall       mean {statistics.mean(walls) * 1000:7.1f} ms, max {max(walls) * 1000:.1f} ms "
              f"(sum of delays {sum(DELAYS.values()) * 1000:.0f} ms)")
        print(f"   non-OK results: {bad}")
        mean_ratio, max_ratio = statistics.mean(ratios), max(ratios)
        print(f"   wall / slowest source: mean {mean_ratio:.3f}  [{verdict(mean_ratio <= RATIO_TARGET)} ≤ {RATIO_TARGET}]")
        print(f"   wall / slowest source: max  {max_ratio:.3f}  [{verdict(max_ratio <= RATIO_TARGET)} ≤ {RATIO_TARGET}]")
        print(f"   wall / slowest delay (800 ms): mean {statistics.mean(walls) / max(DELAYS.values()):.3f} (info)")

        upstreams.apps[HANG_SOURCE].hang = True
        print(f"\n2) {HANG_SOURCE.label} hanging — {HANG_RUNS} runs, per-source budget {SOURCE_BUDGET} s "
              f"(bench value; default 4 s), total budget {TOTAL_BUDGET} s")
        hang_walls = []
        for i in range(HANG_RUNS):
            wall, results = await run_once(collectors, request)
            hang_walls.append(wall)
            statuses = ", ".join(f"{r.source.label} {r.status.value}" for r in results)
            print(f"   run {i + 1}: wall {wall * 1000:7.1f} ms — {statuses}")
            others_ok = all(r.status is SourceStatus.OK for r in results if r.source is not HANG_SOURCE)
            hung = next(r for r in results if r.source is HANG_SOURCE)
            if not others_ok or hung.status is not SourceStatus.TIMEOUT:
                print("   unexpected statuses  [FAIL]")
        limit = SOURCE_BUDGET + HANG_SLACK
        print(f"   wall max {max(hang_walls) * 1000:.1f} ms vs budget + 100 ms = {limit * 1000:.0f} ms  "
              f"[{verdict(max(hang_walls) <= limit)}]")
        upstreams.apps[HANG_SOURCE].hang = False


def main() -> int:
    started = time.perf_counter()
    with Upstreams() as upstreams:
        asyncio.run(bench(upstreams))
    print(f"\nbench finished in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
