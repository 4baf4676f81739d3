"""Executors against respx-mocked upstreams: exactly what is sent, dry runs, and failures reported."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from bot.executor.argocd import ArgoCDExecutor
from bot.executor.dispatch import ExecutorRegistry
from bot.executor.kubernetes import KubernetesExecutor
from bot.executor.webhook import RunbookExecutor
from bot.models import Action, ActionTarget

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
ARGO = "https://argocd.test"
K8S = "https://k8s.test"


def application(*, auto_sync: bool = True) -> dict[str, Any]:
    app = json.loads((FIXTURES / "argocd" / "application.json").read_text())
    if not auto_sync:
        app["spec"].pop("syncPolicy", None)
    return app


def rollback(to: str = "v2.14.2", **params: Any) -> Action:
    return Action(kind="rollback", target=ActionTarget(service="checkout", namespace="shop", app="checkout"),
                  params={"to_revision": to, **params}, rationale="bad deploy")


@pytest.fixture
async def argo() -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=ARGO) as client:
        yield client


@respx.mock
async def test_rollback_resolves_the_revision_to_its_history_id_and_uses_argocd_dry_run(argo: httpx.AsyncClient) -> None:
    respx.get(f"{ARGO}/api/v1/applications/checkout").respond(json=application())
    route = respx.post(f"{ARGO}/api/v1/applications/checkout/rollback").respond(json=application())
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=True)
    assert result.ok and result.dry_run
    assert json.loads(route.calls.last.request.content) == {"name": "checkout", "id": 12, "dryRun": True, "prune": False}
    assert "v2.14.2 (history 12)" in result.message


@respx.mock
async def test_rollback_while_auto_sync_is_on_is_refused_unless_allowed_to_suspend(argo: httpx.AsyncClient) -> None:
    respx.get(f"{ARGO}/api/v1/applications/checkout").respond(json=application(auto_sync=True))
    rollback_route = respx.post(f"{ARGO}/api/v1/applications/checkout/rollback").respond(json={})
    patch_route = respx.patch(f"{ARGO}/api/v1/applications/checkout").respond(json={})
    refused = await ArgoCDExecutor(argo).execute(rollback(), dry_run=False)
    assert not refused.ok and "auto-sync is on" in refused.message
    assert not rollback_route.called and not patch_route.called
    done = await ArgoCDExecutor(argo, suspend_auto_sync=True).execute(rollback(), dry_run=False)
    assert done.ok and "auto-sync turned off first" in done.message
    patch = json.loads(patch_route.calls.last.request.content)
    assert patch["patchType"] == "merge" and json.loads(patch["patch"]) == {"spec": {"syncPolicy": {"automated": None}}}
    assert json.loads(rollback_route.calls.last.request.content)["dryRun"] is False


@respx.mock
async def test_a_revision_not_in_history_sends_nothing(argo: httpx.AsyncClient) -> None:
    respx.get(f"{ARGO}/api/v1/applications/checkout").respond(json=application())
    route = respx.post(f"{ARGO}/api/v1/applications/checkout/rollback")
    result = await ArgoCDExecutor(argo).execute(rollback("v9.9.9"), dry_run=True)
    assert not result.ok and "not in the ArgoCD history" in result.message and not route.called


@respx.mock
async def test_upstream_errors_are_reported_with_their_reason(argo: httpx.AsyncClient) -> None:
    denied = json.loads((FIXTURES / "argocd" / "error_permission_denied.json").read_text())
    respx.get(f"{ARGO}/api/v1/applications/checkout").respond(403, json=denied)
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=True)
    assert not result.ok and result.status == 403
    assert result.message.startswith("rollback failed: ArgoCD 403")
    respx.get(f"{ARGO}/api/v1/applications/checkout").mock(side_effect=httpx.ReadTimeout("slow"))
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=True)
    assert not result.ok and "ArgoCD timeout" in result.message


@respx.mock
async def test_restart_in_dry_run_sends_nothing_and_for_real_runs_the_resource_action(argo: httpx.AsyncClient) -> None:
    route = respx.post(f"{ARGO}/api/v1/applications/checkout/resource/actions").respond(json={})
    action = Action(kind="restart", target=ActionTarget(service="checkout", namespace="shop"), params={}, rationale="x")
    dry = await ArgoCDExecutor(argo).execute(action, dry_run=True)
    assert dry.ok and not route.called and "would restart" in dry.message
    await ArgoCDExecutor(argo).execute(action, dry_run=False)
    request = route.calls.last.request
    assert request.url.params["kind"] == "Deployment" and request.url.params["namespace"] == "shop"
    assert json.loads(request.content) == {"action": "restart"}


@respx.mock
async def test_kubernetes_scale_uses_merge_patch_and_server_side_dry_run() -> None:
    route = respx.patch(f"{K8S}/apis/apps/v1/namespaces/shop/deployments/cart/scale").respond(json={})
    async with httpx.AsyncClient(base_url=K8S) as client:
        action = Action(kind="scale", target=ActionTarget(service="cart", namespace="shop"), params={"replicas": 6},
                        rationale="load")
        result = await KubernetesExecutor(client).execute(action, dry_run=True)
    request = route.calls.last.request
    assert result.ok and request.url.params["dryRun"] == "All"
    assert request.headers["content-type"] == "application/merge-patch+json"
    assert json.loads(request.content) == {"spec": {"replicas": 6}}


@respx.mock
async def test_kubernetes_rollout_restart_patches_the_restarted_at_annotation() -> None:
    route = respx.patch(f"{K8S}/apis/apps/v1/namespaces/shop/deployments/cart").respond(json={})
    async with httpx.AsyncClient(base_url=K8S) as client:
        action = Action(kind="restart", target=ActionTarget(service="cart", namespace="shop"), params={}, rationale="x")
        result = await KubernetesExecutor(client).execute(action, dry_run=False)
    request = route.calls.last.request
    assert result.ok and "dryRun" not in request.url.params
    assert request.headers["content-type"] == "application/strategic-merge-patch+json"
    annotations = json.loads(request.content)["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations


@respx.mock
async def test_runbook_calls_only_configured_urls_with_a_verifiable_signature() -> None:
    route = respx.post("https://hooks.test/drain").respond(204)
    async with httpx.AsyncClient() as client:
        executor = RunbookExecutor(client, runbooks={"drain": "https://hooks.test/drain"}, secret=SecretStr("s3cret"))
        action = Action(kind="runbook", target=ActionTarget(service="cart"), params={"name": "drain"}, rationale="x")
        assert (await executor.execute(action, dry_run=True)).ok and not route.called
        result = await executor.execute(action, dry_run=False)
        unknown = await executor.execute(action.model_copy(update={"params": {"name": "http://evil"}}), dry_run=False)
    request = route.calls.last.request
    expected = hmac.new(b"s3cret", request.headers["x-sitrep-timestamp"].encode() + b"." + request.content,
                        hashlib.sha256).hexdigest()
    assert result.ok and request.headers["x-sitrep-signature"] == f"sha256={expected}"
    assert not unknown.ok and route.call_count == 1


async def test_a_kind_without_a_configured_executor_says_what_to_set() -> None:
    registry = ExecutorRegistry(argocd=None, kubernetes=None, runbook=None)
    result = await registry.execute(rollback(), dry_run=True)
    assert not result.ok and "ARGOCD_URL" in result.message
