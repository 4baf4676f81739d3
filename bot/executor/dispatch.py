"""Which executor runs which action kind, built once from settings."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.executor.argocd import ArgoCDExecutor
from bot.executor.base import ExecutionResult, Executor, Recorder
from bot.executor.kubernetes import KubernetesExecutor
from bot.executor.webhook import RunbookExecutor
from bot.models import Action, ActionKind
from bot.settings import Settings

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
IN_CLUSTER_URL = "https://kubernetes.default.svc"


class ExecutorRegistry:
    def __init__(self, *, argocd: ArgoCDExecutor | None, kubernetes: KubernetesExecutor | None,
                 runbook: RunbookExecutor | None, clients: list[httpx.AsyncClient] | None = None) -> None:
        self._argocd = argocd
        self._kubernetes = kubernetes
        self._runbook = runbook
        self._clients = clients or []

    def _executor_for(self, kind: ActionKind) -> tuple[Executor | None, str]:
        match kind:
            case ActionKind.ROLLBACK | ActionKind.SYNC:
                return self._argocd, "ArgoCD not configured (set ARGOCD_URL and ARGOCD_TOKEN)"
            case ActionKind.RESTART:
                return self._argocd or self._kubernetes, "neither ArgoCD nor Kubernetes is configured"
            case ActionKind.SCALE:
                return self._kubernetes, "Kubernetes not configured (set KUBERNETES_API_URL)"
            case ActionKind.RUNBOOK:
                return self._runbook, "no runbooks configured (set SITREP_RUNBOOKS)"
        return None, "manual step: nothing to execute"

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionResult:
        executor, missing = self._executor_for(action.kind)
        if executor is None:
            return Recorder(action, dry_run=dry_run).result(ok=False, error=missing, message=missing)
        return await executor.execute(action, dry_run=dry_run, history_id=history_id)

    async def current_replicas(self, namespace: str, name: str) -> int | None:
        return await self._kubernetes.current_replicas(namespace, name) if self._kubernetes else None

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


def build_executors(settings: Settings) -> ExecutorRegistry:
    clients: list[httpx.AsyncClient] = []
    timeout = httpx.Timeout(settings.sitrep_execution_timeout)

    def client(**kw: object) -> httpx.AsyncClient:
        made = httpx.AsyncClient(timeout=timeout, **kw)  # type: ignore[arg-type]
        clients.append(made)
        return made

    argocd = None
    if settings.argocd_url:
        headers = {"Authorization": f"Bearer {settings.argocd_token.get_secret_value()}"} if settings.argocd_token else {}
        argocd = ArgoCDExecutor(client(base_url=settings.argocd_url, headers=headers),
                                suspend_auto_sync=settings.sitrep_argocd_suspend_auto_sync)
    kubernetes = None
    k8s_url, k8s_token, verify = settings.kubernetes_api_url, settings.kubernetes_token, True
    if k8s_url is None and IN_CLUSTER_TOKEN.exists():
        k8s_url, verify = IN_CLUSTER_URL, str(IN_CLUSTER_TOKEN.parent / "ca.crt")
        k8s_token = None
        headers = {"Authorization": f"Bearer {IN_CLUSTER_TOKEN.read_text().strip()}"}
    else:
        headers = {"Authorization": f"Bearer {k8s_token.get_secret_value()}"} if k8s_token else {}
    if k8s_url:
        kubernetes = KubernetesExecutor(client(base_url=k8s_url, headers=headers, verify=verify))
    runbook = None
    if settings.sitrep_runbooks:
        runbook = RunbookExecutor(client(), runbooks=settings.sitrep_runbooks, secret=settings.sitrep_runbook_secret)
    return ExecutorRegistry(argocd=argocd, kubernetes=kubernetes, runbook=runbook, clients=clients)
