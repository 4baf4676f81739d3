"""The demo's other scenarios, each a ``Scenario`` subclass on its own service, served beside
``bad_deploy`` (checkout) by one ``ScenarioFeed``. Times are relative to ``now`` like the base story.

    memory_leak         cart: memory climbs to its limit (a session cache without eviction), the pods
                        are OOMKilled and restart; no deploy for a day. A rollout restart heals it.
                        Its HPA scales on memory, so it sits at its maximum (6/6) once the leak bites:
                        more pods do not help a leak.
    dependency_failure  orders: 503s because payments refuses connections; orders itself has not
                        changed, its traces end in a failing ``payments`` span. Not orders' fault.
    false_alarm         search: p99 spiked for under a minute at the onset and is back at baseline; no
                        error lines, healthy traces, no deploy. Nothing to do but tune the alert.

``all_stories()`` is what ``sitrep demo`` serves: there ``bad_deploy``'s checkout tracks a branch
(``DEMO_ARGOCD_SHAPES``), so its deploys are told apart by sha, not by tag.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

from bot.sandbox.scenario import METRICS, MINUTE, LogEntry, MetricShape, Scenario

GIB = 1024**3


def _shapes(**changed: MetricShape) -> dict[str, MetricShape]:
    return {**METRICS, **changed}


@dataclass(frozen=True)
class _Story(Scenario):
    """Helpers the stories share: a log line emitter and a small trace builder."""

    #: (operation, downstream service, downstream operation) of the request path the traces show
    path: ClassVar[tuple[str, str, str]] = ("GET /", "db", "SELECT")

    def _emit(self, entries: list[LogEntry], at: float, pod: str, fields: dict[str, Any]) -> None:
        moment = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = json.dumps({"ts": moment, **fields}, separators=(",", ":"))
        labels = (("container", "app"), ("level", str(fields["level"])), ("namespace", self.namespace),
                  ("pod", pod), ("service", self.service))
        entries.append(LogEntry(labels, int(round(at * 1000)) * 1_000_000, line))

    def _pods(self) -> tuple[str, str]:
        return (f"{self.service}-5b7c9d8e6-h4j5k", f"{self.service}-5b7c9d8e6-t6y7u")

    def _emit_raw(self, entries: list[LogEntry], at: float, pod: str, line: str, *, detected: str,
                  container: str = "app", step_us: int = 0) -> None:
        """A non-JSON line as Loki 3 stores it: no ``level`` label, its ``detected_level`` guessed
        per line (a traceback's frames are ``unknown``, so one traceback spans several streams)."""
        labels = (("container", container), ("detected_level", detected), ("namespace", self.namespace),
                  ("pod", pod), ("service", self.service))
        entries.append(LogEntry(labels, int(round(at * 1000)) * 1_000_000 + step_us * 1000, line))

    def _two_span_trace(self, rng: random.Random, *, at: float, failed: bool, downstream_ms: int,
               error: str = "") -> dict[str, Any]:
        trace_id = f"{rng.getrandbits(128):032x}"
        start = int(at * 1_000_000)
        root_id, child_id = f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"
        operation, downstream, downstream_op = self.path

        def tag(key: str, value: Any) -> dict[str, Any]:
            kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
            return {"key": key, "type": kind, "value": value}

        root_tags = [tag("span.kind", "server"), tag("http.status_code", 503 if failed else 200)]
        child_tags = [tag("span.kind", "server")]
        logs: list[dict[str, Any]] = []
        if failed:
            root_tags.append(tag("error", True))
            child_tags.append(tag("error", True))
            logs = [{"timestamp": start + 2000 + downstream_ms * 1000,
                     "fields": [tag("event", "error"), tag("message", error)]}]
        spans = [
            {"traceID": trace_id, "spanID": root_id, "operationName": operation, "references": [],
             "startTime": start, "duration": (downstream_ms + 40) * 1000, "tags": root_tags, "logs": [],
             "processID": "p1", "warnings": None, "flags": 1},
            {"traceID": trace_id, "spanID": child_id, "operationName": downstream_op,
             "references": [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": root_id}],
             "startTime": start + 2000, "duration": downstream_ms * 1000, "tags": child_tags,
             "logs": logs, "processID": "p2", "warnings": None, "flags": 1},
        ]
        return {"traceID": trace_id, "spans": spans, "warnings": None, "processes": {
            "p1": {"serviceName": self.service, "tags": [tag("hostname", self._pods()[0])]},
            "p2": {"serviceName": downstream, "tags": [tag("hostname", f"{downstream}-0")]}}}

    @property
    def jaeger_services(self) -> list[str]:
        return sorted({self.service, self.path[1]})


@dataclass(frozen=True)
class MemoryLeak(_Story):
    """cart leaks memory: flat at 0.55 GiB, then a straight climb over 12 minutes to near the 2 GiB
    limit; the pods are OOMKilled after the alert's onset."""

    alert_name: ClassVar[str] = "KubePodMemoryNearLimit"
    alert_summary: ClassVar[str] = "{service} memory above 90% of its limit"
    severity: ClassVar[str] = "warning"
    deployed_recently: ClassVar[bool] = False
    shapes: ClassVar[dict[str, MetricShape]] = _shapes(
        request_rate=MetricShape(30.0, 29.0, 0.04),
        p99_latency=MetricShape(0.15, 0.9, 0.03),
        error_ratio=MetricShape(0.001, 0.006, 0.08),
        error_rate=MetricShape(0.03, 0.17, 0.08),
        restarts=MetricShape(0.0, 2.0, 0.0),
        cpu=MetricShape(0.3, 0.55, 0.04),
        oom_killed=MetricShape(0.0, 2.0, 0.0),  # restarts whose last termination was OOMKilled
        hpa_at_max=MetricShape(0.0, 6.0, 0.0),  # current replicas while at spec.maxReplicas
        cpu_throttling=MetricShape(0.03, 0.12, 0.1),  # GC works harder; not throttled enough to matter
    )
    path: ClassVar[tuple[str, str, str]] = ("GET /api/cart", "redis-cache", "GET session")
    #: the container's memory limit (``memory_vs_limit`` is the working set over it)
    memory_limit: ClassVar[float] = 2.0 * GIB

    name: str = "memory_leak"
    service: str = "cart"
    app: str = "cart"
    root_cause_service: str = "cart"
    failing_dependency: str = ""

    @property
    def leak_started(self) -> float:
        """The leak shows from 12 minutes ago (a traffic pattern started filling the cache)."""
        return self.now_s - 12 * MINUTE

    def metric_value(self, name: str, at: float) -> float:
        if name == "memory_vs_limit":
            return round(self.metric_value("memory", at) / self.memory_limit, 4)
        if name != "memory":
            return Scenario.metric_value(self, name, at)
        if self.recovered_at is not None and at >= self.recovered_at:
            return 0.55 * GIB + (at - self.recovered_at) * 0.2 * GIB / 3600  # leaking again, slowly
        climbed = max(0.0, min(1.0, (at - self.leak_started) / (self.now_s - self.leak_started)))
        return round(0.55 * GIB + climbed * 1.35 * GIB, 0)

    @cached_property
    def log_entries(self) -> list[LogEntry]:
        rng = random.Random(self.seed * 7 + 2)
        entries: list[LogEntry] = []
        pods = self._pods()
        t = self.now_s - self.history.total_seconds()
        while t < self.now_s:
            pod = pods[rng.randrange(2)]
            share = max(0.0, (t - self.leak_started) / (self.now_s - self.leak_started))
            self._emit(entries, t, pod, {"level": "info", "msg": "GET /api/cart 200", "status": 200,
                                         "duration_ms": rng.randint(40, 140)})
            if rng.random() < 0.25:
                cached = int(20_000 + share * 1_400_000)
                self._emit(entries, t + 0.5, pod, {"level": "warn", "msg": "session cache grew",
                                                   "entries": cached, "evictions": 0})
            if t >= self.onset_s and rng.random() < 0.5:
                self._emit(entries, t + 0.7, pod, {"level": "error", "msg": "GC pause exceeded 800ms",
                                                   "heap_bytes": int(1.85 * GIB), "limit_bytes": 2 * GIB})
            t += rng.uniform(8.0, 16.0) if t < self.onset_s else rng.uniform(2.0, 4.0)
        for i, pod in enumerate(pods):
            self._emit(entries, self.onset_s + 40 + i * 25, pod, {
                "level": "error", "msg": "container terminated", "reason": "OOMKilled", "exit_code": 137})
        entries.sort(key=lambda e: e.ts_ns)
        return entries

    @cached_property
    def jaeger_traces(self) -> list[dict[str, Any]]:
        rng = random.Random(self.seed * 7 + 3)
        return [self._two_span_trace(rng, at=self.now_s - 1800 + i * 180, failed=False,
                            downstream_ms=rng.randint(2, 6)) for i in range(10)]


@dataclass(frozen=True)
class DependencyFailure(_Story):
    """orders fails because payments refuses connections; orders' own deploys are days old."""

    alert_name: ClassVar[str] = "HighErrorRate"
    alert_summary: ClassVar[str] = "{service} 5xx ratio above 5%"
    deployed_recently: ClassVar[bool] = False
    shapes: ClassVar[dict[str, MetricShape]] = _shapes(
        request_rate=MetricShape(25.0, 24.0, 0.04),
        error_ratio=MetricShape(0.002, 0.31, 0.06),
        error_rate=MetricShape(0.05, 7.4, 0.06),
        p99_latency=MetricShape(0.25, 0.4, 0.03),
    )
    path: ClassVar[tuple[str, str, str]] = ("POST /api/orders", "payments", "POST /v1/charges")

    #: orders' gunicorn worker when a charge fails unhandled: one Loki entry per line, Python 3.11
    traceback: ClassVar[tuple[tuple[str, str], ...]] = (
        ("error", "[{ts} +0000] [12] [ERROR] Error handling request /api/orders"),
        ("unknown", "Traceback (most recent call last):"),
        ("unknown", '  File "/usr/local/lib/python3.11/site-packages/httpx/_transports/default.py", line 69, '
                    "in map_httpcore_exceptions"),
        ("unknown", "    yield"),
        ("unknown", '  File "/usr/local/lib/python3.11/site-packages/httpcore/_sync/connection.py", line 124, '
                    "in _connect"),
        ("unknown", "    stream = self._network_backend.connect_tcp(**kwargs)"),
        ("unknown", "             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"),
        ("error", "httpx.ConnectError: [Errno 111] Connection refused"),
        ("unknown", ""),
        ("unknown", "The above exception was the direct cause of the following exception:"),
        ("unknown", ""),
        ("unknown", "Traceback (most recent call last):"),
        ("unknown", '  File "/app/orders/api.py", line 88, in create_order'),
        ("unknown", "    charge = gateway.authorize(order)"),
        ("unknown", "             ^^^^^^^^^^^^^^^^^^^^^^^^"),
        ("unknown", '  File "/app/orders/gateway.py", line 41, in authorize'),
        ("unknown", "    raise ChargeUnavailable(self.name, exc) from exc"),
        ("error", "orders.gateway.ChargeUnavailable: payments connection refused (POST /v1/charges)"),
    )

    name: str = "dependency_failure"
    service: str = "orders"
    app: str = "orders"
    root_cause_service: str = "payments"
    failing_dependency: str = "payments"

    @cached_property
    def log_entries(self) -> list[LogEntry]:
        rng = random.Random(self.seed * 11 + 2)
        entries: list[LogEntry] = []
        pods = self._pods()
        t = self.now_s - self.history.total_seconds()
        while t < self.now_s:
            pod = pods[rng.randrange(2)]
            if t < self.onset_s or rng.random() < 0.65:
                self._emit(entries, t, pod, {"level": "info", "msg": "POST /api/orders 201", "status": 201,
                                             "duration_ms": rng.randint(90, 240)})
            else:
                self._emit(entries, t, pod, {
                    "level": "error", "msg": "payment authorization failed", "upstream": "payments",
                    "error": "dial tcp 10.42.7.12:8443: connect: connection refused", "status": 503})
                if rng.random() < 0.15:  # now and then the failure escapes the handler: a traceback
                    stamp = datetime.fromtimestamp(t + 0.2, UTC).strftime("%Y-%m-%d %H:%M:%S")
                    for i, (detected, line) in enumerate(self.traceback):
                        self._emit_raw(entries, t + 0.2, pod, line.format(ts=stamp), detected=detected, step_us=i * 20)
            t += rng.uniform(8.0, 14.0) if t < self.onset_s else rng.uniform(1.0, 2.0)
        self._sidecars(entries, pods)
        entries.sort(key=lambda e: e.ts_ns)
        return entries

    def _sidecars(self, entries: list[LogEntry], pods: tuple[str, str]) -> None:
        """orders' other writers, in their own formats: the outbox relay (Go, logfmt) beside the app,
        and the ledger sync job (Spring Boot) that also calls the payment provider."""
        rng = random.Random(self.seed * 11 + 5)
        start = self.now_s - self.history.total_seconds()

        def clock(at: float, fmt: str) -> str:
            return datetime.fromtimestamp(at, UTC).strftime(fmt)

        for pod in pods:
            self._emit_raw(entries, start + 1, pod, f"ts={clock(start + 1, '%Y-%m-%dT%H:%M:%S.000Z')} level=info "
                           'msg="starting outbox relay" version=1.8.2 batch_size=50 poll_interval=2s',
                           detected="info", container="outbox")
        t = start + 30
        while t < self.now_s:
            pod = pods[rng.randrange(2)]
            stamp = clock(t, "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            if t < self.onset_s:
                level, rest = "info", f'msg="published batch" events={rng.randint(3, 40)} lag_ms={rng.randint(5, 90)}'
            else:
                level, rest = "warn", f'msg="publish deferred" reason="order not confirmed" order=ord_{rng.randint(100000, 999999)}'
            self._emit_raw(entries, t, pod, f"ts={stamp} level={level} {rest}", detected=level, container="outbox")
            t += rng.uniform(20.0, 40.0)
        sync = f"{self.service}-sync-7f6d5c4b3-zq8mn"
        t = self.onset_s + 15
        while t < self.now_s:
            stamp = clock(t, "%Y-%m-%d %H:%M:%S") + f".{rng.randint(0, 999):03d}"
            self._emit_raw(entries, t, sync, f"{stamp}  WARN 1 --- [   scheduling-1] c.e.orders.sync.LedgerSync       "
                           "        : ledger sync skipped: payments connection refused, retry in 30s",
                           detected="warn", container="sync")
            t += 30.0

    @cached_property
    def jaeger_traces(self) -> list[dict[str, Any]]:
        rng = random.Random(self.seed * 11 + 3)
        healthy = [self._two_span_trace(rng, at=self.onset_s - 300 + i * 90, failed=False,
                               downstream_ms=rng.randint(60, 140)) for i in range(3)]
        failing = [self._two_span_trace(rng, at=self.onset_s + 10 + i * 20, failed=True, downstream_ms=rng.randint(1, 3),
                               error="connect: connection refused") for i in range(7)]
        return healthy + failing


@dataclass(frozen=True)
class FalseAlarm(_Story):
    """search: one short p99 spike tripped a ``for: 0s`` alert; everything is at baseline now."""

    alert_name: ClassVar[str] = "HighLatencyP99"
    severity: ClassVar[str] = "warning"
    deployed_recently: ClassVar[bool] = False
    shapes: ClassVar[dict[str, MetricShape]] = _shapes(
        request_rate=MetricShape(18.0, 18.0, 0.04),
        p99_latency=MetricShape(0.3, 0.3, 0.03),
        error_ratio=MetricShape(0.001, 0.001, 0.08),
        error_rate=MetricShape(0.018, 0.018, 0.08),
    )
    path: ClassVar[tuple[str, str, str]] = ("GET /api/search", "elasticsearch", "POST /products/_search")

    name: str = "false_alarm"
    service: str = "search"
    app: str = "search"
    root_cause_service: str = "search"
    failing_dependency: str = ""

    @property
    def onset(self) -> datetime:
        return self.now - timedelta(minutes=2)

    def metric_value(self, name: str, at: float) -> float:
        if name == "p99_latency" and self.onset_s <= at < self.onset_s + 45:
            return 2.4  # the spike that fired the alert
        return Scenario.metric_value(self, name, at)

    @cached_property
    def log_entries(self) -> list[LogEntry]:
        rng = random.Random(self.seed * 13 + 2)
        entries: list[LogEntry] = []
        pods = self._pods()
        t = self.now_s - self.history.total_seconds()
        while t < self.now_s:
            self._emit(entries, t, pods[rng.randrange(2)], {
                "level": "info", "msg": "GET /api/search 200", "status": 200, "hits": rng.randint(0, 80),
                "duration_ms": rng.randint(30, 260)})
            t += rng.uniform(6.0, 12.0)
        entries.sort(key=lambda e: e.ts_ns)
        return entries

    @cached_property
    def jaeger_traces(self) -> list[dict[str, Any]]:
        rng = random.Random(self.seed * 13 + 3)
        return [self._two_span_trace(rng, at=self.now_s - 1500 + i * 150, failed=False,
                            downstream_ms=rng.randint(20, 90)) for i in range(10)]


#: every built-in scenario by name, in the order the demo offers them
STORIES: dict[str, type[Scenario]] = {
    "bad_deploy": Scenario,
    "memory_leak": MemoryLeak,
    "dependency_failure": DependencyFailure,
    "false_alarm": FalseAlarm,
}


#: how the demo's ArgoCD apps track their source, by story (the rest: ``tag``). checkout tracks a
#: branch, as most GitOps apps do: its deploys differ only by sha, so the demo shows sha-based labels
#: and the manifests diff of the rollback.
DEMO_ARGOCD_SHAPES: dict[str, str] = {"bad_deploy": "branch"}


def all_stories(now: datetime | None = None) -> list[Scenario]:
    """One of each, ``bad_deploy`` first (the feed's ``current()``), in the demo's ArgoCD shapes."""
    stories: list[Scenario] = []
    for name, cls in STORIES.items():
        shape = DEMO_ARGOCD_SHAPES.get(name, "tag")
        stories.append(cls(argocd_shape=shape) if now is None else cls(now=now, argocd_shape=shape))
    return stories
