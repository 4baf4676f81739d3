"""Fake Loki, Prometheus, ArgoCD and Jaeger: real HTTP, the upstreams' own paths, parameters, body
shapes and error shapes (``../shared/fixtures/upstream/``), serving a ``Scenario``.

Each is a ``FakeUpstream``: ``FakeLoki(feed).asgi()`` is a Starlette app with the upstream's routes plus
``/_control/faults`` and ``/_calls``. In ``server.py`` they share one ``FaultBoard`` and are mounted
under ``/loki``, ``/prometheus``, ``/argocd``, ``/jaeger``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.faults import Fault, FaultBoard, FakeUpstream
from bot.sandbox.query import (
    NON_SERVICE_LABELS,
    LogQuery,
    MetricQuery,
    QueryError,
    check_promql,
    extracted_labels,
    go_duration,
    loki_time_ns,
    parse_logql,
    prom_duration,
    promql_matchers,
    promql_series,
    unix_seconds,
)
from bot.sandbox.scenario import (
    CHART_REPO_URL,
    GIT_REPO_URL,
    VALUES_BRANCH,
    VALUES_REPO_URL,
    HistoryEntry,
    LogEntry,
    Scenario,
    ScenarioFeed,
)

HOUR_NS = 3600 * 1_000_000_000


async def request_params(request: Request) -> dict[str, str]:
    """Query string merged with a form-encoded body (Prometheus and Slack accept both)."""
    params = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
        body = (await request.body()).decode("utf-8", errors="replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


def _text(body: str) -> Callable[[Request], Awaitable[Response]]:
    """An async endpoint answering ``body`` (async: no threadpool in the fake's loop)."""

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse(body)

    return endpoint


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


# =========================================================================== Loki


class FakeLoki(FakeUpstream):
    """``GET /loki/api/v1/query_range`` (streams or matrix), ``/loki/api/v1/labels``,
    ``/loki/api/v1/label/{name}/values``. ``tenant``: when set, ``X-Scope-OrgID`` must equal it."""

    name = "loki"
    max_entries = 5000

    def __init__(self, feed: ScenarioFeed, *, tenant: str | None = None,
                 board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.feed = feed
        self.tenant = tenant
        #: lines added at run time (``POST /_control/loki/lines``), besides the scenario's own
        self.extra: list[LogEntry] = []

    def entries(self) -> list[LogEntry]:
        if not self.extra:
            return self.feed.log_entries()
        return sorted([*self.feed.log_entries(), *self.extra], key=lambda e: e.ts_ns)

    def reset(self) -> None:
        super().reset()
        self.extra.clear()

    async def add_lines(self, request: Request) -> Response:
        """Control: ``[{"line": str, "level": "error", "service": "checkout"}]`` logged now (a log line
        carrying a secret or an injection attempt, for the tests)."""
        scenario = self.feed.current()
        now_ns = int(time.time() * 1e9)
        for i, item in enumerate(await request.json()):
            labels = (("container", "app"), ("level", str(item.get("level", "error"))),
                      ("namespace", scenario.namespace), ("pod", f"{scenario.service}-7d9f8b6c5-x2k4q"),
                      ("service", str(item.get("service", scenario.service))))
            self.extra.append(LogEntry(labels, now_ns - 5_000_000_000 + i * 1_000_000, str(item["line"])))
        return JSONResponse({"lines": len(self.extra)})

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/loki/api/v1/query_range", self.query_range, methods=["GET", "POST"]),
            Route("/loki/api/v1/labels", self.labels, methods=["GET", "POST"]),
            Route("/loki/api/v1/label/{name}/values", self.label_values, methods=["GET", "POST"]),
            Route("/ready", _text("ready\n")),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        return PlainTextResponse(fault.message or f"rpc error: code = Internal desc = injected fault "
                                 f"(HTTP {status})\n", status_code=status)

    def _tenant_error(self, request: Request) -> Response | None:
        if self.tenant is not None and request.headers.get("x-scope-orgid") != self.tenant:
            return PlainTextResponse("no org id\n", status_code=401)
        return None

    def _window(self, params: Mapping[str, str], scenario: Scenario, *, since_ns: int = HOUR_NS
                ) -> tuple[int, int]:
        end = loki_time_ns(params["end"]) if params.get("end") else int(scenario.now_s * 1e9)
        start = loki_time_ns(params["start"]) if params.get("start") else end - since_ns
        if end < start:
            raise QueryError("end timestamp must not be before or equal to start time")
        return start, end

    async def query_range(self, request: Request) -> Response:
        params = await request_params(request)
        self.record(request, query=params, tenant=request.headers.get("x-scope-orgid"))
        if denied := self._tenant_error(request):
            return denied
        scenario = self.feed.current()
        try:
            parsed = parse_logql(params.get("query", ""))
            start, end = self._window(params, scenario)
            limit = int(params.get("limit", "100"))
            if limit <= 0:
                raise QueryError("limit must be a positive value")
            if limit > self.max_entries:
                raise QueryError(f"max entries limit per query exceeded, limit > "
                                 f"max_entries_limit_per_query ({limit} > {self.max_entries})")
            direction = params.get("direction", "backward").lower()
            if direction not in ("forward", "backward"):
                raise QueryError(f"invalid direction '{params['direction']}'")
            if isinstance(parsed, MetricQuery):
                step = prom_duration(params["step"]) if params.get("step") else \
                    max(1.0, math.ceil((end - start) / 1e9 / 250))
                if step <= 0:
                    raise QueryError("zero or negative query resolution step widths are not accepted. "
                                     "Try a positive integer")
                return JSONResponse(self._matrix(parsed, scenario, start=start, end=end, step=step))
        except (QueryError, ValueError) as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        return JSONResponse(self._streams(parsed, scenario, start=start, end=end, limit=limit,
                                          backward=direction == "backward"))

    def _select(self, query: LogQuery, scenario: Scenario, *, start: int, end: int) -> list[LogEntry]:
        return [
            entry for entry in self.entries()
            if start <= entry.ts_ns < end and query.selects(entry.label_dict)
            and query.keeps(entry.label_dict, entry.line)
        ]

    def _streams(self, query: LogQuery, scenario: Scenario, *, start: int, end: int, limit: int,
                 backward: bool) -> dict[str, Any]:
        began = time.perf_counter()
        entries = self._select(query, scenario, start=start, end=end)
        entries.sort(key=lambda e: e.ts_ns, reverse=backward)
        entries = entries[:limit]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for entry in entries:
            labels = entry.labels
            if query.parser:
                extra = extracted_labels(entry.line, query.parser)
                labels = tuple(sorted({**entry.label_dict, **extra}.items()))
            streams.setdefault(labels, []).append([str(entry.ts_ns), entry.line])
        scanned = [e for e in self.entries() if start <= e.ts_ns < end]
        return {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": [{"stream": dict(labels), "values": values} for labels, values in streams.items()],
                "stats": _loki_stats(scanned, time.perf_counter() - began),
            },
        }

    def _matrix(self, query: MetricQuery, scenario: Scenario, *, start: int, end: int, step: float
                ) -> dict[str, Any]:
        began = time.perf_counter()
        range_ns = int(query.range_s * 1e9)
        entries = self._select(query.log, scenario, start=start - range_ns, end=end + 1)
        series: dict[tuple[tuple[str, str], ...], list[list[Any]]] = {}
        steps = int((end - start) / 1e9 // step) + 1
        for k in range(steps):
            at = start + int(k * step * 1e9)
            groups: dict[tuple[tuple[str, str], ...], float] = {}
            for entry in entries:
                if not at - range_ns < entry.ts_ns <= at:
                    continue
                labels = {**entry.label_dict, **extracted_labels(entry.line, query.log.parser)}
                if query.aggregation is not None:
                    labels = {k: v for k, v in labels.items() if k in (query.by or ())}
                key = tuple(sorted(labels.items()))
                amount = len(entry.line) if query.function.startswith("bytes") else 1
                groups[key] = groups.get(key, 0.0) + amount
            for key, total in groups.items():
                value = total / query.range_s if query.function in ("rate", "bytes_rate") else total
                series.setdefault(key, []).append([_num(at / 1e9), _num_str(value)])
        return {
            "status": "success",
            "data": {
                "resultType": "matrix",
                "result": [{"metric": dict(key), "values": values} for key, values in series.items()],
                "stats": _loki_stats(entries, time.perf_counter() - began),
            },
        }

    async def labels(self, request: Request) -> Response:
        self.record(request)
        if denied := self._tenant_error(request):
            return denied
        scenario = self.feed.current()
        try:
            start, end = self._window(dict(request.query_params), scenario, since_ns=6 * HOUR_NS)
        except QueryError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        names = {k for e in self.entries() if start <= e.ts_ns < end for k, _ in e.labels}
        return JSONResponse({"status": "success", "data": sorted(names)})

    async def label_values(self, request: Request) -> Response:
        self.record(request)
        if denied := self._tenant_error(request):
            return denied
        scenario = self.feed.current()
        name = request.path_params["name"]
        try:
            start, end = self._window(dict(request.query_params), scenario, since_ns=6 * HOUR_NS)
        except QueryError as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        values = {e.label_dict[name] for e in self.entries()
                  if start <= e.ts_ns < end and name in e.label_dict}
        return JSONResponse({"status": "success", "data": sorted(values)})


def _loki_stats(entries: list[LogEntry], elapsed: float) -> dict[str, Any]:
    total_bytes = sum(len(e.line) for e in entries)
    elapsed = max(elapsed, 1e-6)
    return {"summary": {
        "bytesProcessedPerSecond": int(total_bytes / elapsed),
        "linesProcessedPerSecond": int(len(entries) / elapsed),
        "totalBytesProcessed": total_bytes,
        "totalLinesProcessed": len(entries),
        "execTime": round(elapsed, 6),
    }}


def _num_str(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(value, 6))


# =========================================================================== Prometheus


class FakePrometheus(FakeUpstream):
    """``GET|POST /api/v1/query_range`` and ``/api/v1/query``: the scenario series a query names
    (by metric name, see ``query.promql_series``) for the service its label matchers select."""

    name = "prometheus"
    max_points = 11_000

    def __init__(self, feed: ScenarioFeed, *, board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.feed = feed

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/query_range", self.query_range, methods=["GET", "POST"]),
            Route("/api/v1/query", self.query, methods=["GET", "POST"]),
            Route("/api/v1/alerts", self.alerts),
            Route("/api/v1/status/buildinfo", self.buildinfo),
            Route("/api/v1/label/{name}/values", self.label_values),
            Route("/-/ready", _text("Prometheus Server is Ready.\n")),
            Route("/-/healthy", _text("Prometheus Server is Healthy.\n")),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        kind = {400: "bad_data", 422: "execution", 503: "unavailable"}.get(status, "internal")
        return _prom_error(kind, fault.message or f"injected fault (HTTP {status})", status)

    def series_for(self, query: str, scenario: Scenario) -> str | None:
        """The scenario series ``query`` asks for, or None (unknown metric or another service)."""
        series = promql_series(query)
        if series is None:
            return None
        for matcher in promql_matchers(query):
            if matcher.name == "namespace":
                if not matcher.matches(scenario.namespace):
                    return None
            elif matcher.name not in NON_SERVICE_LABELS and not matcher.matches(scenario.service):
                return None
        return series

    async def query_range(self, request: Request) -> Response:
        params = await request_params(request)
        self.record(request, query=params)
        try:
            query = params.get("query", "")
            check_promql(query)
            start = _prom_param(params, "start", unix_seconds)
            end = _prom_param(params, "end", unix_seconds)
            step = _prom_param(params, "step", prom_duration)
            if end < start:
                raise QueryError('invalid parameter "end": end timestamp must not be before start time')
            if step <= 0:
                raise QueryError('invalid parameter "step": zero or negative query resolution step '
                                 "widths are not accepted. Try a positive integer")
            if (end - start) / step > self.max_points:
                raise QueryError("exceeded maximum resolution of 11,000 points per timeseries. "
                                 "Try decreasing the query resolution (?step=XX)")
        except QueryError as exc:
            return _prom_error("bad_data", str(exc), 400)
        result: list[dict[str, Any]] = []
        for scenario in self.feed.all():
            if (series := self.series_for(query, scenario)) is not None:
                points = scenario.metric_points(series, start=start, end=end, step=step)
                if points:
                    result.append({"metric": scenario.metric_labels(), "values": points})
        return JSONResponse({"status": "success", "data": {"resultType": "matrix", "result": result}})

    async def query(self, request: Request) -> Response:
        params = await request_params(request)
        self.record(request, query=params)
        try:
            query = params.get("query", "")
            check_promql(query)
            at = unix_seconds(params["time"]) if params.get("time") else time.time()
        except QueryError as exc:
            return _prom_error("bad_data", str(exc), 400)
        result: list[dict[str, Any]] = []
        for scenario in self.feed.all():
            if (series := self.series_for(query, scenario)) is not None:
                points = scenario.metric_points(series, start=at, end=at, step=1)
                if points:
                    result.append({"metric": scenario.metric_labels(), "value": points[0]})
        return JSONResponse({"status": "success", "data": {"resultType": "vector", "result": result}})

    async def alerts(self, request: Request) -> Response:
        self.record(request)
        return JSONResponse({"status": "success",
                             "data": {"alerts": [a for s in self.feed.all() for a in s.firing_alerts()]}})

    async def label_values(self, request: Request) -> Response:
        """``GET /api/v1/label/<name>/values``: the values of a label across the scenarios' series."""
        self.record(request)
        name = request.path_params["name"]
        values = sorted({s.metric_labels()[name] for s in self.feed.all() if name in s.metric_labels()})
        return JSONResponse({"status": "success", "data": values})

    async def buildinfo(self, request: Request) -> Response:
        self.record(request)
        return JSONResponse({"status": "success", "data": {
            "version": "3.1.0", "revision": "sandbox", "branch": "HEAD", "buildUser": "sitrep@sandbox",
            "buildDate": "20250101-00:00:00", "goVersion": "go1.23.4"}})


def _prom_param(params: Mapping[str, str], name: str, parse: Any) -> float:
    raw = params.get(name)
    if not raw:
        raise QueryError(f'invalid parameter "{name}": cannot parse "" to a valid '
                         f'{"duration" if name == "step" else "timestamp"}')
    try:
        return float(parse(raw))
    except QueryError as exc:
        raise QueryError(f'invalid parameter "{name}": {exc}') from None


def _prom_error(kind: str, message: str, status: int) -> Response:
    return JSONResponse({"status": "error", "errorType": kind, "error": message}, status_code=status)


# =========================================================================== ArgoCD

#: HTTP status → the gRPC code grpc-gateway puts in ``runtimeError.code``
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 429: 8, 499: 1, 500: 13, 501: 12,
              503: 14, 504: 4}


#: the local account the sandbox's API token belongs to, and RBAC's names (``util/rbac``)
ARGOCD_ACCOUNT = "sitrep"
ARGOCD_RESOURCES = ("clusters", "projects", "applications", "applicationsets", "repositories",
                    "certificates", "accounts", "gpgkeys", "logs", "exec", "extensions")
ARGOCD_ACTIONS = ("get", "create", "update", "delete", "sync", "override", "action", "invoke")


def argocd_error(status: int, message: str, *, code: int | None = None) -> Response:
    """grpc-gateway's ``runtimeError`` body. ``code``: the gRPC code when the status alone does not
    say it (a plain Go error from ArgoCD is code 2, Unknown, served as HTTP 500)."""
    return JSONResponse({"error": message, "code": code if code is not None else GRPC_CODES.get(status, 2),
                         "message": message}, status_code=status)


class GoJSONResponse(JSONResponse):
    """JSON as Go's ``encoding/json`` writes it: ``<``, ``>`` and ``&`` escaped as ``\u003c``…
    (``revision_metadata.json``'s ``author``)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .encode("utf-8"))


def _unknown_commit(revision: str) -> str:
    """What the repo server answers (code Internal) for a sha the git repository does not have."""
    return (f"Failed to checkout revision {revision}: `git fetch origin {revision} --tags --force --prune` "
            f"failed exit status 128: fatal: remote error: upload-pack: not our ref {revision}")


def _not_a_git_repo(repo: str) -> str:
    return (f"Failed to fetch default: `git fetch origin --tags --force --prune` failed exit status 128: "
            f"fatal: repository '{repo}/' not found")


def _unknown_chart(chart: str, version: str) -> str:
    return (f"`helm pull --destination /tmp/helm-{chart} --version {version} --repo {CHART_REPO_URL} {chart}` "
            f"failed exit status 1: Error: chart \"{chart}\" version \"{version}\" not found in "
            f"{CHART_REPO_URL} repository")


class FakeArgoCD(FakeUpstream):
    """The applications API with bearer-token auth, for each scenario's app in its ``argocd_shape``.
    ``rollback``/``sync``/resource actions are recorded in ``operations``; a rollback or sync appends
    a history entry as ArgoCD does once its sync completes. ``/revisions/{revision}/metadata``,
    ``/revisions/{revision}/chartdetails`` and ``/manifests`` answer from the scenario.
    ``enforce_auto_sync``: refuse a rollback while automated sync is on, as ArgoCD does."""

    name = "argocd"

    def __init__(self, feed: ScenarioFeed, *, token: str, enforce_auto_sync: bool = False,
                 board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.feed = feed
        self.token = token
        self.enforce_auto_sync = enforce_auto_sync
        #: a real rollback or restart fixes the app's scenario (the demo); tests keep it failing to
        #: test "still failing"
        self.heals = False
        self.operations: list[dict[str, Any]] = []
        #: deploys made after the scenarios' own histories: (app, entry); ids are given in order
        self.extra_deploys: list[tuple[str, HistoryEntry]] = []
        self.auto_sync_disabled = False
        #: RBAC the token lacks, as ``resource/action`` (``applications/get``); set with ``POST /_rbac``
        self.denied: set[str] = set()

    def reset(self) -> None:
        super().reset()
        self.operations.clear()
        self.extra_deploys.clear()
        self.auto_sync_disabled = False
        self.denied.clear()

    def routes(self) -> list[BaseRoute]:
        app = "/api/v1/applications/{name}"
        return [
            Route("/api/version", self.version),
            Route("/api/v1/session/userinfo", self.userinfo),
            Route("/api/v1/account/can-i/{resource}/{action}/{subresource:path}", self.can_i),
            Route("/_rbac", self.rbac, methods=["GET", "POST"]),
            Route("/api/v1/applications", self.list_applications),
            Route(app, self.get_application, methods=["GET"]),
            Route(app, self.patch_application, methods=["PATCH"]),
            Route(f"{app}/rollback", self.rollback, methods=["POST"]),
            Route(f"{app}/sync", self.sync, methods=["POST"]),
            Route(f"{app}/manifests", self.manifests, methods=["GET"]),
            Route(f"{app}/revisions/{{revision}}/metadata", self.revision_metadata, methods=["GET"]),
            Route(f"{app}/revisions/{{revision}}/chartdetails", self.chart_details, methods=["GET"]),
            Route(f"{app}/resource/actions", self.resource_actions, methods=["GET", "POST"]),
            Route("/_operations", self.list_operations, methods=["GET", "DELETE"]),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        return argocd_error(status, fault.message or f"injected fault (HTTP {status})")

    def _denied(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        cookie = request.cookies.get("argocd.token")
        if not header and not cookie:
            return argocd_error(401, "no session information")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else cookie
        if token != self.token:
            return argocd_error(401, "invalid session: token signature is invalid")
        return None

    def _forbidden(self, action: str, app: str, *, project: str = "default") -> Response | None:
        """ArgoCD's RBAC refusal (code 7, HTTP 403) when the token lacks ``applications, action``."""
        if f"applications/{action}" not in self.denied:
            return None
        return argocd_error(403, f"permission denied: applications, {action}, {project}/{app}, "
                                 f"sub: {ARGOCD_ACCOUNT}:apiKey, iat: 2025-11-01T00:00:00Z")

    async def userinfo(self, request: Request) -> Response:
        """``GET /api/v1/session/userinfo``: the session service authenticates without failing, so a
        missing or bad token answers ``{"loggedIn": false}`` (HTTP 200)."""
        self.record(request)
        if self._denied(request) is not None:
            return JSONResponse({"loggedIn": False})
        return JSONResponse({"loggedIn": True, "username": ARGOCD_ACCOUNT, "iss": "argocd"})

    async def can_i(self, request: Request) -> Response:
        """``GET /api/v1/account/can-i/{resource}/{action}/{subresource}`` → ``{"value": "yes"|"no"}``."""
        self.record(request)
        if denied := self._denied(request):
            return denied
        resource, action = request.path_params["resource"], request.path_params["action"]
        if action.split("/")[0] not in ARGOCD_ACTIONS:
            return argocd_error(400, f"[{' '.join(ARGOCD_ACTIONS)}] does not contain {action}")
        if resource not in ARGOCD_RESOURCES:
            return argocd_error(400, f"[{' '.join(ARGOCD_RESOURCES)}] does not contain {resource}")
        action_name = action.split("/")[0]
        return JSONResponse({"value": "no" if f"{resource}/{action_name}" in self.denied else "yes"})

    async def rbac(self, request: Request) -> Response:
        """Control: ``{"deny": ["applications/get", "applications/sync"]}`` — what the token may not do."""
        if request.method == "POST":
            self.denied = set((await request.json()).get("deny") or ())
        return JSONResponse({"deny": sorted(self.denied)})

    def scenario_for(self, app: str) -> Scenario | None:
        return next((s for s in self.feed.all() if s.app == app), None)

    def history(self, scenario: Scenario) -> list[HistoryEntry]:
        """The scenario's history followed by the deploys made since (rollbacks, syncs, control)."""
        entries = list(scenario.argocd_history)
        for app, entry in self.extra_deploys:
            if app == scenario.app:
                entries.append(replace(entry, id=entries[-1].id + 1))
        return entries

    def applications(self) -> dict[str, dict[str, Any]]:
        apps = {s.app: s.argocd_application(self.history(s)) for s in self.feed.all()}
        if self.auto_sync_disabled:
            apps[self.feed.current().app]["spec"].get("syncPolicy", {}).pop("automated", None)
        return apps

    async def patch_application(self, request: Request) -> Response:
        """``PATCH /api/v1/applications/{name}`` (ApplicationPatchRequest); only the one patch
        Sitrep sends is understood: ``{"spec": {"syncPolicy": {"automated": null}}}``."""
        app, body, error = await self._operation(request, "patch")
        if error is not None or app is None:
            return error or argocd_error(500, "no application")
        try:
            patch = json.loads(body.get("patch") or "{}")
        except json.JSONDecodeError:
            return argocd_error(400, "patch is not JSON")
        if (patch.get("spec") or {}).get("syncPolicy", {}).get("automated", "unset") is None:
            self.auto_sync_disabled = True
        return JSONResponse(self.applications()[request.path_params["name"]])

    async def deploy(self, request: Request) -> Response:
        """Control: a deploy lands after the scenario's (someone else rolled out or back).
        ``{"target_revision": "v2.14.4", "by": "bob", "revision": <sha or chart version>,
        "release": <image tag, default target_revision>, "app": <default the first scenario's>}``."""
        body = json.loads(await request.body() or b"{}")
        scenario = self.scenario_for(str(body.get("app") or "")) or self.feed.current()
        target = str(body.get("target_revision") or "v9.9.9")
        entry = scenario.new_deploy(self.history(scenario)[-1], release=str(body.get("release") or target),
                                    revision=str(body["revision"]) if body.get("revision") else None,
                                    at=_now_second(), by=str(body.get("by") or "someone"))
        self.extra_deploys.append((scenario.app, entry))
        return JSONResponse({"deploys": [{"app": app, "revision": e.revision, "target_revision": e.target_revision,
                                          "release": e.image_tag} for app, e in self.extra_deploys]})

    def _app(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        if denied := self._denied(request):
            return None, denied
        name = request.path_params["name"]
        app = self.applications().get(name)
        project = (app or {}).get("spec", {}).get("project", "default")
        if forbidden := self._forbidden("get", name, project=project):  # 403 before 404
            return None, forbidden
        if app is None:
            return None, argocd_error(404, f"application '{name}' not found")
        return app, None

    async def version(self, request: Request) -> Response:
        return JSONResponse({"Version": "v2.13.2+dc43124", "BuildDate": "2025-01-01T00:00:00Z",
                             "GitCommit": "dc43124", "GoVersion": "go1.23.4", "Platform": "linux/amd64"})

    async def list_applications(self, request: Request) -> Response:
        self.record(request)
        if denied := self._denied(request):
            return denied
        apps = [a for a in self.applications().values() if "applications/get" not in self.denied]
        if names := request.query_params.getlist("name"):
            apps = [a for a in apps if a["metadata"]["name"] in names]
        if selector := request.query_params.get("selector"):
            wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
            apps = [a for a in apps if all(a["metadata"].get("labels", {}).get(k) == v
                                           for k, v in wanted.items())]
        return JSONResponse({"metadata": {"resourceVersion": "884300"}, "items": apps})

    async def get_application(self, request: Request) -> Response:
        self.record(request)
        app, error = self._app(request)
        return error or JSONResponse(app)

    # ------------------------------------------------------------------ revisions and manifests

    def _source_of(self, scenario: Scenario, history: list[HistoryEntry], params: Mapping[str, str]
                   ) -> tuple[str, Response | None]:
        """The repoURL of the source ``sourceIndex``/``versionId`` select (server/application
        ``getAppSourceBySourceIndexAndVersionId``), or the error ArgoCD answers."""
        try:
            index = int(params.get("sourceIndex") or 0)
            version = int(params["versionId"]) if params.get("versionId") else None
        except ValueError as exc:
            return "", argocd_error(400, f"type mismatch, parameter: sourceIndex or versionId, error: {exc}")
        if version is not None and all(e.id != version for e in history):
            return "", argocd_error(500, "error getting app source by source index and version ID: error "
                                         f"getting source by version ID: revision history not found for "
                                         f"version ID {version}", code=2)
        # every entry of a scenario's app has the same repositories, in the same order
        repos = [CHART_REPO_URL, VALUES_REPO_URL] if scenario.argocd_shape == "multi" else \
            [CHART_REPO_URL if scenario.argocd_shape == "helm" else GIT_REPO_URL]
        if not 0 <= index < len(repos):
            count = "there is only 1 source" if len(repos) == 1 else f"there are only {len(repos)} sources"
            return "", argocd_error(500, "error getting app source by source index and version ID: source "
                                         f"index {index} not found because {count}", code=2)
        return repos[index], None

    async def revision_metadata(self, request: Request) -> Response:
        """``GET …/revisions/{revision}/metadata``: git commits only. A chart version fails as in
        the repo server (``revision 1.9.0 must be resolved``, HTTP 500, code 2); an unknown sha fails
        to check out (HTTP 500, code 13)."""
        self.record(request)
        app, error = self._app(request)
        if error is not None or app is None:
            return error or argocd_error(500, "no application")
        scenario = self.scenario_for(request.path_params["name"])
        assert scenario is not None
        history = self.history(scenario)
        repo, error = self._source_of(scenario, history, request.query_params)
        if error is not None:
            return error
        revision = request.path_params["revision"]
        if not _is_sha(revision):
            return argocd_error(500, f"revision {revision} must be resolved", code=2)
        if repo == CHART_REPO_URL:  # a Helm repository is no git repository
            return argocd_error(500, "error acquiring repo lock: rpc error: code = Internal desc = "
                                     + _not_a_git_repo(repo))
        metadata = scenario.revision_metadata(revision, history=history)
        if metadata is None:
            return argocd_error(500, "error acquiring repo lock: rpc error: code = Internal desc = "
                                     + _unknown_commit(revision))
        return GoJSONResponse(metadata)

    async def chart_details(self, request: Request) -> Response:
        """``GET …/revisions/{version}/chartdetails``: description, home, maintainers of a chart."""
        self.record(request)
        app, error = self._app(request)
        if error is not None or app is None:
            return error or argocd_error(500, "no application")
        name = request.path_params["name"]
        scenario = self.scenario_for(name)
        assert scenario is not None
        repo, error = self._source_of(scenario, self.history(scenario), request.query_params)
        if error is not None:
            return error
        if repo != CHART_REPO_URL:
            return argocd_error(500, f"no chart found for application: {name}", code=2)
        version = request.path_params["revision"]
        details = scenario.chart_details(version)
        if details is None:
            return argocd_error(500, "error extracting chart: " + _unknown_chart(scenario.service, version),
                                code=2)
        return GoJSONResponse(details)

    async def manifests(self, request: Request) -> Response:
        """``GET …/manifests?revision=…`` (one source) or ``?revisions=…&sourcePositions=1&…``
        (multi-source, positions from 1): ``{"manifests": [...]}`` as ArgoCD v2.11+ answers."""
        self.record(request)
        app, error = self._app(request)
        if error is not None or app is None:
            return error or argocd_error(500, "no application")
        scenario = self.scenario_for(request.path_params["name"])
        assert scenario is not None
        history = self.history(scenario)
        params = request.query_params
        wanted: str | list[str]
        if scenario.argocd_shape == "multi":
            current = history[-1]
            wanted = [current.chart_version, VALUES_BRANCH]  # what spec.sources track
            positions, revisions = params.getlist("sourcePositions"), params.getlist("revisions")
            if len(positions) != len(revisions):
                return argocd_error(400, "the number of revisions and source positions must match")
            for position, revision in zip(positions, revisions, strict=True):
                if not position.lstrip("-").isdecimal() or not 1 <= int(position) <= len(wanted):
                    return argocd_error(500, "source position is out of range", code=2)
                wanted[int(position) - 1] = revision
        else:
            wanted = params.get("revision") or ""
        try:
            manifests = scenario.manifests(wanted or None, history=history)
        except KeyError:
            return self._manifest_error(scenario, wanted, history)
        return GoJSONResponse({"manifests": manifests})

    def _manifest_error(self, scenario: Scenario, wanted: str | list[str], history: list[HistoryEntry]
                        ) -> Response:
        if isinstance(wanted, list):
            chart, values = wanted
            if chart not in {e.chart_version for e in history}:
                wanted, shape = chart, "helm"
            else:
                wanted, shape = values, "git"
        else:
            shape = "helm" if scenario.argocd_shape == "helm" else "git"
        prefix = "error generating manifests: rpc error: "
        if shape == "helm":
            return argocd_error(500, f"{prefix}code = Unknown desc = {_unknown_chart(scenario.service, wanted)}",
                                code=2)
        if _is_sha(wanted):
            return argocd_error(500, f"{prefix}code = Internal desc = {_unknown_commit(wanted)}")
        return argocd_error(500, f"{prefix}code = Unknown desc = unable to resolve '{wanted}' to a commit SHA",
                            code=2)

    # ------------------------------------------------------------------ operations

    async def _operation(self, request: Request, op: str) -> tuple[dict[str, Any] | None,
                                                                    dict[str, Any], Response | None]:
        self.record(request)
        app, error = self._app(request)
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            return app, {}, argocd_error(400, f"invalid character in request body: {exc.msg}")
        if op == "resource_action" and isinstance(body, str):
            body = {"action": body}  # /resource/actions (v1) takes the action name as a JSON string
        if not isinstance(body, dict):
            return app, {}, argocd_error(400, "request body must be a JSON object")
        needs = {"rollback": "sync", "sync": "sync", "patch": "update", "resource_action": "action"}[op]
        project = (app or {}).get("spec", {}).get("project", "default")
        if error is None:
            error = self._forbidden(needs, request.path_params["name"], project=project)
        if error is None:
            self.operations.append({"op": op, "app": request.path_params["name"], "body": body,
                                    "at": datetime.now(UTC).isoformat()})
        return app, body, error

    async def rollback(self, request: Request) -> Response:
        app, body, error = await self._operation(request, "rollback")
        if error is not None or app is None:
            return error or argocd_error(500, "no application")
        name = request.path_params["name"]
        scenario = self.scenario_for(name)
        assert scenario is not None
        target = next((e for e in self.history(scenario) if e.id == body.get("id")), None)
        if target is None:
            return argocd_error(400, f"application {name} does not have deployment with id "
                                     f"{body.get('id')}")
        if self.enforce_auto_sync and (app["spec"].get("syncPolicy") or {}).get("automated") \
                and not body.get("dryRun"):
            return argocd_error(400, "rollback cannot be initiated when auto-sync is enabled")
        if not body.get("dryRun"):
            # as ArgoCD does once the rollback's sync completes: a new entry with the target's
            # source(s) and revision(s)
            self._deployed(scenario, target)
            if self.heals:
                self._heal(name)
        return JSONResponse(app)

    async def sync(self, request: Request) -> Response:
        """A sync to ``revision`` (or, multi-source, ``revisions`` at ``sourcePositions``); none: the
        revision the app tracks. An unknown revision is synced too (ArgoCD resolves it later)."""
        app, body, error = await self._operation(request, "sync")
        if error is not None or app is None:
            return error or argocd_error(500, "no application")
        name = request.path_params["name"]
        scenario = self.scenario_for(name)
        assert scenario is not None
        if not body.get("dryRun"):
            history = self.history(scenario)
            current = history[-1]
            wanted: str | list[str] | None = body.get("revision") or None
            if scenario.argocd_shape == "multi" and body.get("revisions"):
                wanted = [current.chart_version, VALUES_BRANCH]
                positions = body.get("sourcePositions") or list(range(1, len(body["revisions"]) + 1))
                for position, revision in zip(positions, body["revisions"], strict=False):
                    if str(position).isdecimal() and 1 <= int(position) <= len(wanted):
                        wanted[int(position) - 1] = str(revision)
            try:
                target = scenario.deploy_for(wanted, history=history)
            except KeyError:
                unknown = wanted[-1] if isinstance(wanted, list) else str(wanted)
                target = scenario.new_deploy(current, release=current.image_tag, revision=unknown,
                                             at=_now_second(), by="sitrep")
            self._deployed(scenario, target)
        return JSONResponse(app)

    def _deployed(self, scenario: Scenario, target: HistoryEntry) -> None:
        at = _now_second()
        self.extra_deploys.append((scenario.app, replace(target, id=0, deployed_at=at, started_at=at,
                                                         initiated_by={"username": "sitrep"})))

    async def resource_actions(self, request: Request) -> Response:
        if request.method == "GET":
            self.record(request)
            _, error = self._app(request)
            return error or JSONResponse({"actions": [
                {"name": "restart", "disabled": False, "iconClass": "fa fa-fw fa-redo"},
                {"name": "pause", "disabled": False},
                {"name": "resume", "disabled": True},
            ]})
        _, body, error = await self._operation(request, "resource_action")
        if error is not None:
            return error
        if self.operations:
            self.operations[-1]["query"] = dict(request.query_params)
        if self.heals and body.get("action") == "restart":
            self._heal(request.path_params["name"])
        return JSONResponse({})

    def _heal(self, app: str) -> None:
        service = next((s.service for s in self.feed.all() if s.app == app), None)
        if service is not None:
            self.feed.recover(time.time(), service=service)

    async def list_operations(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.operations.clear()
        return JSONResponse(self.operations)


def _now_second() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _is_sha(text: str) -> bool:
    """A full or truncated commit sha (ArgoCD's ``git.IsCommitSHA``/``IsTruncatedCommitSHA``)."""
    return len(text) >= 7 and all(c in "0123456789abcdefABCDEF" for c in text)


# =========================================================================== Jaeger


def jaeger_envelope(data: Any, *, total: int = 0, errors: list[dict[str, Any]] | None = None
                    ) -> dict[str, Any]:
    """Jaeger's ``structuredResponse``; ``total`` is only filled for lists of names (services)."""
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def jaeger_error(status: int, message: str) -> Response:
    return JSONResponse(jaeger_envelope(None, errors=[{"code": status, "msg": message}]),
                        status_code=status)


class FakeJaeger(FakeUpstream):
    """The query service's HTTP API: ``/api/services``, ``/api/services/{s}/operations``,
    ``/api/traces`` (service, operation, start/end µs, tags, minDuration/maxDuration, limit) and
    ``/api/traces/{id}``. A trace matches when one of its spans matches every condition."""

    name = "jaeger"
    default_limit = 100

    def __init__(self, feed: ScenarioFeed, *, board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.feed = feed
        #: call edges beyond the scenario's traces (``POST /_control/jaeger/dependencies``)
        self.extra_edges: list[dict[str, Any]] = []

    def reset(self) -> None:
        super().reset()
        self.extra_edges.clear()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/dependencies", self.dependencies),
            Route("/api/services", self.services),
            Route("/api/services/{service}/operations", self.operations),
            Route("/api/traces", self.find_traces),
            Route("/api/traces/{trace_id}", self.get_trace),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        return jaeger_error(status, fault.message or f"injected fault (HTTP {status})")

    async def services(self, request: Request) -> Response:
        self.record(request)
        services = sorted({name for s in self.feed.all() for name in s.jaeger_services})
        return JSONResponse(jaeger_envelope(services, total=len(services)))

    async def operations(self, request: Request) -> Response:
        self.record(request)
        service = request.path_params["service"]
        traces = self.feed.jaeger_traces()
        names = sorted({span["operationName"] for trace in traces for span in trace["spans"]
                        if trace["processes"][span["processID"]]["serviceName"] == service})
        return JSONResponse(jaeger_envelope(names, total=len(names)))

    async def dependencies(self, request: Request) -> Response:
        """``/api/dependencies?endTs&lookback``: ``[{parent, child, callCount}]`` from the spans."""
        self.record(request)
        counts: dict[tuple[str, str], int] = {}
        for trace in self.feed.jaeger_traces():
            spans = {span["spanID"]: span for span in trace["spans"]}
            for span in trace["spans"]:
                for ref in span.get("references") or []:
                    parent = spans.get(ref.get("spanID"))
                    if ref.get("refType") != "CHILD_OF" or parent is None:
                        continue
                    edge = (trace["processes"][parent["processID"]]["serviceName"],
                            trace["processes"][span["processID"]]["serviceName"])
                    if edge[0] != edge[1]:
                        counts[edge] = counts.get(edge, 0) + 1
        data = [{"parent": p, "child": c, "callCount": n} for (p, c), n in sorted(counts.items())]
        return JSONResponse(jaeger_envelope(data + self.extra_edges, total=len(data) + len(self.extra_edges)))

    async def set_dependencies(self, request: Request) -> Response:
        """Control: ``[{"parent", "child", "callCount"}]`` served besides the scenario's edges."""
        self.extra_edges = list(await request.json())
        return JSONResponse({"edges": len(self.extra_edges)})

    async def get_trace(self, request: Request) -> Response:
        self.record(request)
        trace_id = request.path_params["trace_id"].lower()
        for trace in self.feed.jaeger_traces():
            if trace["traceID"] == trace_id:
                return JSONResponse(jaeger_envelope([trace]))
        return jaeger_error(404, "trace not found")

    async def find_traces(self, request: Request) -> Response:
        self.record(request)
        params = request.query_params
        traces = self.feed.jaeger_traces()
        if ids := params.getlist("traceID"):
            wanted = {i.lower() for i in ids}
            return JSONResponse(jaeger_envelope([t for t in traces if t["traceID"] in wanted]))
        service = params.get("service")
        if not service:
            return jaeger_error(400, "parameter 'service' is required")
        try:
            end = int(params["end"]) if params.get("end") else int(time.time() * 1e6)
            start = int(params["start"]) if params.get("start") else end - 3600 * 1_000_000
            limit = int(params.get("limit") or self.default_limit)
            min_us = go_duration(params["minDuration"]) * 1e6 if params.get("minDuration") else None
            max_us = go_duration(params["maxDuration"]) * 1e6 if params.get("maxDuration") else None
            tags = _jaeger_tags(params.get("tags"), params.getlist("tag"))
        except (ValueError, QueryError) as exc:
            return jaeger_error(400, str(exc))
        operation = params.get("operation") or None

        def span_matches(trace: dict[str, Any], span: dict[str, Any]) -> bool:
            process = trace["processes"][span["processID"]]
            if process["serviceName"] != service:
                return False
            if operation is not None and span["operationName"] != operation:
                return False
            if not start <= span["startTime"] <= end:
                return False
            if min_us is not None and span["duration"] < min_us:
                return False
            if max_us is not None and span["duration"] > max_us:
                return False
            return all(_has_tag(span, process, key, value) for key, value in tags.items())

        found = [t for t in traces if any(span_matches(t, s) for s in t["spans"])]
        found.sort(key=lambda t: min(s["startTime"] for s in t["spans"]), reverse=True)
        return JSONResponse(jaeger_envelope(found[: max(limit, 0)] if limit else found))


def _jaeger_tags(raw: str | None, pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    if raw:
        try:
            decoded = json.loads(raw)
        except json.JSONDecodeError:
            raise QueryError(f"malformed 'tags' parameter: {raw}") from None
        if not isinstance(decoded, dict):
            raise QueryError(f"malformed 'tags' parameter: {raw}")
        tags.update({str(k): str(v) for k, v in decoded.items()})
    for pair in pairs:
        key, sep, value = pair.partition(":")
        if not sep:
            raise QueryError(f"malformed 'tag' parameter, expecting key:value, received: {pair}")
        tags[key] = value
    return tags


def _tag_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _has_tag(span: dict[str, Any], process: dict[str, Any], key: str, value: str) -> bool:
    fields = [*span["tags"], *process.get("tags", []),
              *(f for log in span.get("logs", []) for f in log["fields"])]
    return any(f["key"] == key and _tag_text(f["value"]) == value for f in fields)
