"""A generated scenario (``generator.Scenario``) served as Loki, Prometheus, ArgoCD, Jaeger and the
Kubernetes API answer, to the real collectors through ``httpx.MockTransport``.

    upstreams = GeneratedUpstreams(scenario, now=now)
    transport = httpx.MockTransport(upstreams)        # hosts: loki, prometheus, argocd, jaeger, kubernetes

Shapes follow ``tests/fixtures/upstream`` and ``../shared/fixtures/upstream/README.md``:

- Loki ``query_range``: the selector's label matchers (``=``, ``!=``, ``=~``, ``!~``) and line filters
  (``|=``, ``!=``, ``|~``, ``!~``) are honoured; ``direction``/``limit`` too; metric queries
  (``count_over_time``, ``rate``, ``sum by``) answer a matrix. Streams carry ``namespace``, ``pod``,
  ``container``, ``job``, ``stream`` and the scenario's service label; Loki 3 scenarios add
  ``service_name`` and a per-line ``detected_level`` (so a traceback is split across streams).
  ``X-Scope-OrgID`` is required when the scenario is multi-tenant.
- Prometheus ``query_range``/``query`` (GET or POST): a small PromQL evaluator over the scenario's
  series (selectors with matchers, ``rate``/``increase``/``*_over_time``/``predict_linear``/
  ``histogram_quantile``, ``sum``/``max``/``min``/``avg``/``count`` with ``by``/``without``, ``offset``,
  arithmetic and comparisons, ``and``/``unless``, ``time()``). What it does not understand answers an
  empty result, never an error.
- ArgoCD: the application in its shape (tag, branch, Helm, multi-source), revision metadata, chart
  details and manifests per revision, with ArgoCD's errors.
- Jaeger ``/api/traces``, ``/api/traces/{id}``, ``/api/services``, ``/api/dependencies``.
- Kubernetes: core and ``events.k8s.io`` events (``fieldSelector``), pods, HPAs.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

from generator import AppSpec, Curve, NodeSpec, Revision, Scenario, ServiceSpec, detected_level, render

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "upstream"
APP_TEMPLATES = {"tag": "application.json", "branch": "application_branch_tracking.json",
                 "helm": "application_helm.json", "multi": "application_multi_source.json"}
GIT_REPO = "https://github.com/example/{ns}-deploy.git"
CHART_REPO = "https://charts.example.com"
VALUES_REPO = "https://github.com/example/platform-values.git"


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 9))


def _hash(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


class GeneratedUpstreams:
    """The MockTransport handler. ``calls`` counts requests by host; ``log`` keeps (method, url)."""

    def __init__(self, scenario: Scenario, *, now: datetime) -> None:
        self.s = scenario
        self.now = now
        self.calls: dict[str, int] = {}
        self.log: list[tuple[str, str]] = []
        #: requests this fake failed to answer (its own bugs), reported beside the grades
        self.errors: list[str] = []
        self._entries: list[tuple[int, dict[str, str], str]] | None = None
        self._series: dict[str, list[_Series]] | None = None
        self._traces: list[dict[str, Any]] | None = None

    def at(self, minutes: float) -> datetime:
        return self.now + timedelta(minutes=minutes)

    def minute(self, moment: float) -> float:
        """Unix seconds → minutes relative to now."""
        return (moment - self.now.timestamp()) / 60.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.calls[host] = self.calls.get(host, 0) + 1
        self.log.append((request.method, str(request.url)))
        params = dict(request.url.params.multi_items())
        if request.method == "POST" and request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            params.update(dict(parse_qsl(request.content.decode())))
        try:
            if host == "loki":
                return self.loki(request, params)
            if host == "prometheus":
                return self.prometheus(request.url.path, params)
            if host == "argocd":
                return self.argocd(request)
            if host == "jaeger":
                return self.jaeger(request.url.path, params)
            if host == "kubernetes":
                return self.kubernetes(request)
        except _BadRequest as exc:
            return exc.response
        except Exception as exc:  # a bug of this fake: answered as a 500 and reported by the eval
            self.errors.append(f"{host}{request.url.path}: {type(exc).__name__}: {exc}")
            return httpx.Response(500, text=f"eval fake upstream failed: {type(exc).__name__}")
        return httpx.Response(404, text=f"404 page not found: {host}{request.url.path}")

    # ================================================================== Loki

    def entries(self) -> list[tuple[int, dict[str, str], str]]:
        """Every log entry of every service: (unix ns, stream labels, line), oldest first."""
        if self._entries is not None:
            return self._entries
        out: list[tuple[int, dict[str, str], str]] = []
        for svc in self.s.services.values():
            for n, record in enumerate(svc.logs):
                moment = self.at(record.at)
                pod = svc.pods[n % len(svc.pods)]
                ns0 = int(moment.timestamp() * 1e9) + n * 7  # distinct, and in order within a record
                for i, line in enumerate(render(svc, record, at=moment, pod=pod)):
                    labels = self._stream_labels(svc, pod, line, error=record.level in ("error", "fatal"))
                    out.append((ns0 + i * 1000, labels, line))
        out.sort(key=lambda e: e[0])
        self._entries = out
        return out

    def _stream_labels(self, svc: ServiceSpec, pod: str, line: str, *, error: bool) -> dict[str, str]:
        labels = {"namespace": self.s.namespace, "pod": pod, "container": svc.name,
                  "job": f"{self.s.namespace}/{svc.name}", "stream": "stderr" if error else "stdout"}
        labels[self.s.loki_label] = svc.name
        if self.s.loki3:
            labels["service_name"] = svc.name
            labels["detected_level"] = detected_level(line)
        return labels

    def loki(self, request: httpx.Request, params: dict[str, str]) -> httpx.Response:
        path = request.url.path
        if self.s.loki_tenant and request.headers.get("X-Scope-OrgID") != self.s.loki_tenant:
            return httpx.Response(401, text="no org id\n")
        if path.endswith("/labels"):
            names = sorted({k for _, labels, _ in self.entries() for k in labels})
            return httpx.Response(200, json={"status": "success", "data": names})
        if m := re.search(r"/label/([^/]+)/values$", path):
            values = sorted({labels.get(m.group(1), "") for _, labels, _ in self.entries()} - {""})
            return httpx.Response(200, json={"status": "success", "data": values})
        if not path.endswith(("/query_range", "/query")):
            return httpx.Response(404, text="404 page not found\n")
        query = params.get("query", "")
        selector = _loki_selector(query)
        if selector is None:
            return httpx.Response(400, text="parse error at line 1, col 1: syntax error: unexpected IDENTIFIER\n")
        matchers, filters = selector
        end = _loki_time(params.get("end"), self.now)
        start = _loki_time(params.get("start"), self.now - timedelta(hours=1))
        limit = int(params.get("limit") or 100)
        chosen = [e for e in self.entries() if start <= e[0] <= end and _labels_match(e[1], matchers)
                  and all(f(e[2]) for f in filters)]
        stats = {"summary": {"bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0,
                             "totalBytesProcessed": sum(len(e[2]) for e in chosen),
                             "totalLinesProcessed": len(chosen), "execTime": 0.004}}
        if _is_loki_metric(query):
            step = _prom_step(params.get("step"), default=max((end - start) / 1e9 / 100, 1))
            return httpx.Response(200, json={"status": "success", "data": {
                "resultType": "matrix", "result": _loki_matrix(query, chosen, start, end, step), "stats": stats}})
        backward = params.get("direction", "backward") != "forward"
        chosen.sort(key=lambda e: e[0], reverse=backward)
        chosen = chosen[:limit]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for ns, labels, line in chosen:
            streams.setdefault(tuple(sorted(labels.items())), []).append([str(ns), line])
        result = [{"stream": dict(key), "values": values} for key, values in streams.items()]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": result,
                                                                       "stats": stats}})

    # ================================================================== Prometheus

    def prometheus(self, path: str, params: dict[str, str]) -> httpx.Response:
        query = params.get("query", "")
        if path.endswith("/query_range"):
            start = _prom_time(params.get("start"), self.now.timestamp() - 3600)
            end = _prom_time(params.get("end"), self.now.timestamp())
            step = _prom_step(params.get("step"), default=15.0)
            if step <= 0 or (end - start) / step > 11000:
                return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                                 "error": "exceeded maximum resolution of 11,000 points per "
                                                          "timeseries. Try decreasing the query resolution "
                                                          "(?step=XX)"})
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
            result = []
            for labels, values in self.evaluate(query, times):
                points = [[round(t, 3), _num(v)] for t, v in zip(times, values, strict=True) if v is not None]
                if points:
                    result.append({"metric": labels, "values": points})
            return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": result}})
        if path.endswith("/query"):
            t = _prom_time(params.get("time"), self.now.timestamp())
            result = [{"metric": labels, "value": [round(t, 3), _num(values[0])]}
                      for labels, values in self.evaluate(query, [t]) if values[0] is not None]
            return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})
        if path.endswith("/alerts"):
            return httpx.Response(200, json={"status": "success", "data": {"alerts": []}})
        if path.endswith(("/series", "/labels")) or "/label/" in path:
            return httpx.Response(200, json={"status": "success", "data": []})
        return httpx.Response(404, text="404 page not found\n")

    def evaluate(self, query: str, times: list[float]) -> list[tuple[dict[str, str], list[float | None]]]:
        try:
            return _Evaluator(self.series(), times, self.minute).run(query)
        except _Unsupported:
            return []

    def series(self) -> dict[str, list[_Series]]:
        if self._series is None:
            self._series = _catalogue(self.s, self.now)
        return self._series

    # ================================================================== ArgoCD

    def argocd(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return _argocd_error(401, "no session information", 16)
        path = unquote(request.url.path)
        params = request.url.params
        if path == "/api/v1/applications":
            items = [self.application(app) for app in self.s.apps.values()]
            return httpx.Response(200, json={"metadata": {"resourceVersion": "1905071"}, "items": items})
        m = re.fullmatch(r"/api/v1/applications/([^/]+)(/.*)?", path)
        if not m:
            return httpx.Response(404, text="Not Found")
        app = self.s.apps.get(m.group(1))
        if app is None:
            return _argocd_error(404, f'applications.argoproj.io "{m.group(1)}" not found', 5)
        rest = m.group(2) or ""
        if rest == "":
            return httpx.Response(200, json=self.application(app))
        if mm := re.fullmatch(r"/revisions/([^/]+)/metadata", rest):
            return self.revision_metadata(app, mm.group(1), params)
        if mm := re.fullmatch(r"/revisions/([^/]+)/chartdetails", rest):
            rev = next((r for r in app.history if r.chart_version == mm.group(1)), None)
            if app.shape not in ("helm", "multi") or rev is None:
                return _argocd_error(500, f"error extracting chart: no chart found for application: {app.name}", 2)
            return httpx.Response(200, json={"description": f"{app.name} service chart", "home":
                                             f"https://git.example.com/charts/{app.name}",
                                             "maintainers": ["Platform Team <platform@example.com>"]})
        if rest == "/manifests":
            return self.manifests(app, params)
        if rest in ("/resource-tree", "/managed-resources"):
            return httpx.Response(200, json={"nodes": [], "items": []})
        return _argocd_error(404, "Not Found", 5)

    def application(self, app: AppSpec) -> dict[str, Any]:
        body = copy.deepcopy(json.loads((FIXTURES / "argocd" / APP_TEMPLATES[app.shape]).read_text()))
        current = app.history[-1]
        ns = app.namespace
        body["metadata"] = {"name": app.name, "namespace": "argocd", "uid": _uuid(app.name),
                            "resourceVersion": str(1900000 + len(app.history)), "generation": len(app.history) + 3,
                            "creationTimestamp": _z(self.at(app.history[0].at - 60)),
                            "labels": {"team": ns}}
        spec = body["spec"]
        spec["destination"] = {"server": "https://kubernetes.default.svc", "namespace": ns}
        spec["project"] = ns
        if app.auto_sync:
            spec["syncPolicy"] = {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["ServerSideApply=true"]}
        else:
            spec["syncPolicy"] = {"syncOptions": ["ServerSideApply=true"]}
        spec.pop("source", None)
        spec.pop("sources", None)
        head_sources = self._sources(app, current)
        if app.shape == "multi":
            spec["sources"] = head_sources
        else:
            spec["source"] = head_sources[0]
            if app.shape == "branch":
                spec["source"]["targetRevision"] = "HEAD"
        history = []
        for rev in app.history:
            deployed = self.at(rev.at)
            entry: dict[str, Any] = {"id": rev.id, "deployedAt": _z(deployed),
                                     "deployStartedAt": _z(deployed - timedelta(seconds=16)),
                                     "initiatedBy": {"automated": True} if rev.automated else
                                     {"username": rev.author.split("<")[1].rstrip(">")}}
            sources = self._sources(app, rev)
            if app.shape == "multi":
                entry["source"] = {"repoURL": ""}
                entry["sources"] = sources
                entry["revisions"] = [rev.chart_version, rev.sha]
            else:
                entry["source"] = sources[0]
                entry["revision"] = rev.chart_version if app.shape == "helm" else rev.sha
            history.append(entry)
        status = body["status"]
        status["history"] = history
        head = history[-1]
        sync: dict[str, Any] = {"status": "Synced", "comparedTo": {"destination": spec["destination"]}}
        if app.shape == "multi":
            sync["comparedTo"]["source"] = {"repoURL": ""}
            sync["comparedTo"]["sources"] = head["sources"]
            sync["revisions"] = head["revisions"]
        else:
            sync["comparedTo"]["source"] = spec["source"]
            sync["revision"] = head["revision"]
        status["sync"] = sync
        status["summary"] = {"images": [f"{app.image_repo}:{current.image_tag}"]}
        status["health"] = {"status": app.health, "lastTransitionTime": _z(self.at(self.s.onset + 0.5))}
        status["reconciledAt"] = _z(self.now - timedelta(seconds=40))
        status["sourceType"] = {"tag": "Kustomize", "branch": "Kustomize", "helm": "Helm"}.get(app.shape, "Helm")
        if app.shape == "multi":
            status.pop("sourceType", None)
            status["sourceTypes"] = ["Helm", ""]
        kinds = [("", "v1", "ConfigMap", f"{app.name}-config"), ("", "v1", "Service", app.name),
                 ("apps", "v1", "Deployment", app.name), ("autoscaling", "v2", "HorizontalPodAutoscaler", app.name)]
        status["resources"] = [
            {"group": g, "version": v, "kind": k, "namespace": ns, "name": n, "status": "Synced",
             **({"health": {"status": app.health if k == "Deployment" else "Healthy"}} if k in
                ("Deployment", "Service", "HorizontalPodAutoscaler") else {})}
            for g, v, k, n in kinds]
        if app.health != "Healthy":
            status["resources"][2]["health"]["message"] = (
                f"Deployment \"{app.name}\" exceeded its progress deadline" if app.health == "Degraded"
                else "Waiting for rollout to finish: 1 old replicas are pending termination...")
        finished = self.at(current.at)
        operation: dict[str, Any] = {"sync": {"prune": True, "syncOptions": ["ServerSideApply=true"]},
                                     "initiatedBy": head["initiatedBy"], "retry": {"limit": 5}}
        sync_result: dict[str, Any] = {"resources": [
            {"group": g, "version": v, "kind": k, "namespace": ns, "name": n, "status": "Synced",
             "message": f"{k.lower()}/{n} serverside-applied", "hookPhase": "Running", "syncPhase": "Sync"}
            for g, v, k, n in kinds]}
        if app.shape == "multi":
            operation["sync"]["sources"] = head["sources"]
            operation["sync"]["revisions"] = head["revisions"]
            sync_result.update({"revision": "", "source": {"repoURL": ""}, "sources": head["sources"],
                                "revisions": head["revisions"]})
        else:
            operation["sync"]["revision"] = head["revision"]
            operation["sync"]["source"] = head["source"]
            sync_result.update({"revision": head["revision"], "source": head["source"]})
        status["operationState"] = {"operation": operation, "phase": "Succeeded",
                                    "message": "successfully synced (all tasks run)", "syncResult": sync_result,
                                    "startedAt": _z(finished - timedelta(seconds=16)), "finishedAt": _z(finished)}
        return body

    def _sources(self, app: AppSpec, rev: Revision) -> list[dict[str, Any]]:
        if app.shape == "helm":
            return [{"repoURL": CHART_REPO, "targetRevision": rev.chart_version, "chart": app.name,
                     "helm": {"valueFiles": ["values-prod.yaml"], "releaseName": app.name}}]
        if app.shape == "multi":
            return [{"repoURL": CHART_REPO, "targetRevision": rev.chart_version, "chart": app.name,
                     "helm": {"valueFiles": [f"$values/{app.name}/prod/values.yaml"], "releaseName": app.name}},
                    {"repoURL": VALUES_REPO, "targetRevision": "main", "ref": "values"}]
        target = "HEAD" if app.shape == "branch" else rev.tag or rev.sha
        return [{"repoURL": GIT_REPO.format(ns=app.namespace), "path": f"apps/{app.name}/overlays/prod",
                 "targetRevision": target}]

    def revision_metadata(self, app: AppSpec, revision: str, params: httpx.QueryParams) -> httpx.Response:
        if not re.fullmatch(r"[0-9a-f]{40}", revision):
            return _argocd_error(500, f"revision {revision} must be resolved", 2)
        if app.shape == "helm" or (app.shape == "multi" and params.get("sourceIndex") in (None, "0")):
            return _argocd_error(500, "error acquiring repo lock: rpc error: code = Internal desc = "
                                      f"{CHART_REPO}: repository not found", 13)
        rev = next((r for r in app.history if r.sha == revision), None)
        if rev is None:
            return _argocd_error(500, "rpc error: code = Internal desc = unable to resolve git revision "
                                      f"{revision}: reference not found", 13)
        body: dict[str, Any] = {"author": rev.author, "date": _z(self.at(rev.at - 7)), "message": rev.message}
        if rev.tag:
            body["tags"] = [rev.tag]
        return httpx.Response(200, json=body)

    def manifests(self, app: AppSpec, params: httpx.QueryParams) -> httpx.Response:
        wanted = params.get_list("revisions") or [params.get("revision") or ""]
        rev = None
        for candidate in app.history:
            names = {candidate.sha, candidate.chart_version, candidate.tag} - {""}
            if app.shape == "multi":
                if set(wanted) <= names:
                    rev = candidate
            elif wanted[0] in names or (wanted[0] in ("", "HEAD") and candidate is app.history[-1]):
                rev = candidate
        if rev is None:
            return _argocd_error(500, f"rpc error: code = Unknown desc = failed to generate manifest for source 1 of "
                                      f"1: unable to resolve '{wanted[0]}' to a commit SHA", 2)
        return httpx.Response(200, json={"manifests": _manifests(app, rev)})

    # ================================================================== Jaeger

    def traces(self) -> list[dict[str, Any]]:
        if self._traces is not None:
            return self._traces
        out = []
        for index, spec in enumerate(self.s.traces):
            for copy_ in range(spec.count):
                out.append(self._trace(spec.spans, index, copy_, self.at(spec.at + copy_ * 0.35)))
        # healthy traffic before the onset, so that a search without filters finds something normal
        for index, svc in enumerate(s for s in self.s.services.values() if s.kind != "database"):
            for copy_ in range(2):
                out.append(self._trace([{"service": svc.name, "op": f"GET /api/v1/{svc.name}", "ms": 18,
                                         "error": False, "status": 200, "parent": None, "kind": "server",
                                         "tags": {}}], 1000 + index, copy_, self.at(self.s.onset - 10 - copy_)))
        self._traces = out
        return out

    def _trace(self, spans: list[dict[str, Any]], index: int, copy_: int, start: datetime) -> dict[str, Any]:
        trace_id = _hash(self.s.seed, index, copy_)[:32]
        processes: dict[str, dict[str, Any]] = {}
        out = []
        for n, item in enumerate(spans):
            pid = next((p for p, v in processes.items() if v["serviceName"] == item["service"]), None)
            if pid is None:
                pid = f"p{len(processes) + 1}"
                svc = self.s.services.get(item["service"])
                host = svc.pods[copy_ % len(svc.pods)] if svc else item["service"]
                processes[pid] = {"serviceName": item["service"], "tags": [
                    {"key": "hostname", "type": "string", "value": host},
                    {"key": "ip", "type": "string", "value": f"10.42.{n}.{17 + index % 200}"}]}
            tags = [{"key": "span.kind", "type": "string", "value": item.get("kind") or "server"}]
            if item.get("status"):
                tags.append({"key": "http.status_code", "type": "int64", "value": int(item["status"])})
            for key, value in (item.get("tags") or {}).items():
                tags.append({"key": key, "type": "string", "value": value})
            if item.get("error"):
                tags.append({"key": "error", "type": "bool", "value": True})
                tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
            refs = []
            if item.get("parent") is not None:
                refs = [{"refType": "CHILD_OF", "traceID": trace_id, "spanID": f"{trace_id[:12]}{int(item['parent']):04x}"}]
            out.append({"traceID": trace_id, "spanID": f"{trace_id[:12]}{n:04x}", "operationName": item["op"],
                        "references": refs, "startTime": int((start.timestamp() + n * 0.001) * 1e6),
                        "duration": int(float(item["ms"]) * 1000), "tags": tags, "logs": [], "processID": pid,
                        "warnings": None, "flags": 1})
        return {"traceID": trace_id, "spans": out, "processes": processes, "warnings": None}

    def jaeger(self, path: str, params: dict[str, str]) -> httpx.Response:
        def envelope(data: Any) -> httpx.Response:
            total = len(data) if isinstance(data, list) else 0
            return httpx.Response(200, json={"data": data, "total": total, "limit": 0, "offset": 0, "errors": None})

        traces = self.traces()
        if path == "/api/services":
            return envelope(sorted({p["serviceName"] for t in traces for p in t["processes"].values()}))
        if m := re.fullmatch(r"/api/services/([^/]+)/operations", path):
            return envelope(sorted({s["operationName"] for t in traces for s in t["spans"]
                                    if t["processes"][s["processID"]]["serviceName"] == m.group(1)}))
        if path == "/api/dependencies":
            edges: dict[tuple[str, str], int] = {}
            for t in traces:
                by_id = {s["spanID"]: s for s in t["spans"]}
                for s in t["spans"]:
                    for ref in s["references"]:
                        parent = by_id.get(ref["spanID"])
                        if parent is None:
                            continue
                        a = t["processes"][parent["processID"]]["serviceName"]
                        b = t["processes"][s["processID"]]["serviceName"]
                        if a != b:
                            edges[(a, b)] = edges.get((a, b), 0) + 1
            return envelope([{"parent": a, "child": b, "callCount": n} for (a, b), n in sorted(edges.items())])
        if m := re.fullmatch(r"/api/traces/([0-9a-f]+)", path):
            found = [t for t in traces if t["traceID"] == m.group(1)]
            if not found:
                return httpx.Response(404, json={"data": None, "total": 0, "limit": 0, "offset": 0,
                                                 "errors": [{"code": 404, "msg": "trace not found"}]})
            return envelope(found)
        if path != "/api/traces":
            return httpx.Response(404, text="404 page not found\n")
        service = params.get("service")
        if not service:
            return httpx.Response(400, json={"data": None, "total": 0, "limit": 0, "offset": 0,
                                             "errors": [{"code": 400, "msg": "parameter 'service' is required"}]})
        try:
            tags = json.loads(params["tags"]) if params.get("tags") else {}
        except ValueError:
            return httpx.Response(400, json={"data": None, "total": 0, "limit": 0, "offset": 0,
                                             "errors": [{"code": 400, "msg": "malformed 'tags' parameter"}]})
        min_us = _go_duration(params["minDuration"]) * 1e6 if params.get("minDuration") else None
        end = int(params["end"]) if params.get("end") else int(self.now.timestamp() * 1e6)
        start = int(params["start"]) if params.get("start") else end - 3600 * 10**6
        limit = int(params.get("limit") or 20)
        operation = params.get("operation")
        data = []
        for t in sorted(traces, key=lambda t: -t["spans"][0]["startTime"]):
            mine = [s for s in t["spans"] if t["processes"][s["processID"]]["serviceName"] == service]
            if not mine or not start <= t["spans"][0]["startTime"] <= end:
                continue
            if operation and not any(s["operationName"] == operation for s in mine):
                continue
            if tags and not any(all(any(tag["key"] == k and str(tag["value"]).lower() == str(v).lower()
                                        for tag in s["tags"]) for k, v in tags.items()) for s in mine):
                continue
            if min_us is not None and max(s["duration"] for s in mine) < min_us:
                continue
            data.append(t)
            if len(data) >= limit:
                break
        return envelope(data)

    # ================================================================== Kubernetes

    def kubernetes(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        params = request.url.params
        if m := re.fullmatch(r"/api/v1(?:/namespaces/([^/]+))?/events", path):
            return httpx.Response(200, json=self.event_list(m.group(1), params.get("fieldSelector") or "",
                                                            events_api=False))
        if m := re.fullmatch(r"/apis/events\.k8s\.io/v1(?:/namespaces/([^/]+))?/events", path):
            return httpx.Response(200, json=self.event_list(m.group(1), params.get("fieldSelector") or "",
                                                            events_api=True))
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path):
            return httpx.Response(200, json=self.pod_list(m.group(1), params.get("labelSelector") or ""))
        if m := re.fullmatch(r"/apis/autoscaling/v2/namespaces/([^/]+)/horizontalpodautoscalers(?:/([^/]+))?", path):
            return self.hpas(m.group(1), m.group(2))
        return httpx.Response(404, json=_k8s_status(404, "NotFound", "the server could not find the requested resource"))

    def event_list(self, namespace: str | None, field_selector: str, *, events_api: bool) -> dict[str, Any]:
        wanted = []
        for part in filter(None, field_selector.split(",")):
            m = re.fullmatch(r"([\w.]+)\s*(==|!=|=)\s*(.*)", part.strip())
            if m:
                wanted.append((m.group(1), m.group(2), m.group(3)))
        items = []
        for ev in self.s.events:
            if namespace and ev.namespace != namespace:
                continue
            item = self._event(ev)
            fields = {"involvedObject.name": ev.name, "involvedObject.kind": ev.kind,
                      "involvedObject.namespace": ev.namespace if ev.kind != "Node" else "",
                      "type": ev.type, "reason": ev.reason, "metadata.namespace": ev.namespace,
                      "regarding.name": ev.name, "regarding.kind": ev.kind, "reportingController": ev.component,
                      "source": ev.component, "metadata.name": item["metadata"]["name"]}
            if all((fields.get(k, "") == v) == (op != "!=") for k, op, v in wanted):
                items.append(self._events_api(item) if events_api else item)
        items.sort(key=lambda i: i["metadata"]["name"])
        kind = "EventList"
        return {"kind": kind, "apiVersion": "events.k8s.io/v1" if events_api else "v1",
                "metadata": {"resourceVersion": "1905063"}, "items": items}

    def _event(self, ev: Any) -> dict[str, Any]:
        first, last = self.at(ev.first), self.at(ev.last)
        name = f"{ev.name}.{int(first.timestamp() * 1e9):x}"
        obj: dict[str, Any] = {"kind": ev.kind, "name": ev.name}
        if ev.kind == "Node":
            obj["uid"] = ev.name
        else:
            obj.update({"namespace": ev.namespace, "uid": _uuid(ev.name), "apiVersion":
                        {"Pod": "v1", "HorizontalPodAutoscaler": "autoscaling/v2"}.get(ev.kind, "apps/v1"),
                        "resourceVersion": "1902201"})
            if ev.field_path:
                obj["fieldPath"] = ev.field_path
        base: dict[str, Any] = {
            "metadata": {"name": name, "namespace": ev.namespace, "uid": _uuid(name), "resourceVersion": "1903075",
                         "creationTimestamp": _z(first)},
            "involvedObject": obj, "reason": ev.reason, "message": ev.message, "type": ev.type}
        if ev.shape == "events.k8s.io":
            base.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None,
                         "eventTime": first.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                         "series": {"count": ev.count, "lastObservedTime": last.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                         if ev.count > 1 else None, "action": "Scheduling", "reportingComponent": ev.component,
                         "reportingInstance": f"{ev.component}-{ev.host or 'control-plane'}"})
            if base["series"] is None:
                del base["series"]
        else:
            base.update({"source": {"component": ev.component, **({"host": ev.host} if ev.host else {})},
                         "firstTimestamp": _z(first), "lastTimestamp": _z(last), "count": ev.count,
                         "eventTime": None, "reportingComponent": ev.component, "reportingInstance": ev.host or ""})
        return base

    @staticmethod
    def _events_api(item: dict[str, Any]) -> dict[str, Any]:
        out = {"metadata": item["metadata"], "regarding": item["involvedObject"], "reason": item["reason"],
               "note": item["message"], "type": item["type"], "eventTime": item.get("eventTime"),
               "reportingController": item.get("reportingComponent") or "",
               "reportingInstance": item.get("reportingInstance") or ""}
        if item.get("count"):
            out["deprecatedCount"] = item["count"]
            out["deprecatedFirstTimestamp"] = item["firstTimestamp"]
            out["deprecatedLastTimestamp"] = item["lastTimestamp"]
            out["deprecatedSource"] = item["source"]
        if item.get("series"):
            out["series"] = item["series"]
        return out

    def pod_list(self, namespace: str, label_selector: str) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in filter(None, label_selector.replace("==", "=").split(","))
                      if "=" in part and "!=" not in part)
        items = []
        for svc in self.s.services.values():
            if namespace != self.s.namespace:
                continue
            restarts = int(round(svc.signals["restarts"].value(0, bump=False)))
            for pod in svc.pods:
                labels = {"app.kubernetes.io/name": svc.name, "app": svc.name,
                          "pod-template-hash": pod.rsplit("-", 2)[-2] if pod.count("-") >= 2 else "0"}
                if any(labels.get(k) != v for k, v in wanted.items()):
                    continue
                status: dict[str, Any] = {"name": svc.name, "ready": True, "restartCount": restarts,
                                          "image": f"registry.example.com/{namespace}/{svc.name}",
                                          "state": {"running": {"startedAt": _z(self.now - timedelta(minutes=3))}}}
                if svc.oomkilled_since is not None:
                    status["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                                          "startedAt": _z(self.at(svc.oomkilled_since - 5)),
                                                          "finishedAt": _z(self.at(svc.oomkilled_since))}}
                items.append({"metadata": {"name": pod, "namespace": namespace, "labels": labels, "uid": _uuid(pod)},
                              "spec": {"nodeName": svc.node, "containers": [{"name": svc.name}]},
                              "status": {"phase": "Running", "containerStatuses": [status]}})
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1905071"}, "items": items}

    def hpas(self, namespace: str, name: str | None) -> httpx.Response:
        items = []
        for svc in self.s.services.values():
            if svc.kind == "database" or namespace != self.s.namespace:
                continue
            app = self.s.apps.get(svc.name)
            low, high = svc.hpa or (app.hpa if app else (1, max(2, len(svc.pods) * 2)))
            current = int(round(svc.signals["replicas"].value(0, bump=False)))
            limited = current >= high
            conditions = [
                {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                 "message": "recommended size matches current size"},
                {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
                 "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization "
                            "(percentage of request)"},
                {"type": "ScalingLimited", "status": "True" if limited else "False",
                 "reason": "TooManyReplicas" if limited else "DesiredWithinRange",
                 "message": "the desired replica count is more than the maximum replica count" if limited else
                 "the desired count is within the acceptable range"}]
            for c in conditions:
                c["lastTransitionTime"] = _z(self.at(self.s.onset if c["type"] == "ScalingLimited" else -600))
            items.append({"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2",
                          "metadata": {"name": svc.name, "namespace": namespace, "uid": _uuid("hpa", svc.name)},
                          "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.name},
                                   "minReplicas": low, "maxReplicas": high,
                                   "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                                       "type": "Utilization", "averageUtilization": 70}}}]},
                          "status": {"currentReplicas": current, "desiredReplicas": current,
                                     "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                                         "averageUtilization": 96 if limited else 55,
                                         "averageValue": "480m" if limited else "275m"}}}],
                                     "conditions": conditions}})
        if name is not None:
            found = next((i for i in items if i["metadata"]["name"] == name), None)
            if found is None:
                return httpx.Response(404, json=_k8s_status(
                    404, "NotFound", f'horizontalpodautoscalers.autoscaling "{name}" not found'))
            return httpx.Response(200, json=found)
        return httpx.Response(200, json={"kind": "HorizontalPodAutoscalerList", "apiVersion": "autoscaling/v2",
                                         "metadata": {"resourceVersion": "1905071"}, "items": items})


# ====================================================================== helpers: ArgoCD, Kubernetes


class _BadRequest(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def _argocd_error(status: int, message: str, code: int) -> httpx.Response:
    return httpx.Response(status, json={"error": message, "code": code, "message": message})


def _k8s_status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _uuid(*parts: object) -> str:
    h = _hash(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _manifests(app: AppSpec, rev: Revision) -> list[str]:
    ns, name = app.namespace, app.name
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": ns}
    if app.shape in ("helm", "multi"):
        labels |= {"helm.sh/chart": f"{name}-{rev.chart_version}", "app.kubernetes.io/managed-by": "Helm",
                   "app.kubernetes.io/instance": name}

    def meta(group: str, kind: str, object_name: str) -> dict[str, Any]:
        return {"annotations": {"argocd.argoproj.io/tracking-id": f"{name}:{group}/{kind}:{ns}/{object_name}"},
                "labels": dict(labels), "name": object_name, "namespace": ns}

    port = int(rev.config.get("HTTP_PORT", "8080"))
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("", "ConfigMap", f"{name}-config"),
         "data": dict(sorted(rev.config.items()))},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta("", "Service", name),
         "spec": {"ports": [{"name": "http", "port": port, "targetPort": "http"}],
                  "selector": {"app.kubernetes.io/name": name}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("apps", "Deployment", name),
         "spec": {"revisionHistoryLimit": 5, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                  "strategy": {"rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}, "type": "RollingUpdate"},
                  "template": {"metadata": {"labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": ns}},
                               "spec": {"containers": [{
                                   "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
                                   "image": f"{app.image_repo}:{rev.image_tag}", "name": name,
                                   "ports": [{"containerPort": port, "name": "http"}],
                                   "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
                                   "resources": {"limits": {"memory": app.memory_limit},
                                                 "requests": {"cpu": "500m", "memory": app.memory_limit}}}]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": meta("autoscaling", "HorizontalPodAutoscaler", name),
         "spec": {"maxReplicas": app.hpa[1], "minReplicas": app.hpa[0],
                  "metrics": [{"resource": {"name": "cpu", "target": {"averageUtilization": 70, "type": "Utilization"}},
                               "type": "Resource"}],
                  "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}}},
    ]
    return [json.dumps(o, sort_keys=True, separators=(",", ":")) for o in objects]


# ====================================================================== helpers: Loki

_MATCHER = re.compile(r'([A-Za-z_][\w.]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)')
_FILTER = re.compile(r'(\|=|!=|\|~|!~)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)')


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return json.loads(text)


def _go_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("(?i)", "(?i:") + ")" if pattern.startswith("(?i)") else pattern)


def _loki_selector(query: str) -> tuple[list[tuple[str, str, str]], list[Callable[[str], bool]]] | None:
    start = query.find("{")
    if start < 0:
        return None
    end = query.find("}", start)
    if end < 0:
        return None
    matchers = [(m.group(1), m.group(2), _unquote(m.group(3))) for m in _MATCHER.finditer(query[start + 1:end])]
    if not matchers:
        return None
    filters: list[Callable[[str], bool]] = []
    for m in _FILTER.finditer(query[end + 1:]):
        op, value = m.group(1), _unquote(m.group(2))
        try:
            if op == "|=":
                filters.append(lambda line, v=value: v in line)
            elif op == "!=":
                filters.append(lambda line, v=value: v not in line)
            else:
                rx = _go_regex(value)
                filters.append((lambda line, r=rx: bool(r.search(line))) if op == "|~" else
                               (lambda line, r=rx: not r.search(line)))
        except re.error:
            continue
    return matchers, filters


def _labels_match(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        have = labels.get(name, "")
        try:
            if op == "=" and have != value:
                return False
            if op == "!=" and have == value:
                return False
            if op == "=~" and not re.fullmatch(value, have):
                return False
            if op == "!~" and re.fullmatch(value, have):
                return False
        except re.error:
            return False
    return True


def _is_loki_metric(query: str) -> bool:
    return bool(re.match(r"\s*(sum|count|avg|max|min|topk|rate|count_over_time|bytes_over_time|bytes_rate|"
                         r"sum_over_time)\b", query))


def _loki_matrix(query: str, entries: list[tuple[int, dict[str, str], str]], start: int, end: int,
                 step: float) -> list[dict[str, Any]]:
    window_m = re.search(r"\[(\d+[smhd])\]", query)
    window = _go_duration(window_m.group(1)) if window_m else 60.0
    by_m = re.search(r"\bby\s*\(([^)]*)\)", query)
    by = [b.strip() for b in by_m.group(1).split(",") if b.strip()] if by_m else None
    aggregated = bool(re.match(r"\s*(sum|count|avg|max|min)\b", query))
    rate = "rate(" in query
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for ns, labels, _ in entries:
        key = tuple((k, labels.get(k, "")) for k in by) if by is not None else (
            () if aggregated else tuple(sorted(labels.items())))
        groups.setdefault(key, []).append(ns)
    result = []
    t = start / 1e9
    times = []
    while t <= end / 1e9 + 1e-9:
        times.append(t)
        t += step
    for key, stamps in groups.items():
        values = []
        for t in times:
            n = sum(1 for s in stamps if t - window < s / 1e9 <= t)
            if n:
                values.append([round(t, 3), _num(n / window if rate else float(n))])
        if values:
            result.append({"metric": {k: v for k, v in key if v}, "values": values})
    return result


def _loki_time(value: str | None, default: datetime) -> int:
    if not value:
        return int(default.timestamp() * 1e9)
    if "T" in value:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
    number = float(value)
    return int(number) if number > 1e14 else int(number * 1e9)


# ====================================================================== helpers: Prometheus

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y|us|µs|ns)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
          "w": 604800.0, "y": 31536000.0}


def _go_duration(text: str) -> float:
    parts = _DURATION.findall(text.strip())
    if not parts:
        return float(text)
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _prom_step(value: str | None, *, default: float) -> float:
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        return _go_duration(value)


def _prom_time(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class _Series:
    """One time series: its labels, the entity it belongs to (for joins), and its value at a minute
    (None: absent then). ``counter``: the value is a per-second rate, the raw counter is its integral."""

    labels: dict[str, str]
    entity: tuple[str, ...]
    fn: Callable[[float], float | None]
    counter: bool = False
    combine: str = "sum"  # how ``sum`` treats it: "sum", or "max" for a quantile-like pseudo series


def _catalogue(s: Scenario, now: datetime) -> dict[str, list[_Series]]:
    """Every series the scenario's cluster exports, by metric name."""
    out: dict[str, list[_Series]] = {}

    def add(metric: str, labels: dict[str, str], entity: tuple[str, ...], fn: Callable[[float], float | None],
            **kw: Any) -> None:
        out.setdefault(metric, []).append(_Series(labels, entity, fn, **kw))

    ns, label = s.namespace, s.prom_label
    for svc in s.services.values():
        sig = svc.signals
        ident = {label: svc.name, "namespace": ns}
        if svc.kind != "database":
            for code, share in (("200", lambda m, sig=sig: 1 - sig["err"].value(m)),
                                ("500", lambda m, sig=sig: sig["err"].value(m))):
                for pod in svc.pods:
                    add("http_requests_total", {**ident, "job": svc.name, "pod": pod, "code": code, "method": "GET"},
                        (svc.name, pod),
                        lambda m, sig=sig, share=share, n=len(svc.pods): max(sig["rps"].value(m), 0) * share(m) / n,
                        counter=True)
            add("http_request_duration_seconds_bucket", {**ident, "job": svc.name}, (svc.name,),
                lambda m, sig=sig: sig["p99"].value(m), combine="max")
        pods = list(svc.pods)
        mem = sig["mem"]
        old: list[str] = []
        if mem.bump_at is not None:
            rs = pods[0].rsplit("-", 2)[-2] if pods[0].count("-") >= 2 else ""
            old = [p.replace(rs, _hash(rs, "old")[:len(rs)]) for p in pods] if rs else []
        for group, alive in ((pods, lambda m, mem=mem: mem.bump_at is None or m >= mem.bump_at),
                             (old, lambda m, mem=mem: m < (mem.bump_at or 0) + mem.bump_len)):
            for pod in group:
                base = {**ident, "pod": pod, "container": svc.name, "job": "kubelet", "metrics_path": "/metrics/cadvisor",
                        "node": svc.node, "image": f"registry.example.com/{ns}/{svc.name}"}
                ent = (svc.name, pod)
                n = len(pods)

                def gated(f: Callable[[float], float], alive: Callable[[float], bool] = alive) -> Callable[[float], float | None]:
                    return lambda m: f(m) if alive(m) else None

                add("container_memory_working_set_bytes", base, ent, gated(lambda m, mem=mem: mem.value(m, bump=False)))
                add("container_spec_memory_limit_bytes", base, ent, gated(lambda m, sig=sig: sig["mem_limit"].value(m)))
                add("container_cpu_usage_seconds_total", {**base, "cpu": "total"}, ent,
                    gated(lambda m, sig=sig, n=n: sig["cpu"].value(m, bump=False) / n), counter=True)
                add("container_cpu_cfs_periods_total", base, ent, gated(lambda m: 10.0), counter=True)
                add("container_cpu_cfs_throttled_periods_total", base, ent,
                    gated(lambda m, sig=sig: 10.0 * min(max(sig["throttle"].value(m), 0), 1)), counter=True)
                ksm = {**ident, "pod": pod, "container": svc.name, "uid": _uuid(pod), "job": "kube-state-metrics"}
                add("kube_pod_container_status_restarts_total", ksm, ent,
                    gated(lambda m, sig=sig, n=n: sig["restarts"].value(m) / 900.0 / n), counter=True)
                if svc.oomkilled_since is not None:
                    add("kube_pod_container_status_last_terminated_reason", {**ksm, "reason": "OOMKilled"}, ent,
                        lambda m, since=svc.oomkilled_since: 1.0 if m >= since else None)
                add("kube_pod_container_status_ready", ksm, ent, gated(lambda m: 1.0))
        if svc.kind == "database":
            continue
        app = s.apps.get(svc.name)
        low, high = svc.hpa or (app.hpa if app else (1, max(2, len(pods) * 2)))
        hpa = {**ident, "horizontalpodautoscaler": svc.name, "job": "kube-state-metrics"}
        replicas = sig["replicas"]
        add("kube_horizontalpodautoscaler_status_current_replicas", hpa, (svc.name,), lambda m, r=replicas: float(round(r.value(m))))
        add("kube_horizontalpodautoscaler_status_desired_replicas", hpa, (svc.name,), lambda m, r=replicas: float(round(r.value(m))))
        add("kube_horizontalpodautoscaler_spec_max_replicas", hpa, (svc.name,), lambda m, h=high: float(h))
        add("kube_horizontalpodautoscaler_spec_min_replicas", hpa, (svc.name,), lambda m, lo=low: float(lo))
        for status in ("true", "false"):
            add("kube_horizontalpodautoscaler_status_condition",
                {**hpa, "condition": "ScalingLimited", "status": status}, (svc.name,),
                lambda m, r=replicas, h=high, st=status: float((round(r.value(m)) >= h) == (st == "true")))
        dep = {**ident, "deployment": svc.name, "job": "kube-state-metrics"}
        add("kube_deployment_spec_replicas", dep, (svc.name,), lambda m, r=replicas: float(round(r.value(m))))
        add("kube_deployment_status_replicas_available", dep, (svc.name,),
            lambda m, r=replicas, oom=svc.oomkilled_since: float(round(r.value(m)) - (oom is not None and m >= oom)))
    nodes = {n.name: n for n in s.nodes}
    for svc in s.services.values():
        if svc.node not in nodes:
            nodes[svc.node] = NodeSpec(svc.node, "/", "/dev/nvme0n1", 100 * 2**30, Curve(58 * 2**30, noise=0.002))
    for i, node in enumerate(nodes.values()):
        instance = f"10.20.{i}.{11 + i}:9100"
        for fs in ([(node.mountpoint, node.device, "ext4", node.size, node.avail)] +
                   [("/run", "tmpfs", "tmpfs", 3.2 * 2**30, None)] +
                   ([("/", "/dev/nvme0n1", "ext4", 100 * 2**30, None)] if node.mountpoint != "/" else [])):
            mount, device, fstype, size, avail = fs
            labels = {"instance": instance, "job": "node-exporter", "node": node.name, "device": device,
                      "mountpoint": mount, "fstype": fstype}
            ent = (node.name, mount)
            add("node_filesystem_size_bytes", labels, ent, lambda m, size=size: size)
            add("node_filesystem_avail_bytes", labels, ent,
                (lambda m, a=avail: max(a.value(m), 0.0)) if avail is not None else (lambda m, size=size: size * 0.62))
            add("node_filesystem_free_bytes", labels, ent,
                (lambda m, a=avail: max(a.value(m), 0.0)) if avail is not None else (lambda m, size=size: size * 0.64))
    for probe in s.probes:
        labels = {"instance": probe.instance, "job": "blackbox", "module": probe.module}
        add("probe_success", labels, (probe.instance,), lambda m, c=probe.success: float(round(c.value(m))))
        if probe.ssl_expiry_min is not None:
            expiry = now.timestamp() + probe.ssl_expiry_min * 60
            add("probe_ssl_earliest_cert_expiry", labels, (probe.instance,), lambda m, e=expiry: e)
    return out


class _Unsupported(Exception):
    pass


_AGG = re.compile(r"^(sum|max|min|avg|count)\s*(?:(by|without)\s*\(([^)]*)\)\s*)?\(")
_FUNC = re.compile(r"^(rate|irate|increase|delta|deriv|avg_over_time|max_over_time|min_over_time|last_over_time|"
                   r"sum_over_time|abs|ceil|floor|round|clamp_min|clamp_max|predict_linear|histogram_quantile|"
                   r"time|vector|scalar|sort|sort_desc|topk|bottomk)\s*\(")
_SELECTOR = re.compile(r"^([a-zA-Z_:][\w:]*)?\s*(\{[^}]*\})?\s*(\[[^\]]+\])?\s*(offset\s+-?\d+[smhdwy])?\s*$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[+-]?\d+)?$")
_IGNORED = {"code", "status", "status_code", "le", "method", "handler", "route", "path", "uri", "outcome",
            "__name__"}
Vec = list[tuple[dict[str, str], tuple[str, ...], list[float | None]]]


class _Evaluator:
    """Just enough PromQL for the queries a collector sends: vectors of (labels, entity, values)."""

    def __init__(self, series: dict[str, list[_Series]], times: list[float], minute: Callable[[float], float]) -> None:
        self.series = series
        self.times = times
        self.minute = minute
        #: entities of quantile-like pseudo series: ``sum`` over them keeps the largest
        self.maxed: set[tuple[str, ...]] = set()

    def run(self, query: str) -> list[tuple[dict[str, str], list[float | None]]]:
        result = self.expr(query.strip())
        if isinstance(result, float):
            return [({}, [result] * len(self.times))]
        return [(labels, values) for labels, _, values in result]

    # --- parsing by splitting at the lowest-precedence operator outside brackets and quotes

    def expr(self, text: str) -> Vec | float:
        text = _strip_parens(text.strip())
        for ops in ((" or ", " unless ", " and "), ("==", "!=", ">=", "<=", ">", "<"), ("+", "-"), ("*", "/", "%")):
            split = _split_top(text, ops)
            if split:
                left, op, right = split
                return self.binary(left, op.strip(), right)
        if _NUMBER.match(text):
            return float(text)
        if m := _AGG.match(text):
            inner, rest = _call_args(text, m.end() - 1)
            by_kind, labels = m.group(2), m.group(3)
            if not by_kind and (mm := re.match(r"^\s*(by|without)\s*\(([^)]*)\)\s*$", rest)):
                by_kind, labels = mm.group(1), mm.group(2)
            elif rest.strip():
                raise _Unsupported(text)
            names = [x.strip() for x in (labels or "").split(",") if x.strip()]
            return self.aggregate(m.group(1), self.vector(inner), by_kind, names)
        if m := _FUNC.match(text):
            args_text, rest = _call_args(text, m.end() - 1)
            if rest.strip():
                raise _Unsupported(text)
            return self.function(m.group(1), _split_args(args_text))
        return self.selector(text)

    def vector(self, text: str) -> Vec:
        value = self.expr(text)
        if isinstance(value, float):
            return [({}, (), [value] * len(self.times))]
        return value

    def binary(self, left: str, op: str, right: str) -> Vec | float:
        bool_mode = False
        modifiers = re.match(r"^\s*(bool\s+)?((?:on|ignoring)\s*\([^)]*\)\s*)?((?:group_left|group_right)"
                             r"\s*(\([^)]*\))?\s*)?", right)
        if modifiers and modifiers.group(0):
            bool_mode = bool(modifiers.group(1))
            right = right[modifiers.end():]
        a, b = self.expr(left), self.expr(right)
        if isinstance(a, float) and isinstance(b, float):
            return _arith(op, a, b) if op in "+-*/%" else float(_compare(op, a, b))
        if op in ("and", "unless", "or"):
            av, bv = self.vector(left) if isinstance(a, float) else a, self.vector(right) if isinstance(b, float) else b
            out: Vec = []
            for labels, ent, values in av:
                partner = [v for _, e, v in bv if _joins(ent, e)]
                if op == "or":
                    out.append((labels, ent, values))
                    continue
                kept = []
                for i, value in enumerate(values):
                    present = any(p[i] is not None for p in partner)
                    kept.append(value if (present if op == "and" else not present) else None)
                out.append((labels, ent, kept))
            if op == "or":
                out += [(lab, e, v) for lab, e, v in bv if not any(_joins(e, x[1]) for x in av)]
            return out
        comparison = op in ("==", "!=", ">=", "<=", ">", "<")
        if isinstance(b, float) or isinstance(a, float):
            vec, scalar, flip = (a, b, False) if isinstance(b, float) else (b, a, True)
            assert isinstance(vec, list) and isinstance(scalar, float)
            out = []
            for labels, ent, values in vec:
                new: list[float | None] = []
                for value in values:
                    if value is None:
                        new.append(None)
                        continue
                    x, y = (scalar, value) if flip else (value, scalar)
                    if comparison:
                        ok = _compare(op, x, y)
                        new.append(float(ok) if bool_mode else (value if ok else None))
                    else:
                        new.append(_arith(op, x, y))
                out.append((labels if comparison and not bool_mode else _drop_name(labels), ent, new))
            return out
        out = []
        for labels, ent, values in a:
            partners = [(lab, e, v) for lab, e, v in b if _joins(ent, e)]
            if not partners:
                continue
            pv = partners[0][2]
            new = []
            for x, y in zip(values, pv, strict=True):
                if x is None or y is None:
                    new.append(None)
                elif comparison:
                    ok = _compare(op, x, y)
                    new.append(float(ok) if bool_mode else (x if ok else None))
                else:
                    new.append(_arith(op, x, y))
            out.append((labels, ent if len(ent) >= len(partners[0][1]) else partners[0][1], new))
        return out

    def aggregate(self, how: str, vec: Vec, by_kind: str | None, names: list[str]) -> Vec:
        groups: dict[tuple[tuple[str, str], ...], list[tuple[dict[str, str], tuple[str, ...], list[float | None]]]] = {}
        for labels, ent, values in vec:
            if by_kind == "by":
                key = tuple((n, labels[n]) for n in names if n in labels)
            elif by_kind == "without":
                key = tuple(sorted((k, v) for k, v in labels.items() if k not in names))
            else:
                key = ()
            groups.setdefault(key, []).append((labels, ent, values))
        out: Vec = []
        for key, members in groups.items():
            ents = {m[1] for m in members}
            services = {e[0] for e in ents if e}
            entity = next(iter(ents)) if len(ents) == 1 else ((next(iter(services)),) if len(services) == 1 else ())
            values: list[float | None] = []
            for i in range(len(self.times)):
                present = [m[2][i] for m in members if m[2][i] is not None]
                if not present:
                    values.append(None)
                elif how == "count":
                    values.append(float(len(present)))
                elif how == "max" or (how == "sum" and any(m[1] in self.maxed for m in members)):
                    values.append(max(present))
                elif how == "min":
                    values.append(min(present))
                elif how == "avg":
                    values.append(sum(present) / len(present))
                else:
                    values.append(sum(present))
            out.append((dict(key), entity, values))
        return out

    def function(self, name: str, args: list[str]) -> Vec | float:
        if name == "time":
            return [({}, (), [float(t) for t in self.times])]
        if name in ("vector", "scalar", "sort", "sort_desc"):
            return self.expr(args[0])
        if name in ("topk", "bottomk"):
            return self.vector(args[1])
        if name in ("vector", "scalar"):
            return self.expr(args[0])
        if name == "histogram_quantile":
            q = float(args[0])
            factor = {0.5: 0.35, 0.9: 0.7, 0.95: 0.85}.get(q, 1.0)
            inner = self.vector(args[1])
            return [(_drop_name({k: v for k, v in lab.items() if k != "le"}), e,
                     [None if v is None else v * factor for v in vals]) for lab, e, vals in inner]
        if name in ("abs", "ceil", "floor", "round", "clamp_min", "clamp_max"):
            inner = self.vector(args[0])
            fn: Callable[[float], float] = {"abs": abs, "ceil": math.ceil, "floor": math.floor, "round": round}.get(
                name, (lambda v, lim=float(args[1]) if len(args) > 1 else 0.0, n=name:
                       max(v, lim) if n == "clamp_min" else min(v, lim)))
            return [(_drop_name(lab), e, [None if v is None else float(fn(v)) for v in vals]) for lab, e, vals in inner]
        target = args[0]
        m = re.search(r"\[(\d+[smhdwy])(?::\d*[smhdwy]?)?\]", target)
        window = _go_duration(m.group(1)) if m else 300.0
        if name == "predict_linear":
            horizon = float(eval(args[1], {"__builtins__": {}}, {})) if len(args) > 1 else 0.0  # noqa: S307
            now_vec = self.selector(target, raw=True)
            then_vec = self.selector(target, raw=True, shift=window)
            out = []
            for (labels, ent, now), (_, _, then) in zip(now_vec, then_vec, strict=True):
                out.append((_drop_name(labels), ent, [None if x is None or y is None else x + (x - y) / window * horizon
                                                      for x, y in zip(now, then, strict=True)]))
            return out
        vec = self.selector(target, mode=name, window=window)
        return vec

    def selector(self, text: str, *, mode: str | None = None, window: float = 300.0, raw: bool = False,
                 shift: float = 0.0) -> Vec:
        m = _SELECTOR.match(text.strip())
        if not m or not (m.group(1) or m.group(2)):
            raise _Unsupported(text)
        metric = m.group(1)
        matchers = [(mm.group(1), mm.group(2), _unquote(mm.group(3))) for mm in _MATCHER.finditer(m.group(2) or "")]
        if metric is None:
            metric = next((v for k, op, v in matchers if k == "__name__" and op == "="), None)
            if metric is None:
                raise _Unsupported(text)
        offset = _go_duration(m.group(4).split()[1]) if m.group(4) else 0.0
        out: Vec = []
        for series in self.series.get(metric, []):
            if not all(_prom_match(series.labels, name, op, value) for name, op, value in matchers
                       if name not in _IGNORED or name in series.labels):
                continue
            values: list[float | None] = []
            for t in self.times:
                minute = self.minute(t - offset - shift)
                value = series.fn(minute)
                if value is None:
                    values.append(None)
                    continue
                if series.counter:
                    if mode in ("rate", "irate", "deriv"):
                        pass
                    elif mode in ("increase", "delta"):
                        value = value * window
                    else:  # the raw counter: its integral since an hour ago, enough to look like a counter
                        value = value * (3600 + (t - self.times[0]))
                values.append(value)
            labels = {"__name__": metric, **series.labels} if mode is None else dict(series.labels)
            if series.combine == "max":
                self.maxed.add(series.entity)
            out.append((labels, series.entity, values))
        return out


def _drop_name(labels: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k != "__name__"}


def _joins(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a or not b:
        return True
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _prom_match(labels: dict[str, str], name: str, op: str, value: str) -> bool:
    have = labels.get(name, "")
    try:
        if op == "=":
            return have == value
        if op == "!=":
            return have != value
        if op == "=~":
            return bool(re.fullmatch(value, have))
        return not re.fullmatch(value, have)
    except re.error:
        return False


def _arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a))
    return math.fmod(a, b) if b else math.nan


def _compare(op: str, a: float, b: float) -> bool:
    return {"==": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]


def _strip_parens(text: str) -> str:
    while text.startswith("(") and _matching(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _matching(text: str, start: int) -> int:
    depth, quote = 0, ""
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if c == "\\":
                continue
            if c == quote and text[i - 1] != "\\":
                quote = ""
            continue
        if c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _call_args(text: str, open_at: int) -> tuple[str, str]:
    close = _matching(text, open_at)
    if close < 0:
        raise _Unsupported(text)
    return text[open_at + 1:close], text[close + 1:]


def _split_args(text: str) -> list[str]:
    parts, depth, quote, start = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            if c == quote and text[i - 1] != "\\":
                quote = ""
            continue
        if c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _split_top(text: str, ops: tuple[str, ...]) -> tuple[str, str, str] | None:
    """The rightmost operator of ``ops`` outside brackets and quotes (operators are left-associative)."""
    depth, quote, i = 0, "", 0
    found: tuple[int, str] | None = None
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote and text[i - 1] != "\\":
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            op = next((o for o in ops if text.startswith(o, i)), None)
            if op is not None and not (op in ("+", "-") and _is_sign_or_exponent(text, i)) \
                    and not (op in (">", "<") and text[i + 1:i + 2] == "="):
                found = (i, op)
                i += len(op)
                continue
        i += 1
    if found is None:
        return None
    at, op = found
    left, right = text[:at].strip(), text[at + len(op):].strip()
    if not left or not right:
        return None
    return left, op, right


def _is_sign_or_exponent(text: str, i: int) -> bool:
    before = text[:i].rstrip()
    if not before or before[-1] in "(,+-*/%<>=":
        return True
    return bool(re.search(r"\d[eE]$", text[:i]))
