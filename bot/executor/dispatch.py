"""Which executor runs which action kind, built once from settings.

    rollback, sync  → ArgoCD
    restart         → ArgoCD (the Deployment's resource action), or Kubernetes when ArgoCD is not configured
    scale           → Kubernetes
    runbook         → the signed runbook webhook
    manual          → nothing: a person does it

``ExecutorRegistry.execute`` is what the remediation service calls (``service.execution.ActionRunner``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from bot.executor.argocd import ArgoCDExecutor
from bot.executor.base import ExecutionResult, Executor, refused
from bot.executor.kubernetes import SERVICE_ACCOUNT_DIR, KubernetesExecutor, kubernetes_client
from bot.executor.webhook import RunbookExecutor
from bot.models import Action, ActionKind
from bot.settings import Settings
from bot.tls import trusted

ARGOCD_MISSING = "ArgoCD not configured (set ARGOCD_URL and ARGOCD_TOKEN)"
KUBERNETES_MISSING = "Kubernetes not configured (set KUBERNETES_API_URL and KUBERNETES_TOKEN, or run in a cluster)"
RESTART_MISSING = ("neither ArgoCD nor Kubernetes is configured (set ARGOCD_URL and ARGOCD_TOKEN, "
                   "or KUBERNETES_API_URL and KUBERNETES_TOKEN)")
RUNBOOK_MISSING = "runbooks not configured (set SITREP_RUNBOOKS and SITREP_RUNBOOK_SECRET)"
MANUAL = "manual step: nothing to execute"


class ExecutorRegistry:
    """Action kind → executor; ``aclose`` closes the HTTP clients it was given."""

    def __init__(self, *, argocd: ArgoCDExecutor | None = None, kubernetes: KubernetesExecutor | None = None,
                 runbook: RunbookExecutor | None = None, clients: Sequence[httpx.AsyncClient] = ()) -> None:
        self._kubernetes = kubernetes
        self._runbook = runbook
        self._clients = list(clients)
        candidates: dict[ActionKind, Executor | None] = {
            ActionKind.ROLLBACK: argocd,
            ActionKind.SYNC: argocd,
            ActionKind.RESTART: argocd or kubernetes,
            ActionKind.SCALE: kubernetes,
            ActionKind.RUNBOOK: runbook,
        }
        self.executors: dict[ActionKind, Executor] = {k: e for k, e in candidates.items() if e is not None}

    @property
    def clients(self) -> tuple[httpx.AsyncClient, ...]:
        return tuple(self._clients)

    def executor_for(self, kind: ActionKind) -> Executor | None:
        return self.executors.get(kind)

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None,
                      incident_id: int | str | None = None) -> ExecutionResult:
        """Run ``action``. ``history_id``: the ArgoCD history id the policy resolved a rollback to
        (it must agree with the action's own, if any); ``incident_id`` goes to runbook webhooks."""
        if action.kind is ActionKind.MANUAL:
            return refused(action, dry_run=dry_run, reason=MANUAL)
        if action.kind is ActionKind.ROLLBACK and history_id is not None:
            named = action.params.get("history_id")
            if named is not None and named != history_id:
                return refused(action, dry_run=dry_run, reason=(
                    f"history id mismatch: the action names {named}, the policy resolved {history_id}: nothing sent"))
            action = action.model_copy(update={"params": {**action.params, "history_id": history_id}})
        executor = self.executors.get(action.kind)
        if executor is None:
            return refused(action, dry_run=dry_run, reason=_missing(action.kind))
        if isinstance(executor, RunbookExecutor):
            return await executor.execute(action, dry_run=dry_run, incident_id=incident_id)
        return await executor.execute(action, dry_run=dry_run)

    async def current_replicas(self, namespace: str, name: str) -> int | None:
        """For the policy's scale bounds; None without Kubernetes or when it cannot be read."""
        return await self._kubernetes.current_replicas(namespace, name) if self._kubernetes else None

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()


def _missing(kind: ActionKind) -> str:
    return {ActionKind.ROLLBACK: ARGOCD_MISSING, ActionKind.SYNC: ARGOCD_MISSING,
            ActionKind.RESTART: RESTART_MISSING, ActionKind.SCALE: KUBERNETES_MISSING,
            ActionKind.RUNBOOK: RUNBOOK_MISSING}.get(kind, MANUAL)


def build_executors(settings: Settings, *, service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> ExecutorRegistry:
    """One ``httpx.AsyncClient`` per configured upstream (closed by ``aclose``), each request within
    ``SITREP_EXECUTION_TIMEOUT``."""
    timeout = httpx.Timeout(settings.sitrep_execution_timeout)
    clients: list[httpx.AsyncClient] = []
    argocd = kubernetes = runbook = None
    if settings.argocd_url and settings.argocd_token:
        client = httpx.AsyncClient(base_url=settings.argocd_url, timeout=timeout, verify=trusted(), headers={
            "Authorization": f"Bearer {settings.argocd_token.get_secret_value()}"})
        clients.append(client)
        argocd = ArgoCDExecutor(client, suspend_auto_sync=settings.sitrep_argocd_suspend_auto_sync)
    token = settings.kubernetes_token.get_secret_value() if settings.kubernetes_token else None
    k8s = kubernetes_client(url=settings.kubernetes_api_url, token=token, timeout=timeout,
                            service_account_dir=service_account_dir)
    if k8s is not None:
        clients.append(k8s)
        kubernetes = KubernetesExecutor(k8s)
    if settings.sitrep_runbooks and settings.sitrep_runbook_secret:
        hooks = httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=trusted())
        clients.append(hooks)
        runbook = RunbookExecutor(hooks, runbooks=settings.sitrep_runbooks, secret=settings.sitrep_runbook_secret)
    return ExecutorRegistry(argocd=argocd, kubernetes=kubernetes, runbook=runbook, clients=clients)
