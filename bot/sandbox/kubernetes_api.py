"""A fake Kubernetes API server: just the Deployment and ``scale`` endpoints Sitrep's executors use.

    GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}          apps/v1 Deployment
    PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}          strategic-merge or merge patch
    GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    autoscaling/v1 Scale
    PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale    merge (or strategic-merge) patch
    GET   /version
    GET | DELETE /_operations                                       the patches received, oldest first

``?dryRun=All`` answers as if applied but changes nothing (the operation is recorded with
``dry_run: true``). Errors are ``meta/v1`` ``Status`` objects (``status_403.json``/``status_404.json``):
no bearer token → 403 for ``system:anonymous``, a wrong token → 401, an unknown Deployment → 404.
The state starts as each scenario's Deployment (``shop/checkout``, 4 replicas).
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.faults import Fault, FaultBoard, FakeUpstream
from bot.sandbox.scenario import ScenarioFeed

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
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
        self._resource_version = 884300
        self._seed()

    def _seed(self) -> None:
        self.deployments = {(s.namespace, s.service): self._deployment(
            s.namespace, s.service, replicas=self.initial_replicas) for s in self.feed.all()}

    def reset(self) -> None:
        super().reset()
        self.operations.clear()
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
        return None

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
