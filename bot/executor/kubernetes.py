"""Kubernetes: scale through the ``scale`` subresource, rollout restart through the
``restartedAt`` annotation; both use the API server's own dry run (``dryRun=All``)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from bot.executor.base import ExecutionResult, Recorder, describe_failure
from bot.models import Action, ActionKind

UPSTREAM = "Kubernetes"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


class KubernetesExecutor:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def current_replicas(self, namespace: str, name: str) -> int | None:
        try:
            response = await self._client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
            response.raise_for_status()
            return int(response.json()["spec"]["replicas"])
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            return None

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionResult:
        record = Recorder(action, dry_run=dry_run)
        namespace = action.target.namespace or "default"
        name = action.target.service
        deployment = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        params = {"dryRun": "All"} if dry_run else {}
        try:
            if action.kind is ActionKind.SCALE:
                replicas = int(action.params["replicas"])
                body = {"spec": {"replicas": replicas}}
                record.sent("PATCH", f"{deployment}/scale", body)
                response = await self._client.patch(f"{deployment}/scale", params=params, json=body,
                                                    headers={"Content-Type": MERGE})
                response.raise_for_status()
                what = f"scale {namespace}/{name} to {replicas} replicas"
            elif action.kind is ActionKind.RESTART:
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                body = {"spec": {"template": {"metadata": {"annotations": {
                    "kubectl.kubernetes.io/restartedAt": stamp}}}}}
                record.sent("PATCH", deployment, body)
                response = await self._client.patch(deployment, params=params, json=body,
                                                    headers={"Content-Type": STRATEGIC})
                response.raise_for_status()
                what = f"rollout restart of {namespace}/{name}"
            else:
                return record.result(ok=False, error="unsupported", message=f"Kubernetes cannot {action.kind.value}")
        except httpx.HTTPError as exc:
            status, reason = describe_failure(UPSTREAM, exc)
            return record.result(ok=False, status=status, error=reason, message=f"{action.kind.value} failed: {reason}")
        prefix = "dry run: Kubernetes accepted" if dry_run else "Kubernetes applied"
        return record.result(ok=True, status=response.status_code, message=f"{prefix} {what}")
