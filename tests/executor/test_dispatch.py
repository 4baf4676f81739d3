"""Which executor runs which kind, what an unconfigured kind says, and ``build_executors`` from settings."""

from __future__ import annotations

import json
from typing import Any
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from bot.executor.argocd import ArgoCDExecutor
from bot.executor.dispatch import (
    ARGOCD_MISSING,
    KUBERNETES_MISSING,
    MANUAL,
    RESTART_MISSING,
    RUNBOOK_MISSING,
    ExecutorRegistry,
    build_executors,
)
from bot.executor.kubernetes import KubernetesExecutor
from bot.executor.webhook import RunbookExecutor
from bot.models import ActionKind
from bot.settings import Settings
from tests.executor.conftest import ARGO, K8S, action, application

APP = f"{ARGO}/api/v1/applications/checkout"
DEPLOYMENT = f"{K8S}/apis/apps/v1/namespaces/shop/deployments/checkout"


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"argocd_url": None, "argocd_token": None, "kubernetes_api_url": None,
                               "kubernetes_token": None, "sitrep_runbooks": {}, "sitrep_runbook_secret": None}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(("kind", "params", "reason"), [
    ("rollback", {"to_revision": "v2.14.2"}, "ArgoCD not configured (set ARGOCD_URL and ARGOCD_TOKEN)"),
    ("sync", {"revision": "v2.14.2"}, ARGOCD_MISSING),
    ("restart", {}, RESTART_MISSING),
    ("scale", {"replicas": 3}, KUBERNETES_MISSING),
    ("runbook", {"name": "drain"}, RUNBOOK_MISSING),
    ("manual", {"text": "page the DBA"}, "manual step: nothing to execute"),
])
async def test_a_kind_without_an_executor_says_what_to_set(kind: str, params: dict[str, Any],
                                                           reason: str) -> None:
    result = await ExecutorRegistry().execute(action(kind, **params), dry_run=True)
    assert not result.ok and result.error == reason and result.message == reason
    assert result.request is None and result.kind is ActionKind(kind)


async def test_kinds_go_to_their_executors() -> None:
    async with httpx.AsyncClient(base_url=ARGO) as argo_client, httpx.AsyncClient(base_url=K8S) as k8s_client, \
            httpx.AsyncClient() as hooks:
        argocd, kubernetes = ArgoCDExecutor(argo_client), KubernetesExecutor(k8s_client)
        runbook = RunbookExecutor(hooks, runbooks={"drain": "https://hooks.test/drain"}, secret=SecretStr("s"))
        both = ExecutorRegistry(argocd=argocd, kubernetes=kubernetes, runbook=runbook)
        assert both.executors == {ActionKind.ROLLBACK: argocd, ActionKind.SYNC: argocd, ActionKind.RESTART: argocd,
                                  ActionKind.SCALE: kubernetes, ActionKind.RUNBOOK: runbook}
        assert ExecutorRegistry(kubernetes=kubernetes).executor_for(ActionKind.RESTART) is kubernetes
        assert both.executor_for(ActionKind.MANUAL) is None


@respx.mock
async def test_a_restart_without_argocd_is_a_kubernetes_rollout_restart() -> None:
    route = respx.patch(DEPLOYMENT).respond(json={})
    async with httpx.AsyncClient(base_url=K8S) as client:
        result = await ExecutorRegistry(kubernetes=KubernetesExecutor(client)).execute(action("restart"), dry_run=True)
    assert result.ok and route.calls.last.request.url.params["dryRun"] == "All"


@respx.mock
async def test_the_history_id_the_policy_resolved_is_the_one_rolled_back_to() -> None:
    respx.get(APP).respond(json=application(auto_sync=False))
    post = respx.post(f"{APP}/rollback").respond(json={})
    async with httpx.AsyncClient(base_url=ARGO) as client:
        registry = ExecutorRegistry(argocd=ArgoCDExecutor(client))
        result = await registry.execute(action("rollback", to_revision="v2.14.2"), dry_run=True, history_id=12)
        assert result.ok and json.loads(post.calls.last.request.content)["id"] == 12
        # the policy resolved a different id than the action names: refuse rather than pick one
        clash = await registry.execute(action("rollback", to_revision="v2.14.2", history_id=11), dry_run=True,
                                       history_id=12)
        assert not clash.ok and "history id mismatch" in (clash.error or "") and post.call_count == 1
        # the policy's id must still be the revision the action names
        other = await registry.execute(action("rollback", to_revision="v2.14.2"), dry_run=True, history_id=11)
        assert not other.ok and "History id 11 of checkout is v2.14.1" in (other.error or "")


@respx.mock
async def test_the_incident_id_reaches_the_runbook() -> None:
    route = respx.post("https://hooks.test/drain").respond(204)
    async with httpx.AsyncClient() as client:
        registry = ExecutorRegistry(runbook=RunbookExecutor(client, runbooks={"drain": "https://hooks.test/drain"},
                                                            secret=SecretStr("s")))
        result = await registry.execute(action("runbook", name="drain"), dry_run=False, incident_id=7)
    assert result.ok and json.loads(route.calls.last.request.content)["incident_id"] == 7


async def test_build_executors_makes_one_client_per_configured_upstream(tmp_path: Path) -> None:
    registry = build_executors(settings(
        argocd_url=ARGO, argocd_token="argo-t", kubernetes_api_url=K8S, kubernetes_token="k8s-t",
        sitrep_runbooks={"drain": "https://hooks.test/drain"}, sitrep_runbook_secret="s",
        sitrep_execution_timeout=3.0,
    ), service_account_dir=tmp_path)
    assert set(registry.executors) == {ActionKind.ROLLBACK, ActionKind.SYNC, ActionKind.RESTART, ActionKind.SCALE,
                                       ActionKind.RUNBOOK}
    assert isinstance(registry.executor_for(ActionKind.RESTART), ArgoCDExecutor)
    clients = registry.clients
    assert len(clients) == 3 and all(c.timeout == httpx.Timeout(3.0) for c in clients)
    assert clients[0].headers["authorization"] == "Bearer argo-t"
    assert clients[1].headers["authorization"] == "Bearer k8s-t"
    assert "authorization" not in clients[2].headers
    await registry.aclose()
    assert all(c.is_closed for c in clients)


@respx.mock
async def test_build_executors_wires_replicas_and_suspension_from_settings(tmp_path: Path) -> None:
    respx.get(f"{DEPLOYMENT}/scale").respond(json={"spec": {"replicas": 4}})
    respx.get(APP).respond(json=application())
    respx.patch(APP).respond(json={})
    respx.post(f"{APP}/rollback").respond(json={})
    registry = build_executors(settings(argocd_url=ARGO, argocd_token="a", kubernetes_api_url=K8S,
                                        sitrep_argocd_suspend_auto_sync=True), service_account_dir=tmp_path)
    try:
        assert await registry.current_replicas("shop", "checkout") == 4
        result = await registry.execute(action("rollback", to_revision="v2.14.2"), dry_run=False)
        assert result.ok and result.auto_sync_suspended
    finally:
        await registry.aclose()


@pytest.mark.parametrize("values", [
    {"argocd_url": ARGO},  # no token: not configured rather than a 401 at the worst moment
    {"sitrep_runbooks": {"drain": "https://hooks.test/drain"}},  # no secret: never call unsigned
])
async def test_half_configured_upstreams_are_not_configured(values: dict[str, object], tmp_path: Path) -> None:
    registry = build_executors(settings(**values), service_account_dir=tmp_path)
    assert registry.executors == {} and await registry.current_replicas("shop", "checkout") is None
    await registry.aclose()


async def test_in_cluster_kubernetes_when_no_url_is_set(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token")
    registry = build_executors(settings(), service_account_dir=tmp_path)
    assert set(registry.executors) == {ActionKind.SCALE, ActionKind.RESTART}
    await registry.aclose()
