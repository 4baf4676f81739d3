"""Shared pieces of the executor tests: upstream bodies, actions, clients pointed at respx-mocked hosts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.models import Action, ActionKind, ActionTarget

ROOT = Path(__file__).resolve().parents[1]
ARGOCD_FIXTURES = ROOT / "fixtures" / "upstream" / "argocd"
KUBERNETES_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kubernetes"
ARGO = "https://argocd.test"
K8S = "https://k8s.test"
ARGO_TOKEN = "argocd-token-not-for-results"
K8S_TOKEN = "k8s-token-not-for-results"
TIMEOUT = httpx.Timeout(10.0)


def argocd_body(name: str) -> Any:
    return json.loads((ARGOCD_FIXTURES / name).read_text())


def kubernetes_body(name: str) -> Any:
    return json.loads((KUBERNETES_FIXTURES / name).read_text())


def application(*, automated: dict[str, Any] | None = None, auto_sync: bool = True) -> dict[str, Any]:
    """``application.json``: checkout at v2.14.3 (history 13), auto-sync on unless told otherwise."""
    app = argocd_body("application.json")
    if not auto_sync:
        app["spec"].pop("syncPolicy", None)
    elif automated is not None:
        app["spec"]["syncPolicy"]["automated"] = automated
    return app


def action(kind: str, *, service: str = "checkout", namespace: str | None = "shop", app: str | None = "checkout",
           **params: Any) -> Action:
    target = ActionTarget(service=service, namespace=namespace, app=app)
    return Action(kind=ActionKind(kind), target=target, params=params, rationale="test")


@pytest.fixture
async def argo() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ARGO, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {ARGO_TOKEN}"}) as client:
        yield client


@pytest.fixture
async def k8s() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=K8S, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {K8S_TOKEN}"}) as client:
        yield client


