"""Sitrep's HTTP clients share one TLS context: the CA bundle is read once per process, not once per
client (nine at start-up, one per on-call lookup), and SSL_CERT_FILE still decides whom to trust."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest

from bot.collectors.factory import build_collectors
from bot.executor.dispatch import build_executors
from bot.settings import Settings
from bot.tls import trusted

EVERY_UPSTREAM = {
    "loki_url": "https://loki.example.test", "prometheus_url": "https://prometheus.example.test",
    "argocd_url": "https://argocd.example.test", "argocd_token": "argocd-token-FAKE",
    "jaeger_url": "https://jaeger.example.test", "kubernetes_api_url": "https://k8s.example.test",
    "kubernetes_token": "k8s-token-FAKE", "sitrep_runbooks": {"flush-cache": "https://hooks.example.test/flush"},
    "sitrep_runbook_secret": "runbook-secret-FAKE",
}


@pytest.fixture
def bundle_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every CA bundle loaded into a context, from a fresh start."""
    trusted.cache_clear()
    loads: list[Any] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    yield loads
    trusted.cache_clear()


async def test_the_clients_of_every_upstream_read_the_ca_bundle_once(
    bundle_loads: list[Any], tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, **EVERY_UPSTREAM)  # type: ignore[arg-type]
    collectors = build_collectors(settings, service_account_dir=tmp_path)
    executors = build_executors(settings, service_account_dir=tmp_path)
    try:
        assert len(collectors.configured) == 5
        assert len(bundle_loads) == 1, "each client loaded the CA bundle again"
    finally:
        await collectors.aclose()
        await executors.aclose()


def test_ssl_cert_file_still_chooses_the_trusted_authorities(
    bundle_loads: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pem = Path(certifi.where()).read_text()
    first = pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index("-----END CERTIFICATE-----") + 25] + "\n"
    own = tmp_path / "ca.pem"
    own.write_text(first)
    monkeypatch.setenv("SSL_CERT_FILE", str(own))
    context = trusted()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # only the operator's authority, not certifi's ~150
