from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from bot.collectors.factory import build_collectors
from bot.collectors.kubernetes import KubernetesCollector, merge_events, parse_event
from bot.models import EvidenceSource, InvestigationRequest, LogLine, SourceName, SourceStatus
from bot.settings import Settings
from tests.collectors.support import fixture_json

K8S = "https://k8s.test"
EVENTS = "/api/v1/namespaces/billing/events"
NODE_EVENTS = "/api/v1/namespaces/default/events"
#: the second incident in the fixtures: invoices (namespace billing) from 03:38 to 03:52
END = datetime(2025, 11, 25, 3, 52, tzinfo=UTC)


def request(service: str = "invoices", *, minutes: int = 30, namespace: str | None = "billing") -> InvestigationRequest:
    return InvestigationRequest(service=service, namespace=namespace,
                                window_start=END - timedelta(minutes=minutes), window_end=END)


def empty_list() -> dict[str, Any]:
    return {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}


@pytest.fixture
def k8s() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=K8S, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=K8S) as c:
        yield c


def test_parses_both_event_shapes() -> None:
    items = fixture_json("kubernetes/events_list.json")["items"]
    scheduler = parse_event(items[0])  # events.k8s.io: eventTime + series, timestamps null, no count
    assert scheduler is not None
    assert (scheduler.reason, scheduler.count, scheduler.component) == ("FailedScheduling", 4, "default-scheduler")
    assert scheduler.first == datetime(2025, 11, 25, 3, 42, 5, 431872, tzinfo=UTC)
    assert scheduler.last == datetime(2025, 11, 25, 3, 43, 35, 118420, tzinfo=UTC)
    kubelet = next(parse_event(i) for i in items if i["reason"] == "BackOff")  # count + first/lastTimestamp
    assert kubelet is not None
    assert (kubelet.count, kubelet.kind, kubelet.name) == (4, "Pod", "invoices-6f8b9c7d5-q7w2z")
    assert (kubelet.first, kubelet.last) == (datetime(2025, 11, 25, 3, 48, 2, tzinfo=UTC),
                                             datetime(2025, 11, 25, 3, 50, 5, tzinfo=UTC))


async def test_warning_events_of_the_service_merged_newest_first(k8s: respx.MockRouter,
                                                                 client: httpx.AsyncClient) -> None:
    body = fixture_json("kubernetes/events_list.json")
    route = k8s.get(EVENTS).mock(return_value=httpx.Response(200, json=body))
    k8s.get(NODE_EVENTS).mock(return_value=httpx.Response(200, json=empty_list()))

    result = await KubernetesCollector(client).collect(request())

    assert result.status is SourceStatus.OK and result.error is None
    params = route.calls.last.request.url.params
    assert params["fieldSelector"] == "type=Warning"
    # the fixture is the pod's whole history: the collector keeps Warnings only (the API filters too)
    details = [e.detail for e in result.evidence]
    assert details == [
        "Kubernetes event: Warning BackOff (×4) on pod invoices-6f8b9c7d5-q7w2z, 03:48:02Z–03:50:05Z: "
        "Back-off restarting failed container invoices in pod invoices-6f8b9c7d5-q7w2z_billing"
        "(9c1e5a7b-2f4d-4e8a-b6c3-1d0f9e8a7b65)",
        "Kubernetes event: Warning Unhealthy (×21) on pod invoices-6f8b9c7d5-q7w2z, 03:44:31Z–03:49:58Z: "
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "Kubernetes event: Warning Unhealthy (×9) on pod invoices-6f8b9c7d5-q7w2z, 03:45:40Z–03:49:50Z: "
        'Liveness probe failed: Get "http://10.20.7.143:8000/healthz": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)",
        "Kubernetes event: Warning FailedScheduling (×4) on pod invoices-6f8b9c7d5-q7w2z, 03:42:05Z–03:43:35Z: "
        "0/6 nodes are available: 6 Insufficient memory. preemption: 0/6 nodes are available: 6 No "
        "preemption victims found for incoming pod.",
    ]
    assert all(isinstance(e.payload, LogLine) and e.payload.level == "warning" for e in result.evidence)
    first = result.evidence[0]
    assert (first.id, first.source) == ("events-1", EvidenceSource.LOGS)
    assert first.at == datetime(2025, 11, 25, 3, 50, 5, tzinfo=UTC)
    assert isinstance(first.payload, LogLine)
    assert first.payload.line.startswith("BackOff: Back-off restarting failed container invoices")
    assert first.payload.labels["reason"] == "BackOff" and first.payload.labels["count"] == "4"


def _warning(name: str, reason: str, message: str, *, count: int, last: str,
             first: str = "2025-11-25T03:44:00Z") -> dict[str, Any]:
    return {"metadata": {"name": f"{name}.17", "namespace": "billing"},
            "involvedObject": {"kind": "Pod", "namespace": "billing", "name": name},
            "reason": reason, "message": message, "source": {"component": "kubelet"},
            "firstTimestamp": first, "lastTimestamp": last, "count": count,
            "type": "Warning", "eventTime": None}


async def test_repeated_reasons_of_several_pods_merge_and_other_services_are_left_out(
    k8s: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    items = [  # name order, not time order, as the API lists them
        _warning("billing-api-7c9d-aaaaa", "BackOff", "Back-off restarting failed container api in pod "
                 "billing-api-7c9d-aaaaa_billing(1f0e)", count=9, last="2025-11-25T03:50:00Z"),
        _warning("invoices-6f8b9c7d5-q7w2z", "BackOff", "Back-off restarting failed container invoices in pod "
                 "invoices-6f8b9c7d5-q7w2z_billing(9c1e5a7b-2f4d-4e8a-b6c3-1d0f9e8a7b65)", count=4,
                 last="2025-11-25T03:50:05Z"),
        _warning("invoices-6f8b9c7d5-x1y2z", "BackOff", "Back-off restarting failed container invoices in pod "
                 "invoices-6f8b9c7d5-x1y2z_billing(0a1b2c3d-2f4d-4e8a-b6c3-1d0f9e8a7b65)", count=3,
                 last="2025-11-25T03:49:00Z"),
        _warning("invoices-old-0", "BackOff", "Back-off restarting failed container", count=5,
                 first="2025-11-25T00:40:00Z", last="2025-11-25T01:00:00Z"),  # long before the window
        _warning("invoices", "FailedGetPodsMetric", "unable to get metric http_requests_in_flight", count=2,
                 last="2025-11-25T03:46:00Z"),  # the HPA, named like the service
    ]
    k8s.get(EVENTS).mock(return_value=httpx.Response(200, json={**empty_list(), "items": items}))
    k8s.get(NODE_EVENTS).mock(return_value=httpx.Response(200, json=empty_list()))

    result = await KubernetesCollector(client).collect(request())

    details = [e.detail for e in result.evidence]
    assert len(details) == 2
    assert details[0].startswith("Kubernetes event: Warning BackOff (×7) on 2 pods (e.g. invoices-6f8b9c7d5-q7w2z), "
                                 "03:44:00Z–03:50:05Z: Back-off restarting failed container invoices")
    assert details[1].startswith("Kubernetes event: Warning FailedGetPodsMetric (×2) on pod invoices,")
    assert not any("billing-api" in d for d in details)


async def test_node_oom_kills_of_the_service_process(k8s: respx.MockRouter, client: httpx.AsyncClient) -> None:
    k8s.get(EVENTS).mock(return_value=httpx.Response(200, json=empty_list()))
    node_route = k8s.get(NODE_EVENTS).mock(
        return_value=httpx.Response(200, json=fixture_json("kubernetes/events_node_oomkilling.json")))

    result = await KubernetesCollector(client).collect(request("thumbnailer", namespace="media"))

    assert node_route.calls.last.request.url.params["fieldSelector"] == "involvedObject.kind=Node,reason=OOMKilling"
    [item] = result.evidence
    assert item.detail.startswith("Kubernetes event: Warning OOMKilling (×2) on node "
                                  "ip-10-20-5-31.eu-west-1.compute.internal, 03:33:18Z–03:39:51Z: "
                                  "Memory cgroup out of memory: Killed process 2304112 (thumbnailer)")
    other = await KubernetesCollector(client).collect(request("invoices"))
    assert other.status is SourceStatus.NO_DATA


@pytest.mark.parametrize(("fixture", "status", "reason"), [
    ("kubernetes/status_403.json", 403, 'HTTP 403: deployments.apps "checkout" is forbidden: User '
                                        '"system:serviceaccount:sitrep:sitrep" cannot patch'),
    ("kubernetes/status_404.json", 404, 'HTTP 404: deployments.apps "checkout" not found'),
])
async def test_refused_or_missing_is_a_clear_error(k8s: respx.MockRouter, client: httpx.AsyncClient,
                                                   fixture: str, status: int, reason: str) -> None:
    body = fixture_json(fixture)
    k8s.get(EVENTS).mock(return_value=httpx.Response(status, json=body))
    k8s.get(NODE_EVENTS).mock(return_value=httpx.Response(status, json=body))

    result = await KubernetesCollector(client).collect(request())

    assert result.status is SourceStatus.ERROR
    assert result.error is not None and result.error.startswith(reason)
    assert result.describe().startswith(f"Kubernetes: error HTTP {status}")


async def test_node_events_refused_is_a_note_beside_the_pod_events(k8s: respx.MockRouter,
                                                                    client: httpx.AsyncClient) -> None:
    k8s.get(EVENTS).mock(return_value=httpx.Response(200, json=fixture_json("kubernetes/events_list.json")))
    k8s.get(NODE_EVENTS).mock(return_value=httpx.Response(403, json=fixture_json("kubernetes/status_403.json")))

    result = await KubernetesCollector(client).collect(request())

    assert result.status is SourceStatus.OK and result.evidence
    assert result.error is not None and result.error.startswith("1/2 queries failed: node OOM kills: HTTP 403")


async def test_not_an_event_list_is_malformed(k8s: respx.MockRouter, client: httpx.AsyncClient) -> None:
    k8s.get(EVENTS).mock(return_value=httpx.Response(200, json={"kind": "Status"}))
    k8s.get(NODE_EVENTS).mock(return_value=httpx.Response(200, text="<html>"))

    result = await KubernetesCollector(client).collect(request())

    assert result.status is SourceStatus.ERROR and result.error is not None
    assert result.error.startswith("malformed body")


async def test_request_without_namespace_uses_the_default(k8s: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = k8s.get("/api/v1/namespaces/shop/events").mock(return_value=httpx.Response(200, json=empty_list()))
    k8s.get(NODE_EVENTS).mock(return_value=httpx.Response(200, json=empty_list()))

    result = await KubernetesCollector(client, default_namespace="shop").collect(request(namespace=None))

    assert route.called and result.status is SourceStatus.NO_DATA


def test_merge_orders_groups_by_latest() -> None:
    items = fixture_json("kubernetes/events_list.json")["items"]
    groups = merge_events([e for i in items if (e := parse_event(i)) is not None and e.type == "Warning"])
    assert [(g.reason, g.count) for g in groups] == [("BackOff", 4), ("Unhealthy", 21), ("Unhealthy", 9),
                                                     ("FailedScheduling", 4)]


async def test_unset_url_is_skipped_and_set_url_sends_the_token(tmp_path: Path) -> None:
    base = Settings(_env_file=None, kubernetes_api_url=None, kubernetes_token=None)  # type: ignore[call-arg]
    async with build_collectors(base, service_account_dir=tmp_path) as collectors:
        assert collectors.collectors[SourceName.KUBERNETES] is None
    configured = Settings(_env_file=None, kubernetes_api_url=K8S, kubernetes_token="k8s-token")  # type: ignore[call-arg]
    with respx.mock(assert_all_called=False) as router:
        route = router.get(f"{K8S}/api/v1/namespaces/default/events").mock(
            return_value=httpx.Response(200, json=empty_list()))
        async with build_collectors(configured, service_account_dir=tmp_path) as collectors:
            collector = collectors.collectors[SourceName.KUBERNETES]
            assert isinstance(collector, KubernetesCollector)
            result = await collector.collect(request(namespace=None))
    assert result.status is SourceStatus.NO_DATA
    assert route.calls[0].request.headers["Authorization"] == "Bearer k8s-token"


async def test_in_cluster_service_account_is_used_when_the_url_is_unset(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    settings = Settings(_env_file=None, kubernetes_api_url=None)  # type: ignore[call-arg]
    async with build_collectors(settings, service_account_dir=tmp_path) as collectors:
        collector = collectors.collectors[SourceName.KUBERNETES]
        assert isinstance(collector, KubernetesCollector)
        assert "https://kubernetes.default.svc" in {str(c.base_url) for c in collectors.clients}
