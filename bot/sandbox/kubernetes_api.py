"""A fake Kubernetes API server: just the Deployment and ``scale`` endpoints Sitrep's executors use.

    GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}          apps/v1 Deployment
    PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}          strategic-merge or merge patch
    GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    autoscaling/v1 Scale
    PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    merge (or strategic-merge) patch
    GET   /api/v1/namespaces/{ns}/events?fieldSelector=…           core/v1 EventList of the scenarios
    GET   /version
    POST  /apis/authorization.k8s.io/v1/selfsubjectaccessreviews       may the token do this? (``status.allowed``)
    GET | DELETE /_operations                                       the patches received, oldest first

``?dryRun=All`` answers as if applied but changes nothing (the operation is recorded with
``dry_run: true``). Errors are ``meta/v1`` ``Status`` objects (``status_403.json``/``status_404.json``):
no bearer token → 403 for ``system:anonymous``, a wrong token → 401, an unknown Deployment → 404.
The token may do everything but what ``deny`` lists (``POST /_rbac {"deny": ["patch deployments/scale"]}``,
``…@shop`` for one namespace): those requests are refused with 403 and reviewed as not allowed.
The state starts as each scenario's Deployment (``shop/checkout``, 4 replicas).

Events (``events_list.json``'s shapes, relative to each scenario's ``now``, in name order as the API
lists them): bad_deploy's new checkout pods fail their readiness probe (503) after the onset;
memory_leak's cart pods back off restarting after their OOM kills, an extra pod the HPA asked for
cannot be scheduled (an ``events.k8s.io`` scheduler event: ``eventTime`` and ``series``, no timestamps,
no ``count``), and node-problem-detector reports the kernel's OOM kills on the Node (namespace
``default``). ``fieldSelector`` takes ``type``, ``reason``, ``involvedObject.kind|name|namespace``
with ``=``, ``==`` or ``!=``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.faults import Fault, FaultBoard, FakeUpstream
from bot.sandbox.scenario import Scenario, ScenarioFeed

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
#: who the sandbox's token is
SERVICE_ACCOUNT = "system:serviceaccount:sitrep:sitrep"
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_MERGE_PATCH)
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def status_error(code: int, message: str, *, name: str | None = None, kind: str = "deployments") -> Response:
    """A ``meta/v1`` Status failure, as the API server answers errors."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": _REASONS.get(code, "InternalError"), "code": code}
    if name is not None:
        body["details"] = {"name": name, "group": "apps", "kind": kind}
    return JSONResponse(body, status_code=code)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also what a strategic merge patch does for maps and scalars)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubernetes(FakeUpstream):
    """Deployments and their scale subresource, with bearer-token auth and server-side dry run."""

    name = "kubernetes"

    def __init__(self, feed: ScenarioFeed, *, token: str, replicas: int = 4,
                 board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.feed = feed
        self.token = token
        self.initial_replicas = replicas
        #: a rollout restart fixes the restarted service's scenario (the demo's memory leak)
        self.heals = False
        self.operations: list[dict[str, Any]] = []
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        #: what the token may not do: ``"<verb> <resource>[/<subresource>][@<namespace>]"``
        self.deny: set[str] = set()
        self._resource_version = 884300
        self._seed()

    def _seed(self) -> None:
        self.deployments = {(s.namespace, s.service): self._deployment(
            s.namespace, s.service, replicas=self.initial_replicas) for s in self.feed.all()}

    def reset(self) -> None:
        super().reset()
        self.operations.clear()
        self.deny.clear()
        self._seed()

    def _deployment(self, namespace: str, name: str, *, replicas: int) -> dict[str, Any]:
        labels = {"app": name}
        return {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {"name": name, "namespace": namespace, "uid": "1c2d3e4f-5a6b-7c8d-9e0f-1a2b3c4d5e6f",
                         "resourceVersion": str(self._resource_version), "generation": 57,
                         "creationTimestamp": "2025-06-02T10:11:15Z", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels},
                             "spec": {"containers": [{"name": name, "image": f"registry.example/{name}:v2.14.3"}]}},
            },
            "status": {"observedGeneration": 57, "replicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas, "updatedReplicas": replicas},
        }

    def routes(self) -> list[BaseRoute]:
        base = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        return [
            Route("/version", self.version),
            Route("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self.access_review,
                  methods=["POST"]),
            Route("/_rbac", self.rbac, methods=["GET", "POST"]),
            Route("/api/v1/namespaces/{namespace}/events", self.events),
            Route(base, self.deployment, methods=["GET", "PATCH"]),
            Route(f"{base}/scale", self.scale, methods=["GET", "PATCH"]),
            Route("/_operations", self.list_operations, methods=["GET", "DELETE"]),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        return status_error(status, fault.message or f"injected fault (HTTP {status})")

    # ------------------------------------------------------------------ helpers

    def _denied(self, request: Request, *, verb: str, resource: str) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            ns, name = request.path_params["namespace"], request.path_params["name"]
            return status_error(403, f'deployments.apps "{name}" is forbidden: User "system:anonymous" cannot '
                                     f'{verb} resource "{resource}" in API group "apps" in the namespace "{ns}"',
                                name=name)
        if header.removeprefix("Bearer ").strip() != self.token:
            return status_error(401, "Unauthorized")
        ns, name = request.path_params["namespace"], request.path_params["name"]
        if self.denies(verb, resource, ns):
            return status_error(403, f'deployments.apps "{name}" is forbidden: User "{SERVICE_ACCOUNT}" cannot '
                                     f'{verb} resource "{resource}" in API group "apps" in the namespace "{ns}"',
                                name=name)
        return None

    def denies(self, verb: str, resource: str, namespace: str | None) -> bool:
        return f"{verb} {resource}" in self.deny or f"{verb} {resource}@{namespace}" in self.deny

    def _find(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        ns, name = request.path_params["namespace"], request.path_params["name"]
        found = self.deployments.get((ns, name))
        if found is None:
            return None, status_error(404, f'deployments.apps "{name}" not found', name=name)
        return found, None

    @staticmethod
    def _scale(deployment: dict[str, Any]) -> dict[str, Any]:
        meta = deployment["metadata"]
        selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": deployment["spec"]["replicas"]},
            "status": {"replicas": deployment["status"]["replicas"], "selector": selector},
        }

    async def _patch_body(self, request: Request, *, name: str) -> tuple[dict[str, Any] | None, bool, Response | None]:
        """(patch, dry run, error)."""
        dry = request.query_params.getlist("dryRun")
        if any(value != "All" for value in dry):
            return None, False, status_error(400, f'dryRun: Unsupported value: "{dry[0]}": supported values: "All"')
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in PATCH_TYPES:
            return None, False, status_error(
                415, "the body of the request was in an unknown format - accepted media types include: "
                     f"{', '.join(PATCH_TYPES)}")
        try:
            patch = json.loads(await request.body() or b"null")
        except json.JSONDecodeError as exc:
            return None, False, status_error(400, f"error decoding patch: {exc.msg}", name=name)
        if not isinstance(patch, dict):
            return None, False, status_error(400, "error decoding patch: the patch is not a JSON object", name=name)
        return patch, bool(dry), None

    def _store(self, key: tuple[str, str], updated: dict[str, Any], *, template_changed: bool) -> None:
        self._resource_version += 1
        updated["metadata"]["resourceVersion"] = str(self._resource_version)
        if template_changed or updated["spec"]["replicas"] != self.deployments[key]["spec"]["replicas"]:
            updated["metadata"]["generation"] = int(updated["metadata"].get("generation", 1)) + 1
            updated["status"]["observedGeneration"] = updated["metadata"]["generation"]
        replicas = updated["spec"]["replicas"]
        updated["status"].update(replicas=replicas, readyReplicas=replicas, availableReplicas=replicas,
                                 updatedReplicas=replicas)
        self.deployments[key] = updated

    def _operation(self, request: Request, op: str, patch: dict[str, Any], *, dry_run: bool) -> None:
        self.operations.append({
            "op": op, "namespace": request.path_params["namespace"], "name": request.path_params["name"],
            "body": patch, "dry_run": dry_run, "content_type": request.headers.get("content-type", ""),
            "query": dict(request.query_params), "at": _now(),
        })

    @staticmethod
    def _replicas_error(replicas: Any, *, kind: str, name: str) -> Response | None:
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return status_error(400, f"json: cannot unmarshal {type(replicas).__name__} into Go struct field "
                                     "ScaleSpec.spec.replicas of type int32", name=name)
        if replicas < 0:
            return status_error(422, f'{kind} "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                                     "must be greater than or equal to 0", name=name)
        return None

    # ------------------------------------------------------------------ endpoints

    async def access_review(self, request: Request) -> Response:
        """A SelfSubjectAccessReview: the review back (201) with ``status.allowed``."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header.removeprefix("Bearer ").strip() != self.token:
            return status_error(401, "Unauthorized")
        try:
            review = json.loads(await request.body() or b"null")
            attributes = review["spec"]["resourceAttributes"]
            verb, resource = attributes["verb"], attributes["resource"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return status_error(400, "SelfSubjectAccessReview in version \"v1\" cannot be handled as a "
                                     "SelfSubjectAccessReview: spec.resourceAttributes is required")
        if attributes.get("subresource"):
            resource = f"{resource}/{attributes['subresource']}"
        namespace = attributes.get("namespace") or None
        allowed = not self.denies(verb, resource, namespace)
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = (f'RBAC: allowed by RoleBinding "sitrep-remediation/{namespace or "*"}" of Role '
                                f'"sitrep-remediation" to ServiceAccount "sitrep/sitrep"')
        return JSONResponse({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                             "metadata": {"creationTimestamp": None}, "spec": review["spec"], "status": status},
                            status_code=201)

    async def rbac(self, request: Request) -> Response:
        """Control: ``{"deny": ["patch deployments/scale", "patch deployments@shop"]}``."""
        if request.method == "POST":
            self.deny = set((await request.json()).get("deny") or ())
        return JSONResponse({"deny": sorted(self.deny)})

    async def version(self, request: Request) -> Response:
        return JSONResponse({"major": "1", "minor": "31", "gitVersion": "v1.31.4", "platform": "linux/amd64"})

    async def scale(self, request: Request) -> Response:
        self.record(request)
        verb = "get" if request.method == "GET" else "patch"
        if denied := self._denied(request, verb=verb, resource="deployments/scale"):
            return denied
        found, error = self._find(request)
        if found is None:
            return error or status_error(500, "no deployment")
        if request.method == "GET":
            return JSONResponse(self._scale(found))
        name = request.path_params["name"]
        patch, dry_run, error = await self._patch_body(request, name=name)
        if patch is None:
            return error or status_error(400, "no patch")
        scale = merge_patch(self._scale(found), patch)
        replicas = (scale.get("spec") or {}).get("replicas")
        if error := self._replicas_error(replicas, kind="Scale.autoscaling", name=name):
            return error
        self._operation(request, "scale", patch, dry_run=dry_run)
        updated = copy.deepcopy(found)
        updated["spec"]["replicas"] = replicas
        if not dry_run:
            self._store((found["metadata"]["namespace"], name), updated, template_changed=False)
            updated = self.deployments[(found["metadata"]["namespace"], name)]
        return JSONResponse(self._scale(updated))

    async def deployment(self, request: Request) -> Response:
        self.record(request)
        verb = "get" if request.method == "GET" else "patch"
        if denied := self._denied(request, verb=verb, resource="deployments"):
            return denied
        found, error = self._find(request)
        if found is None:
            return error or status_error(500, "no deployment")
        if request.method == "GET":
            return JSONResponse(found)
        name = request.path_params["name"]
        patch, dry_run, error = await self._patch_body(request, name=name)
        if patch is None:
            return error or status_error(400, "no patch")
        updated = merge_patch(found, {k: v for k, v in patch.items() if k in ("metadata", "spec")})
        if error := self._replicas_error(updated["spec"].get("replicas"), kind="Deployment.apps", name=name):
            return error
        self._operation(request, "patch", patch, dry_run=dry_run)
        if not dry_run:
            restarted = updated["spec"]["template"] != found["spec"]["template"]
            self._store((found["metadata"]["namespace"], name), updated, template_changed=restarted)
            updated = self.deployments[(found["metadata"]["namespace"], name)]
            if restarted and self.heals and self.feed.for_service(name) is not None:
                self.feed.recover(time.time(), service=name)
        return JSONResponse(updated)

    async def events(self, request: Request) -> Response:
        self.record(request)
        namespace = request.path_params["namespace"]
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return status_error(403, f'events is forbidden: User "system:anonymous" cannot list resource '
                                     f'"events" in API group "" in the namespace "{namespace}"')
        if header.removeprefix("Bearer ").strip() != self.token:
            return status_error(401, "Unauthorized")
        try:
            selector = _field_selector(request.query_params.get("fieldSelector", ""))
        except ValueError as exc:
            return status_error(400, str(exc))
        items = [item for scenario in self.feed.all() for item in scenario_events(scenario)
                 if item["metadata"]["namespace"] == namespace and all(
                     (_event_field(item, key) == value) is equal for key, equal, value in selector)]
        items.sort(key=lambda item: item["metadata"]["name"])
        return JSONResponse({"kind": "EventList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": str(self._resource_version)}, "items": items})

    async def list_operations(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.operations.clear()
        return JSONResponse(self.operations)

    def replicas(self, namespace: str, name: str) -> int | None:
        found = self.deployments.get((namespace, name))
        return None if found is None else int(found["spec"]["replicas"])

    def annotations(self, namespace: str, name: str) -> dict[str, str]:
        found = self.deployments.get((namespace, name)) or {}
        return dict(((found.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations") or {})


# ---------------------------------------------------------------------- events

_SELECTABLE = ("type", "reason", "involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
               "metadata.name", "metadata.namespace", "source", "reportingComponent")


def _field_selector(text: str) -> list[tuple[str, bool, str]]:
    """``type=Warning,involvedObject.kind!=Node`` → ``[(key, equal, value)]``; unknown fields are
    refused as the API server refuses them."""
    terms = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "!=" in part:
            key, value, equal = *part.split("!=", 1), False
        elif "==" in part:
            key, value, equal = *part.split("==", 1), True
        elif "=" in part:
            key, value, equal = *part.split("=", 1), True
        else:
            raise ValueError(f'invalid selector: \'{part}\'; can\'t understand \'{part}\'')
        if key not in _SELECTABLE:
            raise ValueError(f'"{key}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        terms.append((key, equal, value))
    return terms


def _event_field(item: dict[str, Any], key: str) -> str:
    if key.startswith("involvedObject."):
        return str(item["involvedObject"].get(key.split(".", 1)[1]) or "")
    if key.startswith("metadata."):
        return str(item["metadata"].get(key.split(".", 1)[1]) or "")
    if key == "source":
        return str((item.get("source") or {}).get("component") or "")
    return str(item.get(key) or "")


def _stamp(moment: datetime, *, micro: bool = False) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _event_name(obj: str, key: str) -> str:
    return f"{obj}.{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def kubelet_event(*, namespace: str, kind: str, name: str, reason: str, message: str, first: datetime,
                  last: datetime, count: int, component: str = "kubelet", host: str = "",
                  event_type: str = "Warning") -> dict[str, Any]:
    """A core/v1 Event as the kubelet (or cluster-autoscaler, node-problem-detector) writes it."""
    source = {"component": component, **({"host": host} if host else {})}
    return {
        "metadata": {"name": _event_name(name, f"{reason}:{message}"), "namespace": namespace,
                     "uid": hashlib.md5(f"{name}{reason}{message}".encode()).hexdigest(),
                     "resourceVersion": "1903075", "creationTimestamp": _stamp(first)},
        "involvedObject": {"kind": kind, "namespace": namespace if kind != "Node" else "", "name": name,
                           "apiVersion": "v1"},
        "reason": reason, "message": message, "source": source,
        "firstTimestamp": _stamp(first), "lastTimestamp": _stamp(last), "count": count,
        "type": event_type, "eventTime": None, "reportingComponent": component, "reportingInstance": host,
    }


def scheduler_event(*, namespace: str, name: str, reason: str, message: str, first: datetime,
                    last: datetime, count: int) -> dict[str, Any]:
    """A core/v1 Event written through events.k8s.io by kube-scheduler: ``eventTime`` and ``series``,
    timestamps null and no ``count``."""
    body: dict[str, Any] = {
        "metadata": {"name": _event_name(name, f"{reason}:{message}"), "namespace": namespace,
                     "uid": hashlib.md5(f"{name}{reason}".encode()).hexdigest(), "resourceVersion": "1903075",
                     "creationTimestamp": _stamp(first)},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": name, "apiVersion": "v1"},
        "reason": reason, "message": message, "source": {},
        "firstTimestamp": None, "lastTimestamp": None, "type": "Warning",
        "eventTime": _stamp(first, micro=True), "action": "Scheduling",
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-sandbox",
    }
    if count > 1:
        body["series"] = {"count": count, "lastObservedTime": _stamp(last, micro=True)}
    return body


def scenario_events(scenario: Scenario) -> list[dict[str, Any]]:
    """The Warning events the scenario's story would leave (none for a story that has none)."""
    ns, svc, onset, now = scenario.namespace, scenario.service, scenario.onset, scenario.now
    if scenario.recovered_at is not None:
        now = min(now, datetime.fromtimestamp(scenario.recovered_at, UTC))
    if now <= onset + timedelta(seconds=30):
        return []
    events: list[dict[str, Any]] = []
    if scenario.name == "bad_deploy":
        for i, pod in enumerate((f"{svc}-7d9f8b6c5-x2k4q", f"{svc}-7d9f8b6c5-p8r7t")):
            first = onset + timedelta(seconds=20 + 7 * i)
            count = max(1, int((now - first).total_seconds() // 10))
            events.append(kubelet_event(
                namespace=ns, kind="Pod", name=pod, reason="Unhealthy", count=count, first=first,
                last=first + timedelta(seconds=10 * (count - 1)), host=f"ip-10-42-3-{17 + i}",
                message="Readiness probe failed: HTTP probe failed with statuscode: 503"))
    elif scenario.name == "memory_leak":
        pods = (f"{svc}-5b7c9d8e6-h4j5k", f"{svc}-5b7c9d8e6-t6y7u")
        for i, pod in enumerate(pods):
            killed = onset + timedelta(seconds=40 + 25 * i)
            events.append(kubelet_event(
                namespace=ns, kind="Pod", name=pod, reason="BackOff", count=2, first=killed + timedelta(seconds=5),
                last=killed + timedelta(seconds=35), host=f"ip-10-42-5-{31 + i}",
                message=f"Back-off restarting failed container app in pod {pod}_{ns}"
                        f"(9c1e5a7b-2f4d-4e8a-b6c3-1d0f9e8a7b6{i})"))
            events.append(kubelet_event(
                namespace="default", kind="Node", name=f"ip-10-42-5-{31 + i}.eu-west-1.compute.internal",
                reason="OOMKilling", count=1, first=killed, last=killed, component="kernel-monitor",
                host=f"ip-10-42-5-{31 + i}.eu-west-1.compute.internal",
                message=f"Memory cgroup out of memory: Killed process {2291847 + i} ({svc}) total-vm:2243220kB, "
                        "anon-rss:2097152kB, file-rss:0kB, shmem-rss:0kB, UID:10001 pgtables:4312kB "
                        "oom_score_adj:936"))
        pending = f"{svc}-5b7c9d8e6-w9x8z"
        first = onset + timedelta(seconds=15)
        events.append(scheduler_event(
            namespace=ns, name=pending, reason="FailedScheduling", count=4, first=first,
            last=min(now, first + timedelta(seconds=90)),
            message="0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: "
                    "6 No preemption victims found for incoming pod."))
    return events
