from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from bot.collectors.argocd import ArgoCDCollector, select_deploys
from bot.collectors.factory import build_collectors
from bot.models import Deploy, EvidenceSource, InvestigationRequest, SourceName, SourceStatus, utcnow
from bot.settings import Settings
from tests.collectors.support import FIXTURE_END, fixture_json, incident_request, shift_times

ARGO = "https://argocd.test"
APP_PATH = "/api/v1/applications/checkout"
DEPLOYED_13 = datetime(2025, 11, 25, 3, 38, 12, tzinfo=UTC)


@pytest.fixture
def argo() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=ARGO, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ARGO) as c:
        yield c


def app_now() -> tuple[dict[str, Any], InvestigationRequest]:
    """The fixture app shifted so that deploy 13 happened 7 minutes ago; history 11 moved back
    3 days and an older entry 10 added, so only 12 and 13 are within 24 h."""
    body = fixture_json("argocd/application.json")
    history = body["status"]["history"]
    history[0]["deployedAt"] = "2025-11-21T15:02:41Z"
    older = dict(history[0], id=10, revision="0" * 40, deployedAt="2025-11-20T09:00:00Z",
                 source=dict(history[0]["source"], targetRevision="v2.13.0"))
    history.insert(0, older)
    now = utcnow().replace(microsecond=0)
    shifted = shift_times(body, now - timedelta(minutes=7) - DEPLOYED_13)
    return shifted, InvestigationRequest.for_last("checkout", since=timedelta(minutes=30))


async def test_recent_deploys_plus_last_good_then_status(argo: respx.MockRouter, client: httpx.AsyncClient) -> None:
    body, request = app_now()
    argo.get(APP_PATH).mock(return_value=httpx.Response(200, json=body))
    argo.get(path__startswith=APP_PATH + "/").mock(return_value=httpx.Response(404, json=fixture_json("argocd/error.json")))

    result = await ArgoCDCollector(client).collect(request)

    # the manifests are not served here: the deploys are still reported, the missing diff is said
    assert result.status is SourceStatus.OK
    assert result.error == "the change of c4d5e6f is unknown (manifests: HTTP 404)"
    assert [e.id for e in result.evidence] == ["deploys-1", "deploys-2", "deploys-3", "deploys-4", "deploys-5"]
    assert all(e.source is EvidenceSource.DEPLOYS for e in result.evidence)
    deploys = [e.payload for e in result.evidence[:3]]
    assert all(isinstance(d, Deploy) for d in deploys)
    assert [d.history_id for d in deploys] == [13, 12, 11]  # type: ignore[union-attr]  # 10 is left out
    assert [d.current for d in deploys] == [True, False, False]  # type: ignore[union-attr]
    current = deploys[0]
    assert isinstance(current, Deploy)
    assert current.revision == "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"
    assert current.target_revision == "v2.14.3"
    assert current.initiated_by == "automated"
    assert abs(current.deployed_at - (utcnow() - timedelta(minutes=7))) < timedelta(seconds=5)
    assert deploys[2].initiated_by == "admin"  # type: ignore[union-attr]
    clock = current.deployed_at.strftime("%H:%M:%SZ")
    assert result.evidence[0].detail == (
        f"checkout deployed v2.14.3 (c4d5e6f, history 13) at {clock} by auto-sync — current"
    )
    assert result.evidence[1].detail.startswith("checkout deployed v2.14.2 (8b1e0f4, history 12)")
    assert result.evidence[2].detail.endswith("by admin — previous")
    assert "history 11" in result.evidence[2].detail
    assert "unknown, the manifests could not be read (manifests: HTTP 404)" in result.evidence[3].detail
    status = result.evidence[4]
    assert status.payload is None
    assert status.detail == (
        'ArgoCD app checkout: health Degraded (Deployment "checkout" exceeded its progress deadline), '
        "sync Synced, auto-sync on"
    )
    assert {e.link for e in result.evidence} == {f"{ARGO}/applications/checkout"}


async def test_no_recent_deploy_keeps_only_current(argo: respx.MockRouter, client: httpx.AsyncClient) -> None:
    argo.get(APP_PATH).mock(return_value=httpx.Response(200, json=fixture_json("argocd/application.json")))
    argo.get(path__startswith=APP_PATH + "/").mock(return_value=httpx.Response(404, json=fixture_json("argocd/error.json")))

    result = await ArgoCDCollector(client).collect(incident_request(end=FIXTURE_END + timedelta(days=3)))

    deploys = [e.payload for e in result.evidence if e.payload is not None]
    assert [(d.history_id, d.current) for d in deploys] == [(13, True)]  # type: ignore[union-attr]
    assert "at 2025-11-25 03:38:12Z" in result.evidence[0].detail  # another day: the date is shown
    assert len(result.evidence) == 3  # the deploy, what it changed (unknown here), the app's status


def _deploy(history_id: int, at: datetime) -> Deploy:
    return Deploy(app="a", history_id=history_id, revision=f"r{history_id}", deployed_at=at)


@pytest.mark.parametrize(
    ("hours_ago", "expected"),
    [
        ([50, 30, 20, 1], [4, 3, 2]),  # recent 3 and 4, plus 2 (the one before the oldest recent)
        ([50, 30, 2, 1], [4, 3, 2]),
        ([5, 3, 1], [3, 2, 1]),  # everything recent, nothing older to add
        ([72, 48], [2]),  # none recent: only the current one
        ([], []),
    ],
)
def test_select_deploys(hours_ago: list[int], expected: list[int]) -> None:
    end = datetime(2025, 11, 25, 12, tzinfo=UTC)
    history = [_deploy(i, end - timedelta(hours=h)) for i, h in enumerate(hours_ago, start=1)]

    assert [d.history_id for d in select_deploys(history, end=end)] == expected


async def test_app_for_and_empty_history(argo: respx.MockRouter, client: httpx.AsyncClient) -> None:
    body = fixture_json("argocd/application.json")
    body["status"]["history"] = []
    del body["spec"]["syncPolicy"]
    route = argo.get("/api/v1/applications/shop-checkout").mock(return_value=httpx.Response(200, json=body))

    result = await ArgoCDCollector(client, app_for=lambda s: f"shop-{s}").collect(incident_request())

    assert route.called
    assert result.status is SourceStatus.OK
    assert len(result.evidence) == 1
    assert result.evidence[0].detail.endswith("sync Synced, auto-sync off")
    assert result.evidence[0].link == f"{ARGO}/applications/shop-checkout"


@pytest.mark.parametrize(
    ("code", "body", "reason"),
    [
        (404, fixture_json("argocd/error.json"), "app not found: application 'checkout' not found"),
        (403, fixture_json("argocd/error_permission_denied.json"),
         "permission denied: applications, sync, shop/checkout, sub: sitrep, iat: 2025-11-20T10:00:00Z"),
        (500, {"error": "boom", "code": 13, "message": "boom"}, "HTTP 500"),
        (502, None, "HTTP 502"),
    ],
)
async def test_error_answers(argo: respx.MockRouter, client: httpx.AsyncClient, code: int, body: Any, reason: str) -> None:
    response = httpx.Response(code, json=body) if body is not None else httpx.Response(code, text="bad gateway")
    argo.get(APP_PATH).mock(return_value=response)

    result = await ArgoCDCollector(client).collect(incident_request())

    assert (result.status, result.error, result.evidence) == (SourceStatus.ERROR, reason, [])


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>login</html>"),
        httpx.Response(200, json={"metadata": {}}),
        httpx.Response(200, json={"status": {"history": [{"id": "x", "revision": "r", "deployedAt": "2025-11-25T03:38:12Z"}]}}),
    ],
)
async def test_malformed_body(argo: respx.MockRouter, client: httpx.AsyncClient, response: httpx.Response) -> None:
    argo.get(APP_PATH).mock(return_value=response)

    result = await ArgoCDCollector(client).collect(incident_request())

    assert result.status is SourceStatus.ERROR
    assert result.error is not None and result.error.startswith("malformed body:")


async def test_factory_sends_bearer_and_never_logs_it(argo: respx.MockRouter) -> None:
    token = "argo-s3cr3t-token"
    route = argo.get(APP_PATH).mock(return_value=httpx.Response(500, text=f"echo {token}"))
    settings = Settings(_env_file=None, argocd_url=ARGO, argocd_token=token, loki_url=None,
                        prometheus_url=None, jaeger_url=None)

    with capture_logs() as logs:
        async with build_collectors(settings) as collector_set:
            collector = collector_set.collectors[SourceName.ARGOCD]
            assert collector is not None
            result = await collector.collect(incident_request())
            shown = repr(collector_set.clients[0].headers) + repr(collector_set.collectors)

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {token}"
    assert result.error == "HTTP 500"
    assert token not in shown
    assert token not in repr(logs)
    assert token not in result.model_dump_json()
