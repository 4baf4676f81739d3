"""A scenario file → the four upstream APIs, shaped as Loki, Prometheus, ArgoCD and Jaeger answer
(``tests/fixtures/upstream``), served to the real collectors through ``httpx.MockTransport``.

Times in a scenario are minutes relative to "now" (negative = in the past).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import yaml

from bot.sandbox.query import go_duration, prom_duration
from bot.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "upstream"
ERROR_LEVELS = {"error", "fatal", "critical", "panic"}


@dataclass
class Scenario:
    name: str
    story: str
    service: str
    namespace: str
    alert: str
    onset: float  # minutes
    truth: dict[str, str]
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # service → name → [before, after]
    metric_onsets: dict[str, float] = field(default_factory=dict)  # service → minutes, when not the onset
    deploys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # app → history
    health: dict[str, str] = field(default_factory=dict)
    traces: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # must not appear in the brief

    @classmethod
    def load(cls, path: Path) -> Scenario:
        data = yaml.safe_load(path.read_text())
        alert = data["alert"]
        metrics = data.get("metrics") or {}
        if metrics and all(isinstance(v, list) for v in metrics.values()):
            metrics = {alert["service"]: metrics}  # the alerting service's own metrics
        return cls(name=data["name"], story=data.get("story", ""), service=alert["service"],
                   namespace=alert.get("namespace", "default"), alert=alert.get("text", ""),
                   onset=float(data.get("onset", -3)), truth=data["truth"], logs=data.get("logs") or [],
                   metrics=metrics, metric_onsets=data.get("metric_onsets") or {},
                   deploys=data.get("deploys") or {}, health=data.get("health") or {},
                   traces=data.get("traces") or [], secrets=data.get("secrets") or [])


class ScenarioUpstreams:
    """The handler of a MockTransport: routes by host (loki, prometheus, argocd, jaeger)."""

    def __init__(self, scenario: Scenario, settings: Settings, *, now: datetime) -> None:
        self.s = scenario
        self.settings = settings
        self.now = now
        self.calls = 0

    def at(self, minutes: float) -> datetime:
        return self.now + timedelta(minutes=minutes)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        host, path = request.url.host, request.url.path
        params = dict(request.url.params)
        if host == "loki" and path.endswith("/query_range"):
            return httpx.Response(200, json=self.loki(params))
        if host == "prometheus" and path.endswith("/query_range"):
            return httpx.Response(200, json=self.prometheus(params))
        if host == "argocd" and path.startswith("/api/v1/applications/"):
            return self.argocd(unquote(path.rsplit("/", 1)[1]))
        if host == "jaeger" and path == "/api/traces":
            return httpx.Response(200, json=self.jaeger(params))
        return httpx.Response(404, json={"error": f"no such route {host}{path}"})

    # ------------------------------------------------------------------ Loki

    def loki(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("query", "")
        wanted = re.search(r'service="([^"]+)"', query)
        errors_only = "|~" in query
        start, end = int(params["start"]), int(params["end"])
        streams: dict[tuple[str, str], list[list[str]]] = {}
        for spec in self.s.logs:
            service = spec.get("service", self.s.service)
            if wanted and wanted.group(1) != service:
                continue
            level = spec.get("level", "info")
            if errors_only and level not in ERROR_LEVELS:
                continue
            count, first = int(spec.get("count", 1)), float(spec.get("from", self.s.onset))
            last = float(spec.get("to", 0))
            for i in range(count):
                moment = self.at(first + (last - first) * i / max(count, 1))
                ns = int(moment.timestamp() * 1e9)
                if start <= ns <= end:
                    msg = spec["msg"].replace("{i}", str(i)).replace("{n}", str(1000 + i * 7))
                    line = json.dumps({"level": level, "msg": msg, "service": service})
                    streams.setdefault((service, level), []).append([str(ns), line])
        result = [{"stream": {"service": svc, "level": lvl, "namespace": self.s.namespace},
                   "values": sorted(values, reverse=True)} for (svc, lvl), values in streams.items()]
        return {"status": "success", "data": {"resultType": "streams", "result": result,
                                              "stats": {"summary": {"totalLinesProcessed": 0}}}}

    # ------------------------------------------------------------------ Prometheus

    def prometheus(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("query", "")
        service, name = self._metric_for(query)
        series = (self.s.metrics.get(service) or {}).get(name) if service else None
        if not series:
            return {"status": "success", "data": {"resultType": "matrix", "result": []}}
        before, after = series
        onset = self.at(self.s.metric_onsets.get(service, self.s.onset))
        start, end = float(params["start"]), float(params["end"])
        step = prom_duration(params.get("step", "15"))
        values, t = [], start
        while t <= end:
            moment = datetime.fromtimestamp(t, tz=UTC)
            wobble = 1 + 0.03 * math.sin(t / 97.0)
            value = (after if moment >= onset else before) * wobble
            values.append([t, f"{value:.6g}"])
            t += step
        return {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {self.settings.sitrep_service_label: service}, "values": values}]}}

    def _metric_for(self, query: str) -> tuple[str | None, str | None]:
        for service in {self.s.service, *self.s.metrics}:
            for name, promql in self.settings.promql_for(service).items():
                if promql == query:
                    return service, name
        return None, None

    # ------------------------------------------------------------------ ArgoCD

    def argocd(self, app: str) -> httpx.Response:
        history = self.s.deploys.get(app)
        if history is None:
            return httpx.Response(404, json={"error": f"applications.argoproj.io \"{app}\" not found",
                                             "code": 5, "message": f"applications.argoproj.io \"{app}\" not found"})
        body = json.loads((FIXTURES / "argocd" / "application.json").read_text())
        body["metadata"]["name"] = app
        entries = []
        for item in history:
            deployed = self.at(float(item["at"]))
            revision = hashlib.sha1(f"{app}{item['tag']}".encode()).hexdigest()
            entry: dict[str, Any] = {
                "id": int(item["id"]), "revision": revision, "deployedAt": _z(deployed),
                "deployStartedAt": _z(deployed - timedelta(seconds=14)),
                "source": {"repoURL": "https://github.com/example/deploy.git", "path": f"apps/{app}",
                           "targetRevision": item["tag"]},
                "initiatedBy": {"username": item["by"]} if item.get("by") else {"automated": True},
            }
            entries.append(entry)
        body["status"]["history"] = entries
        current = entries[-1]
        body["status"]["sync"]["revision"] = current["revision"]
        body["status"]["sync"]["comparedTo"]["source"]["targetRevision"] = current["source"]["targetRevision"]
        body["status"]["health"] = {"status": self.s.health.get(app, "Healthy"),
                                    "lastTransitionTime": _z(self.at(self.s.onset))}
        return httpx.Response(200, json=body)

    # ------------------------------------------------------------------ Jaeger

    def jaeger(self, params: dict[str, str]) -> dict[str, Any]:
        service = params.get("service")
        want_errors = "error" in params.get("tags", "")
        min_us = go_duration(params["minDuration"]) * 1e6 if params.get("minDuration") else None
        data = []
        for index, spec in enumerate(self.s.traces):
            for copy in range(int(spec.get("count", 1))):
                trace = self._trace(spec, index, copy)
                spans = trace["spans"]
                services = {trace["processes"][s["processID"]]["serviceName"] for s in spans}
                if service not in services:
                    continue
                errored = any(tag["key"] == "error" and tag["value"] for s in spans for tag in s["tags"])
                if want_errors and not errored:
                    continue
                if min_us is not None and max(s["duration"] for s in spans) < min_us:
                    continue
                data.append(trace)
        return {"data": data, "total": len(data), "limit": 0, "offset": 0, "errors": None}

    def _trace(self, spec: dict[str, Any], index: int, copy: int) -> dict[str, Any]:
        trace_id = hashlib.md5(f"{self.s.name}-{index}-{copy}".encode()).hexdigest()
        start = self.at(float(spec.get("at", self.s.onset)) + copy * 0.1)
        processes: dict[str, dict[str, Any]] = {}
        spans = []
        for n, item in enumerate(spec["spans"]):
            pid = next((p for p, v in processes.items() if v["serviceName"] == item["service"]), None)
            if pid is None:
                pid = f"p{len(processes) + 1}"
                processes[pid] = {"serviceName": item["service"], "tags": []}
            span_id = f"{trace_id[:12]}{n:04x}"
            tags = [{"key": "span.kind", "type": "string", "value": "server"}]
            if item.get("status"):
                tags.append({"key": "http.status_code", "type": "int64", "value": int(item["status"])})
            if item.get("error"):
                tags.append({"key": "error", "type": "bool", "value": True})
            refs = []
            if item.get("parent") is not None:
                refs = [{"refType": "CHILD_OF", "traceID": trace_id,
                         "spanID": f"{trace_id[:12]}{int(item['parent']):04x}"}]
            spans.append({"traceID": trace_id, "spanID": span_id, "operationName": item["op"],
                          "references": refs, "startTime": int((start.timestamp() + n * 0.001) * 1e6),
                          "duration": int(float(item["ms"]) * 1000), "tags": tags, "logs": [],
                          "processID": pid, "warnings": None, "flags": 1})
        return {"traceID": trace_id, "spans": spans, "processes": processes, "warnings": None}


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
