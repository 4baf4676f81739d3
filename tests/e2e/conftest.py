"""End-to-end rig: the fakes (Slack, Loki, Prometheus, ArgoCD, Jaeger, Anthropic) in one local HTTP
server, and ``sitrep serve`` as a subprocess pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner

SIGNING_SECRET = "e2e-signing-secret-0123456789abcdef"

#: budgets small enough that a hanging source costs the test ~2 s
FAST_BUDGETS = {
    "SITREP_SOURCE_TIMEOUT": "2",
    "SITREP_COLLECT_TIMEOUT": "2.5",
    "SITREP_LLM_TIMEOUT": "3",
    "SITREP_LLM_CHAIN_TIMEOUT": "6",
}


@pytest.fixture
def fake_cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as cloud:
        yield cloud


@pytest.fixture
def signer(fake_cloud: FakeCloud) -> SlackSigner:
    return fake_cloud.signer(SIGNING_SECRET)


@pytest.fixture
def sitrep_env(fake_cloud: FakeCloud) -> dict[str, str]:
    return {**fake_cloud.env(SLACK_SIGNING_SECRET=SIGNING_SECRET), **FAST_BUDGETS}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
