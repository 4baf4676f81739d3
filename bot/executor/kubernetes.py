"""Kubernetes: scale through the ``scale`` subresource, rollout restart through the ``restartedAt``
annotation, both with the API server's own dry run (``?dryRun=All``: validated, admitted, not stored).

    scale     PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale   merge patch {"spec": {"replicas": n}}
    restart   PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}         strategic merge patch of
              spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] (what kubectl does)

Credentials: ``KUBERNETES_API_URL`` + ``KUBERNETES_TOKEN``, or, when the URL is unset and Sitrep runs in
a pod, the service account's token file (re-read as the kubelet rotates it) and CA.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.executor.base import ExecutionResult, ExecutorError, RefusedError, Run, check_name
from bot.models import Action, ActionKind, ScaleParams, utcnow
from bot.tls import trusted

UPSTREAM = "Kubernetes"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
FIELD_MANAGER = "sitrep"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_URL = "https://kubernetes.default.svc"


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


class KubernetesExecutor:
    """Runs scale and rollout restart against the API server ``client`` points at (with its auth)."""

    def __init__(self, client: httpx.AsyncClient, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._client = client
        self._clock = clock

    async def current_replicas(self, namespace: str, name: str) -> int | None:
        """``spec.replicas`` of the Deployment's scale subresource; None when it cannot be read."""
        try:
            path = deployment_path(check_name(namespace, what="namespace"), check_name(name, what="Deployment"))
            response = await self._client.get(f"{path}/scale")
            response.raise_for_status()
            replicas = response.json()["spec"]["replicas"]
        except (httpx.HTTPError, ExecutorError, ValueError, KeyError, TypeError):
            return None
        return replicas if isinstance(replicas, int) and not isinstance(replicas, bool) else None

    async def execute(self, action: Action, *, dry_run: bool) -> ExecutionResult:
        run = Run(action, dry_run=dry_run, upstream=UPSTREAM, client=self._client)
        where = f"{action.target.namespace or '?'}/{action.target.service}"
        try:
            namespace = check_name(action.target.namespace, what="namespace")
            name = check_name(action.target.service, what="Deployment")
            params = {"fieldManager": FIELD_MANAGER, **({"dryRun": "All"} if dry_run else {})}
            match action.kind:
                case ActionKind.SCALE:
                    replicas = ScaleParams.model_validate(action.params).replicas
                    await run.call("PATCH", f"{deployment_path(namespace, name)}/scale", params=params,
                                   body={"spec": {"replicas": replicas}}, content_type=MERGE_PATCH, main=True)
                    done = f"scaling {where} to {replicas} replicas"
                case ActionKind.RESTART:
                    stamp = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
                    await run.call("PATCH", deployment_path(namespace, name), params=params, body=body,
                                   content_type=STRATEGIC_MERGE_PATCH, main=True)
                    done = f"a rollout restart of {where}"
                case _:
                    raise RefusedError(f"Kubernetes does not run {action.kind.value} actions")
        except ExecutorError as exc:
            return run.failed(exc, what=f"{action.kind.value} of {where}")
        return run.result(ok=True, message=(
            f"dry run: Kubernetes accepted {done} (server-side dry run); nothing changed" if dry_run
            else f"Kubernetes applied {done}"))


# ---------------------------------------------------------------------- credentials


class ServiceAccountAuth(httpx.Auth):
    """Bearer auth from a service-account token file, re-read at most every ``ttl`` seconds
    (bound tokens are rotated by the kubelet)."""

    def __init__(self, token_file: Path, *, ttl: float = 60.0) -> None:
        self._file = token_file
        self._ttl = ttl
        self._token = ""
        self._read_at = float("-inf")

    def _current(self) -> str:
        if time.monotonic() - self._read_at > self._ttl:
            try:
                self._token = self._file.read_text().strip()
                self._read_at = time.monotonic()
            except OSError:  # keep the last token; without one the API server answers 401 (reported)
                pass
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if token := self._current():
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


def kubernetes_client(*, url: str | None, token: str | None, timeout: httpx.Timeout,
                      service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> httpx.AsyncClient | None:
    """A client for the configured API server, or the in-cluster one; None when neither is available."""
    if url:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout, verify=trusted())
    token_file = service_account_dir / "token"
    if not token_file.is_file():
        return None
    ca = service_account_dir / "ca.crt"
    verify = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else trusted()
    return httpx.AsyncClient(base_url=IN_CLUSTER_URL, auth=ServiceAccountAuth(token_file), verify=verify,
                             timeout=timeout)
