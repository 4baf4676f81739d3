"""Build the collectors from ``Settings``: one ``httpx.AsyncClient`` per configured upstream.

    async with build_collectors(settings) as collector_set:
        results = await gather_sources(collector_set.collectors, request, ...)

A source whose URL is unset maps to ``None`` (reported as "not configured"). Tokens go into client
headers only; they are never logged (httpx masks ``Authorization`` in reprs).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from bot.collectors.argocd import DETAIL_TIMEOUT, ArgoCDCollector
from bot.collectors.base import Collector
from bot.collectors.jaeger import JaegerCollector
from bot.collectors.kubernetes import KubernetesCollector
from bot.collectors.loki import LokiCollector
from bot.collectors.prometheus import PrometheusCollector
from bot.collectors.retry import RetryAfterTransport
from bot.executor.kubernetes import IN_CLUSTER_URL, SERVICE_ACCOUNT_DIR, ServiceAccountAuth
from bot.models import SourceName
from bot.settings import Settings
from bot.tls import trusted

USER_AGENT = "sitrep-collector"


class CollectorSet:
    """The collectors by source (every ``SourceName`` present, ``None`` = not configured) and the
    clients they share; close with ``aclose()`` or ``async with``."""

    def __init__(
        self,
        collectors: Mapping[SourceName, Collector | None],
        *,
        clients: Sequence[httpx.AsyncClient] = (),
    ) -> None:
        self.collectors: dict[SourceName, Collector | None] = {
            source: collectors.get(source) for source in SourceName
        }
        self._clients = list(clients)

    @property
    def clients(self) -> tuple[httpx.AsyncClient, ...]:
        return tuple(self._clients)

    @property
    def jaeger_dependencies(self) -> Callable[[], Awaitable[list[tuple[str, str, int]]]] | None:
        """Jaeger's service call graph, when Jaeger is configured (grouping uses it)."""
        jaeger = self.collectors.get(SourceName.JAEGER)
        return getattr(jaeger, "dependencies", None)

    @property
    def configured(self) -> list[SourceName]:
        return [source for source, collector in self.collectors.items() if collector is not None]

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def __aenter__(self) -> CollectorSet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def build_collectors(
    settings: Settings,
    *,
    promql_for: Callable[[str], Mapping[str, str]] | None = None,
    argocd_app_for: Callable[[str], str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> CollectorSet:
    """One client and collector per upstream whose URL is set. ``promql_for`` / ``argocd_app_for``
    override the defaults per service (policy files); ``transport`` is for tests and the demo.
    Kubernetes, like the executor: ``KUBERNETES_API_URL`` (+ ``KUBERNETES_TOKEN``), else the in-cluster
    service account when Sitrep runs in a pod, else not configured."""
    timeout = httpx.Timeout(settings.sitrep_source_timeout)
    clients: list[httpx.AsyncClient] = []

    def client(url: str, headers: dict[str, str] | None = None, *, auth: httpx.Auth | None = None,
               verify: ssl.SSLContext | None = None) -> httpx.AsyncClient:
        made = httpx.AsyncClient(
            base_url=url,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            auth=auth,
            # busy upstreams (429/503 + Retry-After) get a bounded second chance
            transport=RetryAfterTransport(transport or httpx.AsyncHTTPTransport(verify=verify or trusted())),
        )
        clients.append(made)
        return made

    collectors: dict[SourceName, Collector | None] = {source: None for source in SourceName}
    if settings.loki_url:
        tenant = {"X-Scope-OrgID": settings.loki_tenant} if settings.loki_tenant else None
        collectors[SourceName.LOKI] = LokiCollector(
            client(settings.loki_url, tenant), selector=settings.loki_selector_for,
            grafana_url=settings.grafana_url, grafana_datasource=settings.sitrep_grafana_loki_datasource,
        )
    if settings.prometheus_url:
        collectors[SourceName.PROMETHEUS] = PrometheusCollector(
            client(settings.prometheus_url), queries=promql_for or settings.promql_for
        )
    if settings.argocd_url:
        token = settings.argocd_token.get_secret_value() if settings.argocd_token else None
        auth = {"Authorization": f"Bearer {token}"} if token else None
        collectors[SourceName.ARGOCD] = ArgoCDCollector(
            client(settings.argocd_url, auth), app_for=argocd_app_for, ui_url=settings.argocd_url,
            # metadata and manifests must leave the application read room within the source's budget
            detail_timeout=min(DETAIL_TIMEOUT, settings.sitrep_source_timeout * 0.5),
        )
    if settings.jaeger_url:
        collectors[SourceName.JAEGER] = JaegerCollector(
            client(settings.jaeger_url), ui_url=settings.jaeger_url
        )
    if settings.kubernetes_api_url:
        token = settings.kubernetes_token.get_secret_value() if settings.kubernetes_token else None
        auth = {"Authorization": f"Bearer {token}"} if token else None
        collectors[SourceName.KUBERNETES] = KubernetesCollector(
            client(settings.kubernetes_api_url, auth), default_namespace=settings.sitrep_default_namespace
        )
    elif (service_account_dir / "token").is_file():  # in a pod: the API server and our service account
        ca = service_account_dir / "ca.crt"
        verify = ssl.create_default_context(cafile=str(ca)) if ca.is_file() else None
        collectors[SourceName.KUBERNETES] = KubernetesCollector(
            client(IN_CLUSTER_URL, auth=ServiceAccountAuth(service_account_dir / "token"), verify=verify),
            default_namespace=settings.sitrep_default_namespace,
        )
    return CollectorSet(collectors, clients=clients)
