"""ArgoCD executor against a respx-mocked ArgoCD: exactly what is sent, history resolution, auto-sync,
dry runs, and failures reported with their reason."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from bot.executor.argocd import ArgoCDExecutor
from bot.models import ActionKind
from tests.executor.conftest import ARGO, ARGO_TOKEN, action, application, argocd_body

APP = f"{ARGO}/api/v1/applications/checkout"


def rollback(to: str = "v2.14.2", **params: Any):  # noqa: ANN201
    return action("rollback", to_revision=to, **params)


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


# ---------------------------------------------------------------------- rollback


@respx.mock
async def test_dry_run_rollback_resolves_the_tag_and_uses_argocd_server_side_dry_run(argo: httpx.AsyncClient) -> None:
    get = respx.get(APP).respond(json=application())
    patch = respx.patch(APP)
    post = respx.post(f"{APP}/rollback").respond(json=application())

    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=True)

    assert get.called and not patch.called
    request = post.calls.last.request
    assert json.loads(request.content) == {"name": "checkout", "id": 12, "dryRun": True, "prune": False}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {ARGO_TOKEN}"
    assert result.ok and result.dry_run and result.sent and result.error is None
    assert result.kind is ActionKind.ROLLBACK and result.target.service == "checkout"
    assert result.request is not None and result.request.method == "POST"
    assert result.request.url == f"{APP}/rollback"
    assert result.request.body == {"name": "checkout", "id": 12, "dryRun": True, "prune": False}
    assert result.response is not None and result.response.status == 200
    assert [step.request.method for step in result.steps] == ["GET"]
    assert result.message.startswith("dry run: ArgoCD accepted rolling back checkout to v2.14.2 (8b1e0f4, history 12)")
    # ArgoCD's dry run ignores auto-sync, the real one will not: say so now
    assert "auto-sync is on: the real rollback will be refused until it is disabled" in result.message
    assert ARGO_TOKEN not in result.model_dump_json()


@pytest.mark.parametrize(("to_revision", "history_id", "expected"), [
    ("v2.14.2", None, 12),
    ("v2.14.1", None, 11),
    ("8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c", None, 12),  # the git sha
    ("8b1e0f4", None, 12),  # a short sha
    ("v2.14.2", 12, 12),
])
@respx.mock
async def test_to_revision_is_resolved_to_the_history_id(argo: httpx.AsyncClient, to_revision: str,
                                                         history_id: int | None, expected: int) -> None:
    respx.get(APP).respond(json=application(auto_sync=False))
    post = respx.post(f"{APP}/rollback").respond(json={})
    params = {"history_id": history_id} if history_id is not None else {}
    result = await ArgoCDExecutor(argo).execute(rollback(to_revision, **params), dry_run=False)
    assert result.ok, result.message
    assert sent_json(post) == {"name": "checkout", "id": expected, "dryRun": False, "prune": False}


@pytest.mark.parametrize(("to_revision", "history_id", "reason"), [
    ("v9.9.9", None, "v9.9.9 is not in the ArgoCD history of checkout (latest: v2.14.3 (c4d5e6f, history 13)"),
    ("v2.14.3", None, "v2.14.3 is what runs now on checkout (v2.14.3 (c4d5e6f, history 13))"),
    ("c4d5e6f", None, "c4d5e6f is what runs now on checkout (v2.14.3 (c4d5e6f, history 13))"),
    ("v2.14.2", 11, "History id 11 of checkout is v2.14.1 (3f2a9c1), not v2.14.2"),
    ("v2.14.2", 99, "History id 99 is not in the ArgoCD history of checkout"),
    ("v2.14.3", 13, "v2.14.3 is what runs now on checkout"),
])
@respx.mock
async def test_a_revision_that_is_not_an_earlier_deploy_is_refused_and_nothing_is_sent(
    argo: httpx.AsyncClient, to_revision: str, history_id: int | None, reason: str
) -> None:
    respx.get(APP).respond(json=application(auto_sync=False))
    post = respx.post(f"{APP}/rollback")
    params = {"history_id": history_id} if history_id is not None else {}
    result = await ArgoCDExecutor(argo).execute(rollback(to_revision, **params), dry_run=True)
    assert not result.ok and not post.called
    assert result.request is None and not result.sent
    assert result.error is not None and reason in result.error and "nothing sent" in result.error
    assert result.message == result.error


@respx.mock
async def test_a_tag_redeployed_as_the_current_deploy_is_not_rolled_back_to(argo: httpx.AsyncClient) -> None:
    body = application(auto_sync=False)
    history = body["status"]["history"]
    history.append({**history[1], "id": 14, "deployedAt": "2025-11-25T04:10:00Z"})  # v2.14.2 again, now current
    respx.get(APP).respond(json=body)
    post = respx.post(f"{APP}/rollback")
    result = await ArgoCDExecutor(argo).execute(rollback("v2.14.2"), dry_run=False)
    assert not result.ok and not post.called and "history 14)" in (result.error or "")
    explicit = await ArgoCDExecutor(argo).execute(rollback("v2.14.2", history_id=12), dry_run=False)
    assert not explicit.ok and not post.called  # same sha as what runs: changes nothing


# ---------------------------------------------------------------------- auto-sync


@respx.mock
async def test_a_real_rollback_while_auto_sync_is_on_is_refused_by_default(argo: httpx.AsyncClient) -> None:
    respx.get(APP).respond(json=application())
    patch = respx.patch(APP)
    post = respx.post(f"{APP}/rollback")
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=False)
    assert not result.ok and not patch.called and not post.called
    assert result.error is not None and "auto-sync is on: disable it first" in result.error
    assert not result.auto_sync_suspended


@respx.mock
async def test_allowed_to_suspend_it_turns_auto_sync_off_first_and_records_it(argo: httpx.AsyncClient) -> None:
    respx.get(APP).respond(json=application())
    patch = respx.patch(APP).respond(json=application(auto_sync=False))
    post = respx.post(f"{APP}/rollback").respond(json={})

    result = await ArgoCDExecutor(argo, suspend_auto_sync=True).execute(rollback(), dry_run=False)

    assert result.ok and result.auto_sync_suspended
    assert [call.request.method for call in respx.calls] == ["GET", "PATCH", "POST"]
    body = sent_json(patch)
    assert body == {"name": "checkout", "patchType": "merge", "patch": body["patch"]}
    assert json.loads(body["patch"]) == {"spec": {"syncPolicy": {"automated": None}}}
    assert sent_json(post) == {"name": "checkout", "id": 12, "dryRun": False, "prune": False}
    assert [step.request.method for step in result.steps] == ["GET", "PATCH"]
    assert result.steps[1].response is not None and result.steps[1].response.status == 200
    assert result.message.startswith("ArgoCD is rolling back checkout to v2.14.2 (8b1e0f4, history 12)")
    assert "auto-sync turned off first (it was prune=true, selfHeal=true)" in result.message
    assert any("auto-sync turned off first" in note for note in result.notes)


@respx.mock
async def test_a_dry_run_never_suspends_auto_sync(argo: httpx.AsyncClient) -> None:
    respx.get(APP).respond(json=application())
    patch = respx.patch(APP)
    post = respx.post(f"{APP}/rollback").respond(json={})
    result = await ArgoCDExecutor(argo, suspend_auto_sync=True).execute(rollback(), dry_run=True)
    assert result.ok and not patch.called and sent_json(post)["dryRun"] is True
    assert not result.auto_sync_suspended and "the real rollback will turn it off first" in result.message


@respx.mock
async def test_when_suspending_fails_nothing_is_rolled_back(argo: httpx.AsyncClient) -> None:
    respx.get(APP).respond(json=application())
    respx.patch(APP).respond(403, json=argocd_body("error_permission_denied.json"))
    post = respx.post(f"{APP}/rollback")
    result = await ArgoCDExecutor(argo, suspend_auto_sync=True).execute(rollback(), dry_run=False)
    assert not result.ok and not post.called and not result.auto_sync_suspended
    assert result.error is not None
    assert result.error.startswith("could not turn auto-sync off: ArgoCD 403 permission denied: applications")


@respx.mock
async def test_a_failed_rollback_after_suspending_says_auto_sync_stays_off(argo: httpx.AsyncClient) -> None:
    respx.get(APP).respond(json=application())
    respx.patch(APP).respond(json={})
    respx.post(f"{APP}/rollback").respond(409, json={"error": "another operation is already in progress",
                                                     "code": 9, "message": "another operation is already in progress"})
    result = await ArgoCDExecutor(argo, suspend_auto_sync=True).execute(rollback(), dry_run=False)
    assert not result.ok and result.auto_sync_suspended
    assert result.error == "ArgoCD 409 another operation is already in progress"
    assert result.response is not None and result.response.status == 409 and result.sent
    assert "auto-sync turned off first" in result.message


@pytest.mark.parametrize("automated", [{"enabled": False}, None])
@respx.mock
async def test_auto_sync_off_means_no_patch(argo: httpx.AsyncClient, automated: dict[str, Any] | None) -> None:
    body = application(automated=automated) if automated else application(auto_sync=False)
    respx.get(APP).respond(json=body)
    patch = respx.patch(APP)
    post = respx.post(f"{APP}/rollback").respond(json={})
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=False)
    assert result.ok and not patch.called and sent_json(post)["dryRun"] is False
    assert result.message == "ArgoCD is rolling back checkout to v2.14.2 (8b1e0f4, history 12)"


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(("response", "reason"), [
    (httpx.Response(403, json=argocd_body("error_permission_denied.json")),
     "ArgoCD 403 permission denied: applications, sync, shop/checkout, sub: sitrep, iat: 2025-11-20T10:00:00Z"),
    (httpx.Response(404, json=argocd_body("error.json")), "ArgoCD 404 application 'checkout' not found"),
    (httpx.Response(500, text="<html><body>oops</body></html>", headers={"content-type": "text/html"}),
     "ArgoCD 500 Internal Server Error"),
    (httpx.Response(502, text="upstream connect error"), "ArgoCD 502 upstream connect error"),
])
@respx.mock
async def test_upstream_errors_are_reported_with_their_reason(argo: httpx.AsyncClient, response: httpx.Response,
                                                              reason: str) -> None:
    respx.get(APP).mock(return_value=response)
    post = respx.post(f"{APP}/rollback")
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=True)
    assert not result.ok and not post.called
    assert result.error == reason
    assert result.message == f"rollback of checkout failed: {reason}"
    assert result.steps[0].response is not None and result.steps[0].response.status == response.status_code


@pytest.mark.parametrize(("error", "reason"), [
    (httpx.ReadTimeout("slow"), "ArgoCD timeout after 10 s"),
    (httpx.ConnectTimeout("slow"), "ArgoCD timeout after 10 s"),
    (httpx.ConnectError("refused"), "ArgoCD unreachable"),
    (httpx.RemoteProtocolError("eof"), "ArgoCD error: RemoteProtocolError"),
])
@respx.mock
async def test_timeouts_and_transport_errors_are_reported_not_raised(argo: httpx.AsyncClient, error: Exception,
                                                                     reason: str) -> None:
    respx.get(APP).respond(json=application(auto_sync=False))
    respx.post(f"{APP}/rollback").mock(side_effect=error)
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=False)
    assert not result.ok and result.error == reason
    assert result.request is not None and result.response is None  # sent, no answer


@respx.mock
async def test_a_body_that_is_not_an_application_is_reported(argo: httpx.AsyncClient) -> None:
    respx.get(APP).respond(200, text='{"metadata": {"na')
    result = await ArgoCDExecutor(argo).execute(rollback(), dry_run=True)
    assert not result.ok and result.error == "ArgoCD 200 answered a body that is not a JSON object"


@pytest.mark.parametrize("app", ["../settings", "Checkout", "a/b", "x" * 300])
async def test_names_that_are_not_object_names_never_reach_a_url(argo: httpx.AsyncClient, app: str) -> None:
    with respx.mock:  # any request would fail the test: none is mocked
        result = await ArgoCDExecutor(argo).execute(action("rollback", app=app, to_revision="v2.14.2"),
                                                    dry_run=True)
    assert not result.ok and "not a valid name" in (result.error or "")


# ---------------------------------------------------------------------- sync


@pytest.mark.parametrize("dry_run", [True, False])
@respx.mock
async def test_sync_posts_the_revision_with_argocd_dry_run(argo: httpx.AsyncClient, dry_run: bool) -> None:
    sha = "8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"
    respx.get(APP).respond(json=application())
    post = respx.post(f"{APP}/sync").respond(json=application())
    result = await ArgoCDExecutor(argo).execute(action("sync", revision=sha), dry_run=dry_run)
    assert sent_json(post) == {"name": "checkout", "revision": sha, "dryRun": dry_run, "prune": False}
    assert result.ok and result.sent and len(respx.calls) == 2  # the history, then the sync
    assert result.message == (f"dry run: ArgoCD accepted syncing checkout to {sha}; nothing changed" if dry_run
                              else f"ArgoCD is syncing checkout to {sha}")


@respx.mock
async def test_sync_refused_by_argocd_is_reported(argo: httpx.AsyncClient) -> None:
    message = "Cannot sync to v2.14.2: auto-sync currently set to v2.14.3"
    respx.get(APP).respond(json=application())
    respx.post(f"{APP}/sync").respond(400, json={"error": message, "code": 9, "message": message})
    result = await ArgoCDExecutor(argo).execute(action("sync", revision="v2.14.2"), dry_run=False)
    assert not result.ok and result.error == f"ArgoCD 400 {message}"


@pytest.mark.parametrize(("revision", "why"), [
    ("main", "main is a branch ref, not a revision"),
    ("HEAD", "HEAD is a branch ref, not a revision"),
    ("0123abc4567def", "0123abc4567def is neither in the ArgoCD history of checkout nor the head"),
])
@respx.mock
async def test_a_sync_to_a_branch_or_an_invented_revision_is_refused_and_nothing_is_sent(
    argo: httpx.AsyncClient, revision: str, why: str
) -> None:
    respx.get(APP).respond(json=application())
    post = respx.post(f"{APP}/sync")
    result = await ArgoCDExecutor(argo).execute(action("sync", revision=revision), dry_run=False)
    assert not result.ok and why in (result.error or "") and "(nothing sent)" in (result.error or "")
    assert not post.called


async def test_a_sync_revision_that_is_not_a_revision_is_refused(argo: httpx.AsyncClient) -> None:
    with respx.mock:
        result = await ArgoCDExecutor(argo).execute(action("sync", revision="main; rm -rf /"), dry_run=False)
    assert not result.ok and "is not a git revision" in (result.error or "")


# ---------------------------------------------------------------------- restart


RESTART_QUERY = {"namespace": "shop", "resourceName": "checkout", "group": "apps", "kind": "Deployment",
                 "version": "v1"}


@respx.mock
async def test_a_dry_run_restart_sends_nothing_and_shows_the_request(argo: httpx.AsyncClient) -> None:
    route = respx.post(f"{APP}/resource/actions")
    result = await ArgoCDExecutor(argo).execute(action("restart"), dry_run=True)
    assert result.ok and result.dry_run and not route.called and not respx.calls
    assert result.request is not None and not result.sent and result.response is None
    assert result.request.method == "POST" and result.request.body == "restart"
    url = httpx.URL(result.request.url)
    assert url.path == "/api/v1/applications/checkout/resource/actions" and dict(url.params) == RESTART_QUERY
    assert "would restart Deployment shop/checkout" in result.message and "nothing sent" in result.message


@respx.mock
async def test_a_real_restart_runs_the_deployment_resource_action(argo: httpx.AsyncClient) -> None:
    route = respx.post(f"{APP}/resource/actions").respond(json={})
    result = await ArgoCDExecutor(argo).execute(action("restart"), dry_run=False)
    request = route.calls.last.request
    assert dict(request.url.params) == RESTART_QUERY
    assert request.content == b'"restart"'  # RunResourceAction maps the body to the action name
    assert request.headers["content-type"] == "application/json"
    assert result.ok and result.sent and result.message == "ArgoCD restarted Deployment shop/checkout (app checkout)"


async def test_a_restart_without_a_namespace_is_refused(argo: httpx.AsyncClient) -> None:
    with respx.mock:
        result = await ArgoCDExecutor(argo).execute(action("restart", namespace=None), dry_run=False)
    assert not result.ok and result.error == "no namespace given: refusing to guess"


async def test_kinds_argocd_does_not_run_are_refused(argo: httpx.AsyncClient) -> None:
    result = await ArgoCDExecutor(argo).execute(action("scale", replicas=3), dry_run=False)
    assert not result.ok and result.error == "ArgoCD does not run scale actions"
