"""The ArgoCD collector on the application shapes real users have (the upstream fixtures): revision
metadata and manifests read for the current deploy and the one before it, the diff as evidence, and a
partial answer (403, hanging) that still reports the deploys and says what is missing."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx

from bot.collectors.argocd import ArgoCDCollector
from bot.models import Deploy, InvestigationRequest, SourceStatus
from tests.collectors.support import fixture_json
from tests.collectors.test_argocd import argo, client  # noqa: F401  (the same respx ArgoCD and client)

INVOICES = "/api/v1/applications/invoices"
SHA_40 = "028b7d17a31ed52aee868808a490db536a00b1d0"
SHA_41 = "4116ceb43b8491085326141d3f6b3a36cb6ddf52"


def request_for(service: str) -> InvestigationRequest:
    """The window right after invoices' deploy 41 (the fixtures are from 2025-11-25)."""
    end = datetime(2025, 11, 25, 3, 50, tzinfo=UTC)
    return InvestigationRequest(service=service, window_start=end - timedelta(minutes=30), window_end=end)


def manifests_by_revision(request: httpx.Request) -> httpx.Response:
    revision = request.url.params.get("revision")
    name = {SHA_41: "manifests_current", SHA_40: "manifests_previous"}.get(revision or "")
    if name is None:
        return httpx.Response(404, json={"error": "not found", "code": 5, "message": "not found"})
    return httpx.Response(200, json=fixture_json(f"argocd/{name}.json"))


def serve_invoices(argo: respx.MockRouter) -> dict[str, respx.Route]:
    metadata = fixture_json("argocd/revision_metadata.json")
    return {
        "app": argo.get(INVOICES).respond(json=fixture_json("argocd/application_branch_tracking.json")),
        "meta_41": argo.get(f"{INVOICES}/revisions/{SHA_41}/metadata").respond(json=metadata),
        "meta_40": argo.get(f"{INVOICES}/revisions/{SHA_40}/metadata").respond(
            json={"author": "Dana Kim <dana.kim@example.com>", "date": "2025-11-24T19:01:00Z",
                  "message": "invoices: nightly config"}),
        "manifests": argo.get(f"{INVOICES}/manifests").mock(side_effect=manifests_by_revision),
    }


def deploys(result: Any) -> list[Deploy]:
    return [e.payload for e in result.evidence if isinstance(e.payload, Deploy)]


async def test_a_branch_tracking_app_is_named_by_images_tags_and_shas_never_the_branch(
    argo: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    routes = serve_invoices(argo)

    result = await ArgoCDCollector(client).collect(request_for("invoices"))

    assert result.status is SourceStatus.OK and result.error is None
    current, previous = deploys(result)[:2]
    assert (current.history_id, current.revision, current.label) == (41, SHA_41, "1.43.0")
    assert (previous.history_id, previous.revision, previous.label) == (40, SHA_40, "1.42.3")
    assert current.git_tags == ["invoices-1.43.0"] and current.author == "Priya Raman"
    texts = [e.detail for e in result.evidence]
    assert texts[0].startswith("invoices deployed 1.43.0 (4116ceb, history 41), tracking HEAD at 03:38:40Z by auto-sync")
    assert "commit by Priya Raman: invoices: release 1.43.0 (#482)" in texts[0]
    assert not any("HEAD (" in t or "to HEAD" in t for t in texts)
    assert all("priya.raman@example.com" not in t for t in texts)  # the e-mail stays in ArgoCD
    change = next(t for t in texts if "changed against" in t)
    assert change == ("invoices 1.43.0 (4116ceb, history 41) changed against 1.42.3 (028b7d1, history 40): "
                      "ConfigMap invoices-config DB_POOL_SIZE 20 → 5; image invoices, invoices/migrate "
                      "…:1.42.3 → …:1.43.0")
    assert [c.line() for c in current.changes or []][0] == "ConfigMap invoices-config DB_POOL_SIZE 20 → 5"
    assert {c.request.url.params["revision"] for c in routes["manifests"].calls} == {SHA_40, SHA_41}


async def test_metadata_and_manifests_are_read_once_per_revision(argo: respx.MockRouter,
                                                                 client: httpx.AsyncClient) -> None:
    routes = serve_invoices(argo)
    collector = ArgoCDCollector(client)

    await collector.collect(request_for("invoices"))
    again = await collector.collect(request_for("invoices"))

    assert routes["app"].call_count == 2
    assert routes["meta_41"].call_count == 1 and routes["manifests"].call_count == 2
    assert deploys(again)[0].changes is not None and deploys(again)[0].label == "1.43.0"


async def test_manifests_forbidden_still_reports_the_deploys_and_says_the_diff_is_missing(
    argo: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    serve_invoices(argo)
    denied = fixture_json("argocd/error_permission_denied.json")
    argo.get(f"{INVOICES}/manifests").respond(403, json=denied)

    result = await ArgoCDCollector(client).collect(request_for("invoices"))

    assert result.status is SourceStatus.OK
    assert result.error == "the change of 4116ceb is unknown (manifests: HTTP 403 (permission denied))"
    current = deploys(result)[0]
    assert current.changes is None and current.changes_note == "manifests: HTTP 403 (permission denied)"
    assert any("unknown, the manifests could not be read" in e.detail for e in result.evidence)


async def test_hanging_manifests_cost_no_more_than_the_detail_budget(argo: respx.MockRouter,
                                                                      client: httpx.AsyncClient) -> None:
    serve_invoices(argo)

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    argo.get(f"{INVOICES}/manifests").mock(side_effect=hang)
    started = time.monotonic()
    result = await ArgoCDCollector(client, detail_timeout=0.3).collect(request_for("invoices"))

    assert time.monotonic() - started < 2
    assert result.status is SourceStatus.OK and "manifests: timeout" in (result.error or "")
    assert [d.history_id for d in deploys(result)][:2] == [41, 40]


async def test_a_helm_app_is_identified_by_its_chart_version_and_asks_no_git_metadata(
    argo: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    path = "/api/v1/applications/billing"
    argo.get(path).respond(json=fixture_json("argocd/application_helm.json"))
    metadata = argo.get(path__regex=r".*/revisions/.*/metadata").respond(404)
    manifests = argo.get(f"{path}/manifests").respond(json=fixture_json("argocd/manifests_current.json"))
    result = await ArgoCDCollector(client).collect(request_for("billing"))

    found = deploys(result)
    assert [(d.history_id, d.revision) for d in found][:2] == [(16, "3.4.1"), (15, "3.4.0")]
    assert not metadata.called  # that endpoint takes git shas only
    assert {c.request.url.params["revision"] for c in manifests.calls} == {"3.4.1", "3.4.0"}
    assert found[0].changes == []  # the same manifests: nothing changed


async def test_a_multi_source_app_asks_for_every_source_revision(argo: respx.MockRouter,
                                                                  client: httpx.AsyncClient) -> None:
    path = "/api/v1/applications/media"
    argo.get(path).respond(json=fixture_json("argocd/application_multi_source.json"))
    metadata = argo.get(path__regex=r".*/revisions/.*/metadata").respond(json={"message": "values: bump"})
    manifests = argo.get(f"{path}/manifests").respond(json=fixture_json("argocd/manifests_current.json"))

    result = await ArgoCDCollector(client).collect(request_for("media"))

    found = deploys(result)
    assert found[0].revision == "61be18f48c4c047236b386d44844e952294d008c"
    assert found[0].revisions == ["1.12.0", "61be18f48c4c047236b386d44844e952294d008c"]
    query = manifests.calls[0].request.url.params
    assert query.get_list("sourcePositions") == ["1", "2"] and len(query.get_list("revisions")) == 2
    meta_query = {(c.request.url.params["sourceIndex"], c.request.url.params["versionId"]) for c in metadata.calls}
    assert meta_query == {("1", "9"), ("1", "8")}
