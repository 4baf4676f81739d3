"""Deploy identity and labels on the application shapes real ArgoCD users have (the upstream
fixtures: tag-pinned, branch-tracking, Helm repository, multi-source), and which entry a revision names."""

from __future__ import annotations

from typing import Any

import pytest

from bot.deploy_history import check_sync_revision, find_rollback_target, label_history, parse_history
from bot.models import Deploy
from tests.collectors.support import fixture_json

BRANCH = "argocd/application_branch_tracking.json"
HELM = "argocd/application_helm.json"
MULTI = "argocd/application_multi_source.json"
TAG = "argocd/application.json"


def history(fixture: str, app: str) -> list[Deploy]:
    return parse_history(app, fixture_json(fixture))


@pytest.mark.parametrize(("fixture", "app", "expected"), [
    # a tag per entry: the tag
    (TAG, "checkout", [(11, "v2.14.1"), (12, "v2.14.2"), (13, "v2.14.3")]),
    # HEAD in every entry: never "HEAD"; only the current's images are known, so the short shas
    (BRANCH, "invoices", [(38, "9f8c531"), (39, "57dab55"), (40, "028b7d1"), (41, "4116ceb")]),
    # a Helm repository: the chart version is the revision
    (HELM, "billing", [(14, "3.3.9"), (15, "3.4.0"), (16, "3.4.1")]),
    # chart + values repo: a values-only commit keeps the chart version, so the short sha is added
    (MULTI, "media", [(7, "chart 1.11.4"), (8, "chart 1.12.0 (4b9612d)"), (9, "chart 1.12.0 (61be18f)")]),
])
def test_labels_per_application_shape(fixture: str, app: str, expected: list[tuple[int, str]]) -> None:
    assert [(d.history_id, d.label) for d in history(fixture, app)] == expected


@pytest.mark.parametrize(("fixture", "app", "identity"), [
    (TAG, "checkout", "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"),
    (BRANCH, "invoices", "4116ceb43b8491085326141d3f6b3a36cb6ddf52"),
    (HELM, "billing", "3.4.1"),
    (MULTI, "media", "61be18f48c4c047236b386d44844e952294d008c"),
])
def test_identity_is_the_sha_or_the_chart_version(fixture: str, app: str, identity: str) -> None:
    current = history(fixture, app)[-1]
    assert current.current and current.revision == identity
    assert current.head_revisions  # what ArgoCD reports the tracked ref at
    assert current.auto_sync == {"prune": True, "selfHeal": True}


def test_a_git_tag_from_revision_metadata_labels_a_branch_deploy() -> None:
    deploys = history(BRANCH, "invoices")
    deploys[2].git_tags = ["invoices-1.42.3"]
    label_history(deploys)
    assert deploys[2].label == "invoices-1.42.3"
    assert deploys[2].ref == "invoices-1.42.3 (028b7d1, history 40)"


def test_changed_image_tags_label_a_deploy_and_its_neighbour() -> None:
    deploys = history(BRANCH, "invoices")
    deploys[2].images = ["registry.example.com/billing/invoices-migrate:1.42.3",
                         "registry.example.com/billing/invoices:1.42.3"]
    label_history(deploys)
    # 41 changed both images to 1.43.0 against 40; 40's own tag differs from 41's
    assert [d.label for d in deploys[2:]] == ["1.42.3", "1.43.0"]
    assert deploys[3].name == "1.43.0 (4116ceb)"


def test_two_images_changed_to_different_tags_are_named() -> None:
    deploys = history(BRANCH, "invoices")
    deploys[2].images = ["r/invoices-migrate:7", "r/invoices:1.42.3"]
    deploys[3].images = ["r/invoices-migrate:8", "r/invoices:1.43.0"]
    label_history(deploys)
    assert deploys[3].label == "invoices 1.43.0, invoices-migrate 8"


def test_the_same_image_tag_twice_gets_the_short_sha() -> None:
    deploys = history(BRANCH, "invoices")
    for d in deploys:
        d.images = ["r/invoices:1.0"]
    deploys[1].images = ["r/invoices:2.0"]  # 39 changed to 2.0; 40 went back to 1.0; 41 rebuilt 1.0
    deploys[3].images = ["r/invoices:2.0"]
    label_history(deploys)
    assert [d.label for d in deploys] == ["1.0 (9f8c531)", "2.0 (57dab55)", "1.0 (028b7d1)", "2.0 (4116ceb)"]


def _rollback(fixture: str, app: str, wanted: str, history_id: int | None = None) -> Deploy | str:
    return find_rollback_target(history(fixture, app), wanted=wanted, history_id=history_id, app=app)


@pytest.mark.parametrize(("fixture", "app", "wanted", "history_id", "expected"), [
    (BRANCH, "invoices", "028b7d17a31ed52aee868808a490db536a00b1d0", 40, 40),
    (BRANCH, "invoices", "028b7d1", None, 40),
    (TAG, "checkout", "v2.14.2", None, 12),
    (HELM, "billing", "3.4.0", 15, 15),
    (MULTI, "media", "4b9612db69e08321cae690351ef6723b8bf0bc1b", 8, 8),
])
def test_a_rollback_names_an_earlier_deploy_by_its_identity(fixture: str, app: str, wanted: str,
                                                              history_id: int | None, expected: int) -> None:
    target = _rollback(fixture, app, wanted, history_id)
    assert isinstance(target, Deploy) and target.history_id == expected


@pytest.mark.parametrize(("fixture", "app", "wanted", "history_id", "why"), [
    (BRANCH, "invoices", "HEAD", None, "HEAD is a branch ref that invoices tracks, not a deploy"),
    (BRANCH, "invoices", "main", 40, "main is a branch ref that invoices tracks, not a deploy"),
    (BRANCH, "invoices", "4116ceb43b8491085326141d3f6b3a36cb6ddf52", 41, "is what runs now on invoices"),
    (BRANCH, "invoices", "deadbeefdeadbeef", None, "deadbeefdeadbeef is not in the ArgoCD history of invoices"),
    (BRANCH, "invoices", "028b7d1", 39, "History id 39 of invoices is 57dab55, not 028b7d1"),
    (HELM, "billing", "3.4.1", None, "3.4.1 is what runs now on billing"),
    # the chart version media runs now is also in entry 8: it names no earlier deploy alone
    (MULTI, "media", "1.12.0", 8, "1.12.0 is what runs now on media"),
])
def test_a_rollback_to_a_branch_the_running_deploy_or_an_unknown_sha_is_refused(
    fixture: str, app: str, wanted: str, history_id: int | None, why: str
) -> None:
    refused = _rollback(fixture, app, wanted, history_id)
    assert isinstance(refused, str) and why in refused


@pytest.mark.parametrize(("wanted", "refused"), [
    ("028b7d17a31ed52aee868808a490db536a00b1d0", None),  # in the history
    ("4116ceb", None),  # the head ArgoCD reports
    ("main", "main is a branch ref, not a revision"),
    ("0000000000000000000000000000000000000000", "is neither in the ArgoCD history of invoices nor the head"),
])
def test_sync_revisions_are_grounded(wanted: str, refused: str | None) -> None:
    why = check_sync_revision(history(BRANCH, "invoices"), wanted=wanted, app="invoices")
    assert (why is None) if refused is None else (why is not None and refused in why)


def test_history_from_elsewhere_gets_pinned_tags_and_labels() -> None:
    """A policy check's JSON or a stored brief gives Deploys without labels: tags still name them."""
    raw: list[dict[str, Any]] = [
        {"app": "a", "history_id": 1, "revision": "1" * 40, "target_revision": "v1", "deployed_at": "2026-01-01T00:00:00Z"},
        {"app": "a", "history_id": 2, "revision": "2" * 40, "target_revision": "v2", "deployed_at": "2026-01-02T00:00:00Z",
         "current": True},
    ]
    deploys = [Deploy.model_validate(r) for r in raw]
    target = find_rollback_target(deploys, wanted="v1", history_id=None, app="a")
    assert isinstance(target, Deploy) and target.history_id == 1 and target.name == "v1 (1111111)"
