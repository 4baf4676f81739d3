"""Kubernetes executor against a respx-mocked API server: the patches, server-side dry run, Status errors,
the replica lookup, and credentials (token or in-cluster service account)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx

from bot.executor.kubernetes import IN_CLUSTER_URL, KubernetesExecutor, ServiceAccountAuth, kubernetes_client
from bot.models import ActionKind
from tests.executor.conftest import K8S, K8S_TOKEN, TIMEOUT, action, kubernetes_body

DEPLOYMENT = f"{K8S}/apis/apps/v1/namespaces/shop/deployments/checkout"
RESTARTED = datetime(2025, 11, 25, 3, 52, tzinfo=UTC)


def executor(client: httpx.AsyncClient) -> KubernetesExecutor:
    return KubernetesExecutor(client, clock=lambda: RESTARTED)


# ---------------------------------------------------------------------- scale


@pytest.mark.parametrize("dry_run", [True, False])
@respx.mock
async def test_scale_is_a_merge_patch_of_the_scale_subresource(k8s: httpx.AsyncClient, dry_run: bool) -> None:
    scaled = {**kubernetes_body("scale.json"), "spec": {"replicas": 6}}
    route = respx.patch(f"{DEPLOYMENT}/scale").respond(json=scaled)

    result = await executor(k8s).execute(action("scale", replicas=6), dry_run=dry_run)

    assert len(respx.calls) == 1
    request = route.calls.last.request
    assert request.method == "PATCH"
    assert request.headers["content-type"] == "application/merge-patch+json"
    assert request.headers["authorization"] == f"Bearer {K8S_TOKEN}"
    assert json.loads(request.content) == kubernetes_body("scale_patch.json")
    expected = {"fieldManager": "sitrep", **({"dryRun": "All"} if dry_run else {})}
    assert dict(request.url.params) == expected
    assert result.ok and result.sent and result.dry_run is dry_run and result.kind is ActionKind.SCALE
    assert result.request is not None and result.request.body == {"spec": {"replicas": 6}}
    assert result.response is not None and result.response.status == 200
    assert result.message == (
        "dry run: Kubernetes accepted scaling shop/checkout to 6 replicas (server-side dry run); nothing changed"
        if dry_run else "Kubernetes applied scaling shop/checkout to 6 replicas")
    assert K8S_TOKEN not in result.model_dump_json()


# ---------------------------------------------------------------------- restart


@pytest.mark.parametrize("dry_run", [True, False])
@respx.mock
async def test_rollout_restart_patches_the_restarted_at_annotation(k8s: httpx.AsyncClient, dry_run: bool) -> None:
    route = respx.patch(DEPLOYMENT).respond(json={"kind": "Deployment"})
    result = await executor(k8s).execute(action("restart"), dry_run=dry_run)
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/strategic-merge-patch+json"
    assert json.loads(request.content) == kubernetes_body("restart_patch.json")  # 2025-11-25T03:52:00Z
    assert ("dryRun" in request.url.params) is dry_run
    assert result.ok and result.sent and "rollout restart of shop/checkout" in result.message


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(("response", "reason"), [
    (httpx.Response(403, json=kubernetes_body("status_403.json")),
     'Kubernetes 403 deployments.apps "checkout" is forbidden: User "system:serviceaccount:sitrep:sitrep" cannot '
     'patch resource "deployments/scale" in API group "apps" in the namespace "shop"'),
    (httpx.Response(404, json=kubernetes_body("status_404.json")),
     'Kubernetes 404 deployments.apps "checkout" not found'),
    (httpx.Response(500, text=""), "Kubernetes 500 Internal Server Error"),
])
@respx.mock
async def test_status_errors_are_reported_with_their_message(k8s: httpx.AsyncClient, response: httpx.Response,
                                                             reason: str) -> None:
    respx.patch(f"{DEPLOYMENT}/scale").mock(return_value=response)
    result = await executor(k8s).execute(action("scale", replicas=6), dry_run=False)
    assert not result.ok and result.error == reason
    assert result.message == f"scale of shop/checkout failed: {reason}"
    assert result.response is not None and result.response.status == response.status_code


@respx.mock
async def test_a_timeout_is_reported_with_the_budget(k8s: httpx.AsyncClient) -> None:
    respx.patch(DEPLOYMENT).mock(side_effect=httpx.ReadTimeout("slow"))
    result = await executor(k8s).execute(action("restart"), dry_run=False)
    assert not result.ok and result.error == "Kubernetes timeout after 10 s"


@pytest.mark.parametrize(("namespace", "service", "reason"), [
    (None, "checkout", "no namespace given: refusing to guess"),
    ("shop", "../../secrets", "Deployment '../../secrets' is not a valid name: nothing sent"),
])
async def test_a_target_that_is_not_a_deployment_name_is_refused(k8s: httpx.AsyncClient, namespace: str | None,
                                                                 service: str, reason: str) -> None:
    with respx.mock:
        result = await executor(k8s).execute(action("scale", namespace=namespace, service=service, replicas=2),
                                             dry_run=False)
    assert not result.ok and result.error == reason and result.request is None


async def test_kinds_kubernetes_does_not_run_are_refused(k8s: httpx.AsyncClient) -> None:
    result = await executor(k8s).execute(action("sync", revision="v1"), dry_run=False)
    assert not result.ok and result.error == "Kubernetes does not run sync actions"


# ---------------------------------------------------------------------- current replicas


@respx.mock
async def test_current_replicas_reads_the_scale_subresource(k8s: httpx.AsyncClient) -> None:
    respx.get(f"{DEPLOYMENT}/scale").respond(json=kubernetes_body("scale.json"))
    assert await executor(k8s).current_replicas("shop", "checkout") == 3


@pytest.mark.parametrize("response", [
    httpx.Response(404, json=kubernetes_body("status_404.json")),
    httpx.Response(200, json={"spec": {}}),
    httpx.Response(200, text="not json"),
])
@respx.mock
async def test_current_replicas_is_none_when_it_cannot_be_read(k8s: httpx.AsyncClient,
                                                               response: httpx.Response) -> None:
    respx.get(f"{DEPLOYMENT}/scale").mock(return_value=response)
    assert await executor(k8s).current_replicas("shop", "checkout") is None


@respx.mock
async def test_current_replicas_survives_a_timeout(k8s: httpx.AsyncClient) -> None:
    respx.get(f"{DEPLOYMENT}/scale").mock(side_effect=httpx.ConnectTimeout("slow"))
    assert await executor(k8s).current_replicas("shop", "checkout") is None


# ---------------------------------------------------------------------- credentials


async def test_configured_url_and_token_give_a_bearer_client(tmp_path: Path) -> None:
    client = kubernetes_client(url=K8S, token="t0k", timeout=TIMEOUT, service_account_dir=tmp_path)
    assert client is not None
    async with client:
        assert str(client.base_url).rstrip("/") == K8S
        assert client.headers["authorization"] == "Bearer t0k"


def test_no_url_and_no_service_account_means_no_client(tmp_path: Path) -> None:
    assert kubernetes_client(url=None, token=None, timeout=TIMEOUT, service_account_dir=tmp_path) is None


@respx.mock
async def test_in_cluster_the_service_account_token_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("first-token\n")
    client = kubernetes_client(url=None, token=None, timeout=TIMEOUT, service_account_dir=tmp_path)
    assert client is not None
    route = respx.get(f"{IN_CLUSTER_URL}/apis/apps/v1/namespaces/shop/deployments/checkout/scale").respond(
        json=kubernetes_body("scale.json"))
    async with client:
        assert await KubernetesExecutor(client).current_replicas("shop", "checkout") == 3
    assert route.calls.last.request.headers["authorization"] == "Bearer first-token"


@respx.mock
async def test_a_rotated_service_account_token_is_picked_up(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    route = respx.get(f"{K8S}/version").respond(json={})
    async with httpx.AsyncClient(base_url=K8S, auth=ServiceAccountAuth(token, ttl=0)) as client:
        await client.get("/version")
        token.write_text("rotated-token\n")
        await client.get("/version")
        token.unlink()  # unreadable: the last token is kept
        await client.get("/version")
    assert [c.request.headers["authorization"] for c in route.calls] == [
        "Bearer first-token", "Bearer rotated-token", "Bearer rotated-token"]
