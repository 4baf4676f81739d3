"""What ArgoCD tells about a deploy — who made it, the commit message, the configuration diff — is
redacted like any evidence before the model, Slack or the store see it, and in the approval preview."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import respx

from bot.collectors.argocd import ArgoCDCollector
from bot.digest.redact import Redactor
from bot.digest.scrub import scrub_results
from bot.models import Action, ActionKind, ActionTarget, Deploy, InvestigationRequest
from bot.service.preview import change_preview
from tests.collectors.support import fixture_json

ARGO = "https://argocd.test"
APP = "/api/v1/applications/invoices"
SHA_40 = "028b7d17a31ed52aee868808a490db536a00b1d0"
SHA_41 = "4116ceb43b8491085326141d3f6b3a36cb6ddf52"
COMMIT_TOKEN = "ghp_FAKE0test0EXAMPLE0commit0token0abcd"
AUTHOR_EMAIL = "dana.kim@example.com"  # the SSO e-mail ArgoCD names as initiatedBy
CONFIG_URL_PASSWORD = "S3cret-Config-Pass"


def manifests(pool: str, dsn_password: str) -> dict[str, list[str]]:
    body = fixture_json("argocd/manifests_current.json")
    objects = [json.loads(m) for m in body["manifests"]]
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            obj["data"]["DB_POOL_SIZE"] = pool
            obj["data"]["REPORTS_URL"] = f"https://reports:{dsn_password}@reports.billing.svc/v1"
    return {"manifests": [json.dumps(o, sort_keys=True) for o in objects]}


async def test_authors_commit_messages_and_config_values_are_redacted() -> None:
    application = fixture_json("argocd/application_branch_tracking.json")
    application["status"]["history"][-1]["initiatedBy"] = {"username": AUTHOR_EMAIL}
    metadata = {"author": f"Dana Kim <{AUTHOR_EMAIL}>", "date": "2025-11-25T03:36:05Z",
                "message": f"invoices: release 1.43.0\n\nCI token was {COMMIT_TOKEN} (rotated)"}
    end = datetime(2025, 11, 25, 3, 50, tzinfo=UTC)
    request = InvestigationRequest(service="invoices", window_start=end - timedelta(minutes=30), window_end=end)
    with respx.mock(base_url=ARGO, assert_all_called=False) as argo:
        argo.get(APP).respond(json=application)
        argo.get(path__regex=r".*/metadata").respond(json=metadata)
        argo.get(f"{APP}/manifests").mock(side_effect=lambda r: httpx.Response(200, json=manifests(
            "5" if r.url.params["revision"] == SHA_41 else "20",
            CONFIG_URL_PASSWORD if r.url.params["revision"] == SHA_41 else "older-Pass-42")))
        async with httpx.AsyncClient(base_url=ARGO) as client:
            result = await ArgoCDCollector(client).collect(request)

    raw = result.model_dump_json()
    assert COMMIT_TOKEN in raw and AUTHOR_EMAIL in raw and CONFIG_URL_PASSWORD in raw  # all three were read
    [scrubbed], removed = scrub_results([result], Redactor())
    kept = scrubbed.model_dump_json()
    for secret in (COMMIT_TOKEN, AUTHOR_EMAIL, CONFIG_URL_PASSWORD):
        assert secret not in kept
    assert "DB_POOL_SIZE 20 → 5" in kept  # the diff an approver needs stays readable
    assert removed

    history = [e.payload for e in result.evidence if isinstance(e.payload, Deploy)]
    rollback = Action(kind=ActionKind.ROLLBACK, target=ActionTarget(service="invoices", app="invoices"),
                      params={"to_revision": SHA_40, "history_id": 40}, rationale="go back")
    preview = "\n".join(change_preview(rollback, history, suspend_auto_sync=True))
    assert "DB_POOL_SIZE 5 → 20" in preview
    assert CONFIG_URL_PASSWORD not in preview and AUTHOR_EMAIL not in preview
