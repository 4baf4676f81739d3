"""The sandbox's fake Kubernetes API (``bot/sandbox/kubernetes_api.py``) over real HTTP: the shapes and
errors the executor relies on, so a green executor test against it means something."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.sandbox.server import FakeCloud

SCALE = "/apis/apps/v1/namespaces/shop/deployments/checkout/scale"
DEPLOYMENT = "/apis/apps/v1/namespaces/shop/deployments/checkout"
MERGE = {"Content-Type": "application/merge-patch+json"}


def request(cloud: FakeCloud, method: str, path: str, *, token: str | None = "", body: Any = None,
            headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> httpx.Response:
    auth = {} if token is None else {"Authorization": f"Bearer {token or cloud.credentials.kubernetes_token}"}
    return httpx.request(method, f"{cloud.env()['KUBERNETES_API_URL']}{path}", params=params,
                         headers={**auth, **(headers or {})},
                         content=None if body is None else json.dumps(body).encode())


def test_the_scenario_deployment_starts_at_four_replicas(cloud: FakeCloud) -> None:
    scale = request(cloud, "GET", SCALE).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 4} and scale["status"]["selector"] == "app=checkout"
    deployment = request(cloud, "GET", DEPLOYMENT).json()
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 4


def test_dry_run_answers_as_if_applied_and_changes_nothing(cloud: FakeCloud) -> None:
    dry = request(cloud, "PATCH", SCALE, body={"spec": {"replicas": 7}}, headers=MERGE, params={"dryRun": "All"})
    assert dry.status_code == 200 and dry.json()["spec"]["replicas"] == 7
    assert request(cloud, "GET", SCALE).json()["spec"]["replicas"] == 4
    real = request(cloud, "PATCH", SCALE, body={"spec": {"replicas": 7}}, headers=MERGE)
    assert real.json()["spec"]["replicas"] == 7 and request(cloud, "GET", SCALE).json()["spec"]["replicas"] == 7
    cloud.reset()
    assert request(cloud, "GET", SCALE).json()["spec"]["replicas"] == 4


def test_a_strategic_merge_patch_sets_the_restart_annotation(cloud: FakeCloud) -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}
    response = request(cloud, "PATCH", DEPLOYMENT, body=patch,
                       headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert response.status_code == 200
    template = request(cloud, "GET", DEPLOYMENT).json()["spec"]["template"]
    assert template["metadata"]["annotations"] == {"kubectl.kubernetes.io/restartedAt": "now"}
    assert template["metadata"]["labels"] == {"app": "checkout"}  # merged, not replaced


@pytest.mark.parametrize(("method", "path", "token", "body", "headers", "params", "status", "reason", "message"), [
    ("GET", SCALE, None, None, None, None, 403, "Forbidden",
     'deployments.apps "checkout" is forbidden: User "system:anonymous" cannot get resource "deployments/scale" '
     'in API group "apps" in the namespace "shop"'),
    ("PATCH", SCALE, "wrong", {"spec": {"replicas": 2}}, MERGE, None, 401, "Unauthorized", "Unauthorized"),
    ("GET", "/apis/apps/v1/namespaces/shop/deployments/cart/scale", "", None, None, None, 404, "NotFound",
     'deployments.apps "cart" not found'),
    ("PATCH", SCALE, "", {"spec": {"replicas": -1}}, MERGE, None, 422, "Invalid",
     'Scale.autoscaling "checkout" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'),
    ("PATCH", SCALE, "", {"spec": {"replicas": 2}}, {"Content-Type": "application/json"}, None, 415,
     "UnsupportedMediaType", None),
    ("PATCH", SCALE, "", {"spec": {"replicas": 2}}, MERGE, {"dryRun": "Yes"}, 400, "BadRequest", None),
])
def test_errors_are_status_objects(cloud: FakeCloud, method: str, path: str, token: str | None, body: Any,
                                   headers: dict[str, str] | None, params: dict[str, str] | None, status: int,
                                   reason: str, message: str | None) -> None:
    response = request(cloud, method, path, token=token, body=body, headers=headers, params=params)
    assert response.status_code == status
    error = response.json()
    assert error["kind"] == "Status" and error["status"] == "Failure" and error["code"] == status
    assert error["reason"] == reason
    if message is not None:
        assert error["message"] == message
    assert request(cloud, "GET", SCALE).json()["spec"]["replicas"] == 4
    assert request(cloud, "GET", "/_operations").json() == []
