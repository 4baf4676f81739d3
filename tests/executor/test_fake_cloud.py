"""The executors over real HTTP against the sandbox (``FakeCloud``): built from the environment the sandbox
gives Sitrep, recorded by the fake ArgoCD and the fake Kubernetes API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.executor.dispatch import ExecutorRegistry, build_executors
from bot.executor.kubernetes import KubernetesExecutor
from bot.sandbox.server import FakeCloud
from bot.settings import Settings
from tests.executor.conftest import action


def kubernetes(cloud: FakeCloud, what: str) -> Any:
    return httpx.get(f"{cloud.env()['KUBERNETES_API_URL']}/{what}").json()


def scale(cloud: FakeCloud) -> int:
    url = f"{cloud.env()['KUBERNETES_API_URL']}/apis/apps/v1/namespaces/shop/deployments/checkout/scale"
    response = httpx.get(url, headers={"Authorization": f"Bearer {cloud.credentials.kubernetes_token}"})
    return int(response.json()["spec"]["replicas"])


def settings_for(cloud: FakeCloud, **overrides: str | None) -> Settings:
    """Sitrep's settings from the environment the sandbox gives it."""
    env = {key.lower(): value for key, value in cloud.env(**overrides).items()}
    return Settings(_env_file=None, **env)  # type: ignore[call-arg, arg-type]


@pytest.fixture
async def registry(cloud: FakeCloud, tmp_path: Path) -> AsyncIterator[ExecutorRegistry]:
    made = build_executors(settings_for(cloud), service_account_dir=tmp_path)
    yield made
    await made.aclose()


async def test_a_dry_run_rollback_is_recorded_by_argocd_with_the_resolved_history_id(
    cloud: FakeCloud, registry: ExecutorRegistry
) -> None:
    scenario = cloud.scenario
    result = await registry.execute(action("rollback", to_revision=scenario.previous_revision), dry_run=True)
    assert result.ok, result.message
    rollbacks = [op for op in cloud.argocd_operations() if op["op"] == "rollback"]
    assert len(rollbacks) == 1
    assert rollbacks[0]["body"] == {"name": scenario.app, "id": scenario.previous_history_id, "dryRun": True,
                                    "prune": False}
    assert cloud.credentials.argocd_token not in result.model_dump_json()


async def test_a_real_rollback_with_auto_sync_on_is_refused_before_argocd_sees_it(
    cloud: FakeCloud, registry: ExecutorRegistry
) -> None:
    result = await registry.execute(action("rollback", to_revision="v2.14.2"), dry_run=False)
    assert not result.ok and "auto-sync is on" in (result.error or "")
    assert cloud.argocd_operations() == []


async def test_a_revision_argocd_never_deployed_sends_nothing(cloud: FakeCloud, registry: ExecutorRegistry) -> None:
    result = await registry.execute(action("rollback", to_revision="v1.0.0"), dry_run=True)
    assert not result.ok and "not in the ArgoCD history" in (result.error or "")
    assert cloud.argocd_operations() == []


async def test_scale_is_recorded_by_kubernetes_and_dry_run_changes_nothing(
    cloud: FakeCloud, registry: ExecutorRegistry
) -> None:
    assert await registry.current_replicas("shop", "checkout") == 4

    dry = await registry.execute(action("scale", replicas=6), dry_run=True)
    assert dry.ok and scale(cloud) == 4
    real = await registry.execute(action("scale", replicas=6), dry_run=False)
    assert real.ok and scale(cloud) == 6
    assert await registry.current_replicas("shop", "checkout") == 6

    operations = kubernetes(cloud, "_operations")
    assert [(op["op"], op["dry_run"], op["body"]) for op in operations] == [
        ("scale", True, {"spec": {"replicas": 6}}), ("scale", False, {"spec": {"replicas": 6}})]
    assert operations[0]["content_type"] == "application/merge-patch+json"


async def test_rollout_restart_sets_the_annotation_in_kubernetes(cloud: FakeCloud, tmp_path: Path) -> None:
    registry = build_executors(settings_for(cloud, ARGOCD_URL=None), service_account_dir=tmp_path)
    try:
        result = await registry.execute(action("restart"), dry_run=False)  # no ArgoCD: Kubernetes restarts
    finally:
        await registry.aclose()
    assert result.ok, result.message
    deployment = cloud.sandbox.kubernetes.deployments[("shop", "checkout")]
    assert "kubectl.kubernetes.io/restartedAt" in deployment["spec"]["template"]["metadata"]["annotations"]
    assert [op["op"] for op in kubernetes(cloud, "_operations")] == ["patch"]


async def test_kubernetes_errors_come_back_as_reasons(cloud: FakeCloud, registry: ExecutorRegistry) -> None:
    missing = await registry.execute(action("scale", service="cart", replicas=2), dry_run=False)
    assert not missing.ok and missing.error == 'Kubernetes 404 deployments.apps "cart" not found'
    async with httpx.AsyncClient(base_url=cloud.env()["KUBERNETES_API_URL"],
                                 headers={"Authorization": "Bearer wrong"}) as client:
        wrong = await KubernetesExecutor(client).execute(action("scale", replicas=2), dry_run=False)
    assert not wrong.ok and wrong.error == "Kubernetes 401 Unauthorized"
    assert kubernetes(cloud, "_operations") == []
