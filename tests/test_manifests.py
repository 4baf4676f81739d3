"""The semantic diff an approver reads: from the manifests ArgoCD renders for two revisions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.manifests import ManifestError, describe_changes, diff_states, manifest_state
from tests.collectors.support import fixture_json


def manifests(name: str) -> list[str]:
    return fixture_json(f"argocd/{name}.json")["manifests"]


def changed(before: list[Any], after: list[Any]) -> list[str]:
    return [c.line() for c in diff_states(manifest_state(before), manifest_state(after))]


def with_objects(base: list[str], edit: Any) -> list[str]:
    objects = [json.loads(m) for m in base]
    edit(objects)
    return [json.dumps(o, sort_keys=True) for o in objects]


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == "Deployment")


def test_the_upstream_release_changed_images_and_the_pool_size() -> None:
    assert changed(manifests("manifests_previous"), manifests("manifests_current")) == [
        "ConfigMap invoices-config DB_POOL_SIZE 20 → 5",
        "image invoices registry.example.com/billing/invoices:1.42.3 → registry.example.com/billing/invoices:1.43.0",
        "image invoices/migrate registry.example.com/billing/invoices-migrate:1.42.3 → "
        "registry.example.com/billing/invoices-migrate:1.43.0",
    ]
    text = describe_changes(diff_states(manifest_state(manifests("manifests_previous")),
                                        manifest_state(manifests("manifests_current"))))
    # images that moved the same way read as one
    assert text == "ConfigMap invoices-config DB_POOL_SIZE 20 → 5; image invoices, invoices/migrate …:1.42.3 → …:1.43.0"


def test_an_env_change() -> None:
    before = manifests("manifests_current")

    def edit(objects: list[dict[str, Any]]) -> None:
        container = deployment(objects)["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [{"name": "UPSTREAM_TIMEOUT", "value": "3s"},
                            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}]

    after = with_objects(before, edit)
    assert changed(before, after) == ["env invoices DB_PASSWORD added (from Secret db key pw)",
                                      "env invoices UPSTREAM_TIMEOUT added (3s)"]


def test_a_secret_key_change_names_the_key_never_the_value() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "invoices-db"},
              "data": {"DB_PASSWORD": "aHVudGVyMg=="}}
    rotated = {**secret, "data": {"DB_PASSWORD": "c2VjcmV0LTI=", "DB_PASSWORD_NEXT": "c2VjcmV0LTM="}}
    lines = changed([json.dumps(secret)], [json.dumps(rotated)])
    assert lines == ["Secret invoices-db key DB_PASSWORD_NEXT added"]
    assert "c2Vj" not in repr(manifest_state([json.dumps(rotated)]))


def test_replicas_resources_and_probes() -> None:
    before = manifests("manifests_current")

    def edit(objects: list[dict[str, Any]]) -> None:
        spec = deployment(objects)["spec"]
        spec["replicas"] = 2
        container = spec["template"]["spec"]["containers"][0]
        container["resources"]["limits"]["memory"] = "256Mi"
        container["readinessProbe"]["periodSeconds"] = 30

    lines = changed(before, with_objects(before, edit))
    assert "replicas Deployment invoices added (2)" in lines
    assert "resources invoices limits.memory 768Mi → 256Mi" in lines
    assert any(line.startswith("probe invoices readiness ") for line in lines)


def test_nothing_changed() -> None:
    assert changed(manifests("manifests_current"), manifests("manifests_current")) == []
    assert describe_changes([]) == "no difference in images, configuration, replicas, resources or probes"


def test_the_diff_is_bounded() -> None:
    many = [json.dumps({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {f"K{i}": str(i) for i in range(50)}})]
    none = [json.dumps({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}})]
    assert len(diff_states(manifest_state(none), manifest_state(many))) == 12
    assert describe_changes(diff_states(manifest_state(none), manifest_state(many)), limit=3).endswith("and 9 more")


@pytest.mark.parametrize("bad", [["{not json"]])
def test_a_manifest_that_is_not_json_is_a_clear_error(bad: list[str]) -> None:
    with pytest.raises(ManifestError, match="not JSON"):
        manifest_state(bad)


def test_a_credential_in_a_configmap_or_env_is_compared_but_never_shown() -> None:
    def config(password: str, token: str) -> list[str]:
        return [json.dumps({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"DB_PASSWORD": password}}),
                json.dumps({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {
                    "containers": [{"name": "d", "env": [{"name": "API_TOKEN", "value": token}]}]}}}})]

    before, after = config("hunter2", "tok-1"), config("correct-horse", "tok-1")
    assert changed(before, after) == ["ConfigMap c DB_PASSWORD changed (value hidden)"]
    state = repr(manifest_state(after))
    assert "correct-horse" not in state and "tok-1" not in state
