"""The built-in incident scenario, ``bad_deploy``, generated relative to ``now``.

The story (``../shared/fixtures/upstream/README.md``, shifted to now)::

    now-2 d     ArgoCD history 11  v2.14.1
    now-26 h    ArgoCD history 12  v2.14.2   previous healthy revision
    now-6 min   ArgoCD history 13  v2.14.3   by alice; pool orders-db max 10 (current, Degraded)
    now-3 min   onset: p99 0.2 s → 8.2 s, error ratio 0.1 % → 12 %; logs "timeout acquiring
                connection from pool" (orders-db) and "POST /api/checkout 503"; erroring traces
                POST /api/checkout → SELECT orders (orders-db, 5 s, error)

Everything is deterministic for a given ``seed`` and cheap (a few hundred log lines, ten traces,
metric values computed on demand). Timestamps are relative to ``now``: ``Scenario.at(t)`` is the same
story ending at ``t``. ``ScenarioFeed`` hands the fakes the scenario to serve: a fixed one (tests), or
one that follows the clock (``live=True``, the demo).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from collections.abc import Sequence
from typing import Any, ClassVar

from bot.models import utcnow

MINUTE = 60.0
HOUR = 3600.0

#: the named queries Sitrep runs (``bot.settings.DEFAULT_PROMQL``) and what each looks like
METRIC_NAMES = ("request_rate", "error_ratio", "p99_latency", "cpu", "memory", "restarts")


@dataclass(frozen=True, slots=True)
class MetricShape:
    baseline: float
    incident: float
    jitter: float  # relative noise, ±


METRICS: dict[str, MetricShape] = {
    "request_rate": MetricShape(42.0, 39.5, 0.04),  # req/s
    "error_ratio": MetricShape(0.001, 0.12, 0.08),
    "error_rate": MetricShape(0.042, 4.74, 0.08),  # 5xx req/s: ratio × rate
    "p99_latency": MetricShape(0.2, 8.2, 0.03),  # seconds
    "cpu": MetricShape(0.35, 0.36, 0.04),  # cores
    "memory": MetricShape(536_870_912.0, 541_000_000.0, 0.005),  # bytes
    "restarts": MetricShape(0.0, 0.0, 0.0),
    "up": MetricShape(1.0, 1.0, 0.0),
}


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One Loki entry: its stream labels, time (unix ns) and line."""

    labels: tuple[tuple[str, str], ...]
    ts_ns: int
    line: str

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    revision: str  # git sha
    target_revision: str  # tag
    deployed_at: datetime
    initiated_by: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """``bad_deploy``: what the fakes serve and what tests assert against. The other stories
    (``bot.sandbox.stories``) are subclasses that change the metrics, logs, traces and history."""

    #: the alert that fires, its summary and severity
    alert_name: ClassVar[str] = "HighLatencyP99"
    alert_summary: ClassVar[str] = "{service} p99 latency above 2s"
    severity: ClassVar[str] = "critical"
    #: the shape of every series (baseline before the onset, incident level after)
    shapes: ClassVar[dict[str, MetricShape]] = METRICS
    #: whether the culprit deploy (history 13) happened; without it the previous revision runs
    deployed_recently: ClassVar[bool] = True

    now: datetime = field(default_factory=utcnow)
    seed: int = 7
    name: str = "bad_deploy"
    service: str = "checkout"
    namespace: str = "shop"
    app: str = "checkout"
    culprit_revision: str = "v2.14.3"
    culprit_history_id: int = 13
    culprit_sha: str = "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"
    previous_revision: str = "v2.14.2"
    previous_history_id: int = 12
    previous_sha: str = "8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"
    deployed_by: str = "alice"
    root_cause_service: str = "checkout"
    failing_dependency: str = "orders-db"
    pool_max: int = 10
    #: how far back the fakes have log lines and traces
    history: timedelta = timedelta(hours=1)
    #: unix time a rollback fixed it (the demo's ArgoCD sets it); metrics are back to baseline after
    recovered_at: float | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:  # a naive time is taken as UTC, never as local time
            object.__setattr__(self, "now", self.now.replace(tzinfo=UTC))

    # ------------------------------------------------------------------ the timeline

    @property
    def deployed_at(self) -> datetime:
        return self.now - timedelta(minutes=6)

    @property
    def onset(self) -> datetime:
        return self.now - timedelta(minutes=3)

    @property
    def now_s(self) -> float:
        return self.now.timestamp()

    @property
    def onset_s(self) -> float:
        return self.onset.timestamp()

    def at(self, now: datetime) -> Scenario:
        """The same story ending at ``now``."""
        return replace(self, now=now)

    @cached_property
    def argocd_history(self) -> list[HistoryEntry]:
        """Oldest first, as ArgoCD lists it."""
        history = [
            HistoryEntry(11, "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", "v2.14.1",
                         _second(self.now - timedelta(days=2, minutes=17)), {"username": "admin"}),
            HistoryEntry(self.previous_history_id, self.previous_sha, self.previous_revision,
                         _second(self.now - timedelta(hours=26, minutes=4)), {"automated": True}),
            HistoryEntry(self.culprit_history_id, self.culprit_sha, self.culprit_revision,
                         _second(self.deployed_at), {"username": self.deployed_by}),
        ]
        return history if self.deployed_recently else history[:-1]

    @property
    def degraded(self) -> bool:
        """ArgoCD reports the app Degraded (the bad deploy's rollout never became healthy)."""
        return self.deployed_recently and self.recovered_at is None

    # ------------------------------------------------------------------ ArgoCD

    def argocd_application(self) -> dict[str, Any]:
        """The ``v1alpha1Application`` body of ``GET /api/v1/applications/checkout``."""
        repo = "https://github.com/example/shop-deploy.git"
        health = ({"status": "Degraded",
                   "message": f'Deployment "{self.service}" exceeded its progress deadline'}
                  if self.degraded else {"status": "Healthy"})
        path = f"apps/{self.app}"
        current = self.argocd_history[-1]

        def source(target: str) -> dict[str, str]:
            return {"repoURL": repo, "path": path, "targetRevision": target}

        history = [
            {
                "id": entry.id,
                "revision": entry.revision,
                "deployedAt": _rfc3339(entry.deployed_at),
                "deployStartedAt": _rfc3339(entry.deployed_at - timedelta(seconds=14)),
                "source": source(entry.target_revision),
                "initiatedBy": dict(entry.initiated_by),
            }
            for entry in self.argocd_history
        ]
        return {
            "metadata": {
                "name": self.app,
                "namespace": "argocd",
                "uid": "6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b",
                "resourceVersion": "884213",
                "generation": 57,
                "creationTimestamp": "2025-06-02T10:11:12Z",
                "labels": {"team": "payments"},
            },
            "spec": {
                "project": self.namespace,
                "source": source(current.target_revision),
                "destination": {"server": "https://kubernetes.default.svc", "namespace": self.namespace},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            },
            "status": {
                "resources": [
                    {
                        "group": "apps", "version": "v1", "kind": "Deployment",
                        "namespace": self.namespace, "name": self.service, "status": "Synced",
                        "health": health,
                    },
                    {"version": "v1", "kind": "ConfigMap", "namespace": self.namespace,
                     "name": f"{self.service}-config", "status": "Synced"},
                    {"version": "v1", "kind": "Service", "namespace": self.namespace,
                     "name": self.service, "status": "Synced", "health": {"status": "Healthy"}},
                ],
                "sync": {
                    "status": "Synced",
                    "comparedTo": {
                        "source": source(current.target_revision),
                        "destination": {"server": "https://kubernetes.default.svc",
                                        "namespace": self.namespace},
                    },
                    "revision": current.revision,
                },
                "health": {
                    "status": health["status"],
                    "lastTransitionTime": _rfc3339(self.onset + timedelta(seconds=20) if self.degraded
                                                   else current.deployed_at),
                },
                "history": history,
                "reconciledAt": _rfc3339(self.now),
                "operationState": {
                    "operation": {
                        "sync": {"revision": current.revision},
                        "initiatedBy": dict(current.initiated_by),
                        "retry": {"limit": 5},
                    },
                    "phase": "Succeeded",
                    "message": "successfully synced (all tasks run)",
                    "syncResult": {"resources": [], "revision": current.revision,
                                   "source": source(current.target_revision)},
                    "startedAt": history[-1]["deployStartedAt"],
                    "finishedAt": history[-1]["deployedAt"],
                },
                "sourceType": "Kustomize",
                "summary": {"images": [f"registry.example.com/{self.namespace}/{self.service}:"
                                       f"{current.target_revision}"]},
            },
        }

    # ------------------------------------------------------------------ Prometheus

    def metric_value(self, name: str, at: float) -> float:
        """The value of metric ``name`` at unix time ``at`` (baseline before the onset)."""
        shape = self.shapes[name]
        failing = at >= self.onset_s and (self.recovered_at is None or at < self.recovered_at)
        level = shape.incident if failing else shape.baseline
        if not shape.jitter:
            return level
        offset = round(at - self.now_s, 3)
        noise = _unit(f"{self.seed}:{name}:{offset}") * 2 - 1
        return round(level * (1 + shape.jitter * noise), 6)

    def metric_labels(self) -> dict[str, str]:
        return {"service": self.service, "namespace": self.namespace}

    def metric_points(self, name: str, *, start: float, end: float, step: float) -> list[list[Any]]:
        """``[[t, "value"], ...]`` at ``start + k·step`` up to ``end``, none in the future."""
        last = min(end, max(self.now_s, time.time()))
        count = int(math.floor((last - start) / step + 1e-9)) + 1 if last >= start else 0
        return [
            [_num(t), _sample(self.metric_value(name, t))]
            for t in (start + k * step for k in range(count))
        ]

    def firing_alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v1/alerts``'s ``data.alerts``."""
        return [
            {
                "labels": {"alertname": self.alert_name, "service": self.service,
                           "namespace": self.namespace, "severity": self.severity},
                "annotations": {"summary": self.alert_summary.format(service=self.service),
                                "runbook_url": f"https://runbooks.example.com/{self.service}"},
                "state": "firing",
                "activeAt": _rfc3339(self.onset + timedelta(seconds=30)),
                "value": f"{self.metric_value('p99_latency', self.now_s):.1e}",
            }
        ]

    # ------------------------------------------------------------------ Loki

    @cached_property
    def log_entries(self) -> list[LogEntry]:
        """Every log line of the last ``history``, oldest first (a few hundred)."""
        rng = random.Random(self.seed)
        start = self.now_s - self.history.total_seconds()
        deploy = self.deployed_at.timestamp()
        onset = self.onset_s
        old_pods = (f"{self.service}-6c8d7b5a4-q9w2e", f"{self.service}-6c8d7b5a4-m3n4b")
        new_pods = (f"{self.service}-7d9f8b6c5-x2k4q", f"{self.service}-7d9f8b6c5-p8r7t")
        error_traces = [t["traceID"] for t in self.jaeger_traces if _trace_failed(t)]
        entries: list[LogEntry] = []

        def emit(at: float, pod: str, fields: dict[str, Any]) -> None:
            moment = datetime.fromtimestamp(at, UTC)
            line = json.dumps({"ts": _rfc3339(moment), **fields}, separators=(",", ":"))
            labels = (("container", "app"), ("level", str(fields["level"])),
                      ("namespace", self.namespace), ("pod", pod), ("service", self.service))
            entries.append(LogEntry(labels, int(round(at * 1000)) * 1_000_000, line))

        t = start
        while t < self.now_s:
            pods = old_pods if t < deploy else new_pods
            pod = pods[rng.randrange(2)]
            if t < onset:
                if rng.random() < 0.85:
                    emit(t, pod, {"level": "info", "msg": "POST /api/checkout 200", "status": 200,
                                  "duration_ms": rng.randint(110, 260), "trace_id": _hex(rng, 32)})
                else:
                    emit(t, pod, {"level": "info", "msg": "order placed",
                                  "order_id": f"ord_{rng.randint(100000, 999999)}"})
                t += rng.uniform(12.0, 24.0) if t < deploy else rng.uniform(4.0, 8.0)
            else:
                trace_id = error_traces[rng.randrange(len(error_traces))] if rng.random() < 0.3 \
                    else _hex(rng, 32)
                if rng.random() < 0.55:
                    emit(t, pod, {"level": "error", "msg": "timeout acquiring connection from pool",
                                  "pool": self.failing_dependency, "max": self.pool_max,
                                  "in_use": self.pool_max, "wait_ms": 5000, "trace_id": trace_id})
                else:
                    emit(t, pod, {"level": "error", "msg": "POST /api/checkout 503", "status": 503,
                                  "duration_ms": rng.randint(5100, 8400), "trace_id": trace_id})
                t += rng.uniform(0.6, 1.4)
        # the rollout: old pods stop, new pods start with the new pool size
        for i, pod in enumerate(old_pods):
            emit(deploy - 20 + i, pod, {"level": "info", "msg": "shutting down", "signal": "SIGTERM"})
        for i, pod in enumerate(new_pods):
            emit(deploy - 2 + i, pod, {
                "level": "info",
                "msg": f"starting {self.service} version {self.culprit_revision} pool_max {self.pool_max}",
                "version": self.culprit_revision, "pool_max": self.pool_max,
            })
        entries.sort(key=lambda e: e.ts_ns)
        return entries

    # ------------------------------------------------------------------ Jaeger

    @cached_property
    def jaeger_traces(self) -> list[dict[str, Any]]:
        """Ten traces in Jaeger's ``/api/traces`` JSON: eight erroring after the onset, two healthy
        before it. Oldest first."""
        rng = random.Random(self.seed * 31 + 1)
        traces = [self._trace(rng, at=self.onset_s - 150 + i * 60, failed=False) for i in range(2)]
        traces += [self._trace(rng, at=self.onset_s + 8 + i * 20, failed=True) for i in range(8)]
        traces[2]["traceID"] = "4bf92f3577b34da6a3ce929d0e0e4736"  # the fixtures' trace id
        for span in traces[2]["spans"]:
            span["traceID"] = traces[2]["traceID"]
            for ref in span["references"]:
                ref["traceID"] = traces[2]["traceID"]
        return traces

    def _trace(self, rng: random.Random, *, at: float, failed: bool) -> dict[str, Any]:
        trace_id = _hex(rng, 32)
        start = int(at * 1_000_000)
        ids = [_hex(rng, 16) for _ in range(4)]
        db_ms = rng.randint(4990, 5030) if failed else rng.randint(6, 18)
        root_us = (db_ms + (rng.randint(180, 3200) if failed else rng.randint(120, 200))) * 1000

        def tag(key: str, value: Any) -> dict[str, Any]:
            kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
            return {"key": key, "type": kind, "value": value}

        def span(i: int, operation: str, parent: int | None, offset_us: int, duration_us: int,
                 process: str, tags: list[dict[str, Any]], logs: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
            refs = [] if parent is None else [{"refType": "CHILD_OF", "traceID": trace_id,
                                               "spanID": ids[parent]}]
            return {"traceID": trace_id, "spanID": ids[i], "operationName": operation,
                    "references": refs, "startTime": start + offset_us, "duration": duration_us,
                    "tags": tags, "logs": logs or [], "processID": process, "warnings": None, "flags": 1}

        root_tags = [tag("span.kind", "server"), tag("http.method", "POST"),
                     tag("http.status_code", 503 if failed else 200)]
        db_tags = [tag("span.kind", "server"), tag("db.system", "postgresql"),
                   tag("db.statement", "SELECT * FROM orders WHERE id = $1"),
                   tag("pool.max", self.pool_max)]
        db_logs: list[dict[str, Any]] = []
        if failed:
            root_tags.append(tag("error", True))
            db_tags.append(tag("error", True))
            db_logs = [{"timestamp": start + 15_000 + db_ms * 1000, "fields": [
                tag("event", "error"), tag("message", "timeout acquiring connection from pool")]}]
        spans = [
            span(0, "POST /api/checkout", None, 0, root_us, "p1", root_tags),
            span(1, "CartService/GetCart", 0, 1000, 12000, "p1", [tag("span.kind", "client")]),
            span(2, "CartService/GetCart", 1, 2000, 9000, "p2", [tag("span.kind", "server")]),
            span(3, "SELECT orders", 0, 15000, db_ms * 1000, "p3", db_tags, db_logs),
        ]
        return {
            "traceID": trace_id,
            "spans": spans,
            "processes": {
                "p1": {"serviceName": self.service, "tags": [
                    tag("hostname", f"{self.service}-7d9f8b6c5-x2k4q"), tag("ip", "10.42.3.17"),
                    tag("jaeger.version", "Go-2.30.0")]},
                "p2": {"serviceName": "cart", "tags": [tag("hostname", "cart-5c6d7e8f9-abcde")]},
                "p3": {"serviceName": self.failing_dependency,
                       "tags": [tag("hostname", f"{self.failing_dependency}-0")]},
            },
            "warnings": None,
        }

    @property
    def jaeger_services(self) -> list[str]:
        return sorted({"cart", self.service, "frontend", "payments", self.failing_dependency})


class ScenarioFeed:
    """The scenarios the fakes serve: ``fixed`` (the same ones every request) or ``live`` (each story
    re-anchored to the clock, so "deployed 6 minutes ago" stays true in a long-running demo).

    Several scenarios (the demo's) are served side by side, one service each: the fakes answer a
    query from the scenario whose service it selects. ``current()`` is the first, the one tests use.
    """

    def __init__(self, scenario: Scenario | Sequence[Scenario] | None = None, *, live: bool = False) -> None:
        if scenario is None:
            scenario = Scenario()
        self._scenarios = [scenario] if isinstance(scenario, Scenario) else list(scenario)
        if not self._scenarios:
            raise ValueError("a feed needs at least one scenario")
        services = [s.service for s in self._scenarios]
        if len(set(services)) != len(services):
            raise ValueError(f"scenarios served together need distinct services, got {services}")
        self._live = live
        self._merged: tuple[tuple[Any, ...], list[LogEntry]] | None = None

    @property
    def live(self) -> bool:
        return self._live

    def recover(self, at: float, *, service: str | None = None) -> None:
        """The fix landed at unix time ``at``: from then on the metrics of ``service``'s scenario (the
        first scenario's when None) are back to baseline."""
        for i, scenario in enumerate(self._scenarios):
            if scenario.service == service or (service is None and i == 0):
                self._scenarios[i] = replace(scenario, recovered_at=at)

    def current(self) -> Scenario:
        return self.all()[0]

    def all(self) -> list[Scenario]:
        if self._live:
            now = utcnow().replace(microsecond=0)
            self._scenarios = [s if s.now == now else s.at(now) for s in self._scenarios]
        return list(self._scenarios)

    def for_service(self, service: str) -> Scenario | None:
        return next((s for s in self.all() if s.service == service), None)

    def log_entries(self) -> list[LogEntry]:
        """Every scenario's log lines, oldest first."""
        scenarios = self.all()
        if len(scenarios) == 1:
            return scenarios[0].log_entries
        key = tuple((s.name, s.now, s.recovered_at) for s in scenarios)
        if self._merged is None or self._merged[0] != key:
            merged = sorted((e for s in scenarios for e in s.log_entries), key=lambda e: e.ts_ns)
            self._merged = (key, merged)
        return self._merged[1]

    def jaeger_traces(self) -> list[dict[str, Any]]:
        return [trace for s in self.all() for trace in s.jaeger_traces]


# ---------------------------------------------------------------------------- helpers


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _unit(key: str) -> float:
    """A deterministic number in [0, 1) for ``key``."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def _sample(value: float) -> str:
    """Prometheus writes sample values as strings (``"8.2"``, ``"NaN"``, ``"+Inf"``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _trace_failed(trace: dict[str, Any]) -> bool:
    return any(t["key"] == "error" and t["value"] is True for s in trace["spans"] for t in s["tags"])
