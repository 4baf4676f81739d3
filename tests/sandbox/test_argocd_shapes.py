"""The sandbox ArgoCD in the four shapes real applications come in (tag, branch, Helm, multi-source),
shaped like ``tests/fixtures/upstream/argocd/``: the application body, revision metadata, chart
details and manifests with ArgoCD's errors, faults aimed at one endpoint, and the history entry a
rollback, sync or control deploy appends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.anthropic_api import scenario_brief
from bot.sandbox.scenario import ARGOCD_SHAPES, SECRET_MASK, TRACKING_ID, Scenario, hide_secret_data
from bot.sandbox.server import FakeCloud
from bot.sandbox.stories import all_stories

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "argocd"
SHAPE_FIXTURES = {"tag": "application.json", "branch": "application_branch_tracking.json",
                  "helm": "application_helm.json", "multi": "application_multi_source.json"}
NOW = datetime(2025, 11, 25, 3, 44, 12, tzinfo=UTC)
PREVIOUS_SHA = "8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"
CULPRIT_SHA = "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"
UNKNOWN_SHA = "0123456789abcdef0123456789abcdef01234567"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def clouds() -> Iterator[dict[str, FakeCloud]]:
    started: dict[str, FakeCloud] = {}
    try:
        for shape in ARGOCD_SHAPES:
            started[shape] = FakeCloud(Scenario(argocd_shape=shape)).start()
        yield started
    finally:
        for cloud in started.values():
            cloud.stop()


@pytest.fixture
def shapes(clouds: dict[str, FakeCloud]) -> Iterator[dict[str, FakeCloud]]:
    for cloud in clouds.values():
        cloud.reset()
    yield clouds
    for cloud in clouds.values():
        cloud.reset()


def argocd(cloud: FakeCloud, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{cloud.url}/argocd/api/v1/applications/checkout{path}", params=params, timeout=5,
                     headers={"Authorization": f"Bearer {cloud.credentials.argocd_token}"})


def post(cloud: FakeCloud, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{cloud.url}/argocd/api/v1/applications/checkout{path}", json=body, timeout=5,
                      headers={"Authorization": f"Bearer {cloud.credentials.argocd_token}"})


def key_differences(ours: Any, real: Any, path: str = "") -> list[str]:
    """Where ``ours`` has other keys or types than ``real`` (lists: their last items), apart from
    ``initiatedBy`` (a person or auto-sync) and the resources' ``health.message``."""
    if path.endswith(".initiatedBy") or path.endswith(".health"):
        return []
    if isinstance(ours, dict) and isinstance(real, dict):
        found = [] if set(ours) == set(real) else [
            f"{path}: extra {sorted(set(ours) - set(real))}, missing {sorted(set(real) - set(ours))}"]
        return found + [d for k in set(ours) & set(real) for d in key_differences(ours[k], real[k], f"{path}.{k}")]
    if isinstance(ours, list) and isinstance(real, list):
        return key_differences(ours[-1], real[-1], f"{path}[]") if ours and real else []
    return [] if type(ours) is type(real) else [f"{path}: {type(ours).__name__} vs {type(real).__name__}"]


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    body = response.json()
    assert set(body) == {"error", "code", "message"} and body["error"] == body["message"]
    return response.status_code, body["code"], body["message"]


# =========================================================================== the application


@pytest.mark.parametrize("shape", ARGOCD_SHAPES)
def test_each_shape_has_the_fields_of_its_real_fixture(shapes: dict[str, FakeCloud], shape: str) -> None:
    response = argocd(shapes[shape], "")
    assert response.status_code == 200
    app = response.json()
    assert key_differences(app, fixture(SHAPE_FIXTURES[shape])) == []
    history = app["status"]["history"]
    assert [h["id"] for h in history] == [11, 12, 13]
    assert app["status"]["summary"]["images"] == sorted(app["status"]["summary"]["images"])
    assert all(image.endswith(":v2.14.3") for image in app["status"]["summary"]["images"])


def test_a_branch_tracking_app_tells_deploys_apart_by_sha_only(shapes: dict[str, FakeCloud]) -> None:
    app = argocd(shapes["branch"], "").json()
    history = app["status"]["history"]
    assert app["spec"]["source"]["targetRevision"] == "HEAD"
    assert {h["source"]["targetRevision"] for h in history} == {"HEAD"}
    assert [h["revision"] for h in history][1:] == [PREVIOUS_SHA, CULPRIT_SHA]
    assert app["status"]["sync"]["revision"] == CULPRIT_SHA
    assert app["status"]["operationState"]["syncResult"]["revision"] == CULPRIT_SHA
    assert app["status"]["summary"]["images"] == ["registry.example.com/shop/checkout-migrate:v2.14.3",
                                                  "registry.example.com/shop/checkout:v2.14.3"]


def test_a_helm_app_has_the_chart_version_as_its_revision(shapes: dict[str, FakeCloud]) -> None:
    app = argocd(shapes["helm"], "").json()
    history = app["status"]["history"]
    assert [h["revision"] for h in history] == ["1.8.0", "1.8.1", "1.9.0"]
    assert all(h["source"]["targetRevision"] == h["revision"] and h["source"]["chart"] == "checkout"
               and h["source"]["repoURL"] == "https://charts.example.com" for h in history)
    assert app["spec"]["source"]["targetRevision"] == app["status"]["sync"]["revision"] == "1.9.0"
    assert app["status"]["sourceType"] == "Helm"


def test_a_multi_source_app_carries_revisions_and_its_culprit_is_a_values_commit(
        shapes: dict[str, FakeCloud]) -> None:
    app = argocd(shapes["multi"], "").json()
    history = app["status"]["history"]
    assert "source" not in app["spec"] and [s.get("ref") for s in app["spec"]["sources"]] == [None, "values"]
    assert [h["revisions"] for h in history] == [
        ["1.11.4", "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"], ["1.12.0", PREVIOUS_SHA], ["1.12.0", CULPRIT_SHA]]
    assert all(h["source"] == {"repoURL": ""} and "revision" not in h for h in history)
    assert history[1]["sources"] == history[2]["sources"]  # a values-only commit
    assert app["status"]["sync"]["revisions"] == ["1.12.0", CULPRIT_SHA]
    assert app["status"]["operationState"]["syncResult"]["revision"] == ""
    assert app["status"]["sourceTypes"] == ["Helm", ""]


def test_a_tag_app_is_as_before() -> None:
    app = Scenario(now=NOW).argocd_application()
    assert [h["source"]["targetRevision"] for h in app["status"]["history"]] == ["v2.14.1", "v2.14.2", "v2.14.3"]
    assert app["status"]["summary"]["images"] == ["registry.example.com/shop/checkout:v2.14.3"]
    assert "finalizers" not in app["metadata"] and "controllerNamespace" not in app["status"]


@pytest.mark.parametrize(("shape", "previous", "culprit"), [
    ("tag", PREVIOUS_SHA, CULPRIT_SHA),
    ("branch", PREVIOUS_SHA, CULPRIT_SHA),
    ("helm", "1.8.1", "1.9.0"),
    ("multi", PREVIOUS_SHA, CULPRIT_SHA),
])
def test_how_sitrep_names_the_previous_and_the_culprit_deploy(shape: str, previous: str, culprit: str) -> None:
    scenario = Scenario(now=NOW, argocd_shape=shape)
    assert (scenario.rollback_revision, scenario.culprit_identity) == (previous, culprit)
    assert (scenario.previous_history_id, scenario.culprit_history_id) == (12, 13)
    assert scenario.deploy_for(previous).id == 12 and scenario.deploy_for(culprit).id == 13


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="argocd_shape"):
        Scenario(argocd_shape="kustomize")


def test_the_demo_checkout_tracks_a_branch() -> None:
    shapes = {s.name: s.argocd_shape for s in all_stories(NOW)}
    assert shapes["bad_deploy"] == "branch"
    assert Scenario().argocd_shape == "tag"


# =========================================================================== revision metadata


def test_revision_metadata_of_the_culprit_and_the_previous_commit(shapes: dict[str, FakeCloud]) -> None:
    cloud = shapes["branch"]
    response = argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata")
    assert response.status_code == 200
    assert "\\u003calice@example.com\\u003e" in response.text  # as Go writes it
    culprit = response.json()
    assert list(culprit) == list(fixture("revision_metadata.json"))  # author, date, tags, message
    assert culprit["author"] == "Alice Example <alice@example.com>"
    assert culprit["tags"] == ["checkout-v2.14.3"]
    assert "DB_POOL_MAX 50 -> 10" in culprit["message"] and culprit["message"].startswith("checkout: release v2.14.3")
    assert datetime.fromisoformat(culprit["date"]) < cloud.scenario.deployed_at
    previous = argocd(cloud, f"/revisions/{PREVIOUS_SHA[:7]}/metadata").json()  # a short sha works too
    assert "tags" not in previous and previous["author"].endswith("<dana.kim@example.com>")
    tagged = argocd(shapes["tag"], f"/revisions/{PREVIOUS_SHA}/metadata").json()
    assert tagged["tags"] == ["v2.14.2"]  # the tag the app tracked points at the commit


def test_revision_metadata_errors_are_argocds(shapes: dict[str, FakeCloud]) -> None:
    branch, helm = shapes["branch"], shapes["helm"]
    assert error_of(argocd(branch, "/revisions/HEAD/metadata")) == (500, 2, "revision HEAD must be resolved")
    assert error_of(argocd(helm, "/revisions/1.9.0/metadata")) == (500, 2, "revision 1.9.0 must be resolved")
    status, code, message = error_of(argocd(branch, f"/revisions/{UNKNOWN_SHA}/metadata"))
    assert (status, code) == (500, 13) and f"not our ref {UNKNOWN_SHA}" in message
    assert error_of(argocd(branch, f"/revisions/{CULPRIT_SHA}/metadata", sourceIndex=1))[2].endswith(
        "source index 1 not found because there is only 1 source")
    status, code, message = error_of(httpx.get(
        f"{branch.url}/argocd/api/v1/applications/payments/revisions/{CULPRIT_SHA}/metadata",
        headers={"Authorization": f"Bearer {branch.credentials.argocd_token}"}, timeout=5))
    assert (status, code) == (404, 5)
    unauthorized = httpx.get(f"{branch.url}/argocd/api/v1/applications/checkout/revisions/{CULPRIT_SHA}/metadata")
    assert unauthorized.status_code == 401


def test_multi_source_metadata_takes_the_source_index_and_version(shapes: dict[str, FakeCloud]) -> None:
    cloud = shapes["multi"]
    values = argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata", sourceIndex=1, versionId=13)
    assert values.status_code == 200 and values.json()["tags"] == ["checkout-v2.14.3"]
    status, code, message = error_of(argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata"))  # index 0: the chart
    assert (status, code) == (500, 13) and "repository 'https://charts.example.com/' not found" in message
    assert "revision history not found for version ID 99" in error_of(
        argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata", sourceIndex=1, versionId=99))[2]
    assert error_of(argocd(cloud, "/revisions/1.12.0/metadata", sourceIndex=0))[2] == \
        "revision 1.12.0 must be resolved"


# =========================================================================== chart details


def test_chart_details_of_a_helm_app(shapes: dict[str, FakeCloud]) -> None:
    details = argocd(shapes["helm"], "/revisions/1.9.0/chartdetails")
    assert details.status_code == 200
    assert set(details.json()) == {"description", "home", "maintainers"}
    assert argocd(shapes["multi"], "/revisions/1.12.0/chartdetails", sourceIndex=0).status_code == 200
    status, code, message = error_of(argocd(shapes["helm"], "/revisions/7.0.0/chartdetails"))
    assert (status, code) == (500, 2) and 'chart "checkout" version "7.0.0" not found' in message
    assert error_of(argocd(shapes["branch"], f"/revisions/{CULPRIT_SHA}/chartdetails")) == (
        500, 2, "no chart found for application: checkout")


# =========================================================================== manifests


def objects(manifests: list[str]) -> dict[str, dict[str, Any]]:
    """``Kind/name`` → object."""
    parsed = [json.loads(m) for m in manifests]
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in parsed}


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items()
                for k, v in flatten(item, f"{path}.{key}" if path else key).items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{path}[{i}]").items()}
    return {path: value}


def changed(before: list[str], after: list[str]) -> dict[str, tuple[Any, Any]]:
    old, new = flatten(objects(before)), flatten(objects(after))
    return {path: (old.get(path), new.get(path)) for path in sorted(set(old) | set(new))
            if old.get(path) != new.get(path)}


@pytest.mark.parametrize("shape", ARGOCD_SHAPES)
def test_the_culprit_changes_the_image_the_pool_the_timeout_and_adds_a_secret_key(shape: str) -> None:
    scenario = Scenario(now=NOW, argocd_shape=shape)
    diff = changed(scenario.manifests(scenario.rollback_revision), scenario.manifests(scenario.culprit_identity))
    container = "Deployment/checkout.spec.template.spec.containers[0]"
    image = "registry.example.com/shop/checkout"
    expected: dict[str, tuple[Any, Any]] = {
        f"{container}.image": (f"{image}:v2.14.2", f"{image}:v2.14.3"),
        f"{container}.env[1].value": ("30s", "3s"),  # UPSTREAM_TIMEOUT
        "ConfigMap/checkout-config.data.DB_POOL_MAX": ("50", "10"),
        "ConfigMap/checkout-config.data.FEATURE_GIFT_CARDS": ("false", "true"),
        "Secret/checkout-db.data.DB_PASSWORD_ROTATED": (None, SECRET_MASK),
    }
    if shape != "tag":
        expected["Deployment/checkout.spec.template.spec.initContainers[0].image"] = (
            f"{image}-migrate:v2.14.2", f"{image}-migrate:v2.14.3")
    assert diff == expected
    oldest = scenario.argocd_history[0].revision
    older = changed(scenario.manifests(oldest), scenario.manifests(scenario.rollback_revision))
    assert {path.rsplit(".", 1)[-1] for path in older} == {"image"}  # history 11: only its image differs


def test_manifests_are_compact_sorted_tracked_and_hide_secret_values() -> None:
    scenario = Scenario(now=NOW, argocd_shape="branch")
    manifests = scenario.manifests()
    assert [json.loads(m)["kind"] for m in manifests] == [
        "ConfigMap", "Secret", "Service", "Deployment", "HorizontalPodAutoscaler"]
    for text in manifests:
        obj = json.loads(text)
        assert text == json.dumps(obj, separators=(",", ":"), sort_keys=True)
        kind, name, ns = obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"]
        group = obj["apiVersion"].rpartition("/")[0]
        assert obj["metadata"]["annotations"][TRACKING_ID] == f"checkout:{group}/{kind}:{ns}/{name}"
    secret = objects(manifests)["Secret/checkout-db"]
    assert set(secret["data"].values()) == {SECRET_MASK}
    assert "s3cret" not in "".join(manifests) and "czNjcmV0" not in "".join(manifests)
    # as ArgoCD's HideSecretData: stringData joins data, every value becomes ++++++++
    masked = hide_secret_data({"apiVersion": "v1", "kind": "Secret", "stringData": {"A": "x"}, "data": {"B": "eQ=="}})
    assert masked == {"apiVersion": "v1", "kind": "Secret", "data": {"A": SECRET_MASK, "B": SECRET_MASK}}


def test_the_manifests_endpoint_answers_like_argocd(shapes: dict[str, FakeCloud]) -> None:
    branch = shapes["branch"]
    current = argocd(branch, "/manifests")
    assert current.status_code == 200 and list(current.json()) == list(fixture("manifests_current.json"))
    assert current.json()["manifests"] == branch.scenario.manifests(CULPRIT_SHA)
    previous = argocd(branch, "/manifests", revision=PREVIOUS_SHA).json()["manifests"]
    assert previous == branch.scenario.manifests(PREVIOUS_SHA) != current.json()["manifests"]
    assert argocd(branch, "/manifests", revision="HEAD").json() == current.json()

    helm = shapes["helm"]
    assert argocd(helm, "/manifests", revision="1.8.1").json()["manifests"] == helm.scenario.manifests("1.8.1")

    multi = shapes["multi"]
    query = [("revisions", "1.12.0"), ("revisions", PREVIOUS_SHA), ("sourcePositions", "1"),
             ("sourcePositions", "2")]
    answer = httpx.get(f"{multi.url}/argocd/api/v1/applications/checkout/manifests", params=query, timeout=5,
                       headers={"Authorization": f"Bearer {multi.credentials.argocd_token}"})
    assert answer.status_code == 200 and answer.json()["manifests"] == multi.scenario.manifests(PREVIOUS_SHA)
    only_values = argocd(multi, "/manifests", revisions=PREVIOUS_SHA, sourcePositions=2).json()["manifests"]
    assert only_values == multi.scenario.manifests(PREVIOUS_SHA)
    assert argocd(multi, "/manifests").json()["manifests"] == multi.scenario.manifests(CULPRIT_SHA)


def test_manifest_errors_are_argocds(shapes: dict[str, FakeCloud]) -> None:
    branch, helm, multi = shapes["branch"], shapes["helm"], shapes["multi"]
    status, code, message = error_of(argocd(branch, "/manifests", revision=UNKNOWN_SHA))
    assert (status, code) == (500, 13) and message.startswith("error generating manifests: ")
    assert f"not our ref {UNKNOWN_SHA}" in message
    status, code, message = error_of(argocd(branch, "/manifests", revision="v9.9.9"))
    assert (status, code) == (500, 2) and "unable to resolve 'v9.9.9' to a commit SHA" in message
    status, code, message = error_of(argocd(helm, "/manifests", revision="7.0.0"))
    assert (status, code) == (500, 2) and 'version "7.0.0" not found' in message
    assert error_of(argocd(multi, "/manifests", revisions=PREVIOUS_SHA, sourcePositions=3)) == (
        500, 2, "source position is out of range")
    assert error_of(argocd(multi, "/manifests", revisions="9.9.9", sourcePositions=1))[2].endswith(
        'version "9.9.9" not found in https://charts.example.com repository')


# =========================================================================== faults


def test_a_fault_can_aim_at_the_manifests_endpoint_alone(shapes: dict[str, FakeCloud]) -> None:
    cloud = shapes["branch"]
    cloud.set_faults({"argocd": {"status": 403, "path": "/manifests"}})
    denied = argocd(cloud, "/manifests", revision=PREVIOUS_SHA)
    assert denied.status_code == 403 and denied.json()["code"] == 7
    assert argocd(cloud, "").status_code == 200
    assert argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata").status_code == 200

    cloud.set_faults({"argocd": {"hang": True, "path": "/manifests"}})
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{cloud.url}/argocd/api/v1/applications/checkout/manifests", timeout=0.5,
                  headers={"Authorization": f"Bearer {cloud.credentials.argocd_token}"})
    assert argocd(cloud, "").status_code == 200  # the rest answers while it hangs
    cloud.set_faults({"argocd": {"status": 503, "path": "/metadata", "times": 1}})
    assert argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata").status_code == 503
    assert argocd(cloud, f"/revisions/{CULPRIT_SHA}/metadata").status_code == 200
    cloud.clear_faults()
    assert argocd(cloud, "/manifests").status_code == 200


# =========================================================================== what a rollback leaves


@pytest.mark.parametrize("shape", ARGOCD_SHAPES)
def test_a_rollback_appends_the_target_as_a_new_entry(shapes: dict[str, FakeCloud], shape: str) -> None:
    cloud = shapes[shape]
    before = cloud.argocd_application()["status"]["history"]
    assert post(cloud, "/rollback", {"id": 12}).status_code == 200
    app = cloud.argocd_application()
    history = app["status"]["history"]
    assert [h["id"] for h in history] == [11, 12, 13, 14]
    new, target = history[-1], before[1]
    for key in ("revision", "revisions", "source", "sources"):
        assert new.get(key) == target.get(key)
    assert new["initiatedBy"] == {"username": "sitrep"}
    if shape == "multi":
        assert app["status"]["sync"]["revisions"] == target["revisions"]
        assert app["spec"]["sources"] == target["sources"]
    else:
        assert app["status"]["sync"]["revision"] == target["revision"]
        assert app["spec"]["source"] == target["source"]
    assert all(image.endswith(":v2.14.2") for image in app["status"]["summary"]["images"])
    assert argocd(cloud, "/manifests").json()["manifests"] == cloud.scenario.manifests(cloud.scenario.rollback_revision)
    assert [op["body"] for op in cloud.argocd_operations()] == [{"id": 12}]
    assert error_of(post(cloud, "/rollback", {"id": 99}))[0] == 400


@pytest.mark.parametrize("shape", ARGOCD_SHAPES)
def test_a_sync_and_a_control_deploy_append_entries(shapes: dict[str, FakeCloud], shape: str) -> None:
    cloud = shapes[shape]
    scenario = cloud.scenario
    body: dict[str, Any] = {"revision": scenario.rollback_revision}
    if shape == "multi":
        body = {"revisions": ["1.12.0", scenario.rollback_revision], "sourcePositions": [1, 2]}
    assert post(cloud, "/sync", body).status_code == 200
    cloud.argocd_deploy("v2.14.4", by="bob")
    history = cloud.argocd_application()["status"]["history"]
    assert [h["id"] for h in history] == [11, 12, 13, 14, 15]
    synced, deployed = history[-2], history[-1]
    assert (synced.get("revision") or synced["revisions"][1]) == scenario.rollback_revision
    assert deployed["initiatedBy"] == {"username": "bob"}
    images = cloud.argocd_application()["status"]["summary"]["images"]
    assert all(image.endswith(":v2.14.4") for image in images)
    expected_target = {"tag": "v2.14.4", "branch": "HEAD", "helm": "1.9.1", "multi": ""}[shape]
    assert deployed["source"].get("targetRevision", "") == expected_target
    revision = deployed.get("revision") or deployed["revisions"][1]
    query = {"revisions": revision, "sourcePositions": 2} if shape == "multi" else {"revision": revision}
    manifests = argocd(cloud, "/manifests", **query).json()["manifests"]
    assert "shop/checkout:v2.14.4" in "".join(manifests) and '"DB_POOL_MAX":"50"' in "".join(manifests)


# =========================================================================== the fake model


@pytest.mark.parametrize("shape", ARGOCD_SHAPES)
def test_the_fake_model_rolls_back_to_the_previous_deploys_identity(shape: str) -> None:
    scenario = Scenario(now=NOW, argocd_shape=shape)
    evidence = (
        "[metrics-1] p99_latency (service=checkout): 0.199 → 8.4\n"
        f"[deploys-1] checkout deployed v2.14.3 ({scenario.culprit_identity[:7]}, history 13) by alice — current\n"
        f"[deploys-2] checkout deployed v2.14.2 ({scenario.rollback_revision[:7]}, history 12) — previous\n"
        "[logs-1] timeout acquiring connection from pool (pool=orders-db max=10)\n")
    brief = scenario_brief(evidence, scenario)
    rollback = next(a for a in brief["actions"] if a["kind"] == "rollback")
    assert rollback["params"] == {"to_revision": scenario.rollback_revision, "history_id": 12}
    assert "v2.14.2" in rollback["rationale"]
    by_sha_only = evidence.replace("v2.14.2 ", "").replace("v2.14.3 ", "")
    assert any(a["kind"] == "rollback" for a in scenario_brief(by_sha_only, scenario)["actions"])
