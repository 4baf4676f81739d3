"""Slack itself failing while Sitrep posts: 500s are retried (bounded) and the brief still lands;
the job's own retry covers what the client's retries do not."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.support import SitrepProcess

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)


def faults_left(cloud: FakeCloud) -> dict[str, object]:
    return dict(httpx.get(f"{cloud.url}/", timeout=5).json()["faults"])


def test_slack_500s_are_retried_and_the_brief_still_lands(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve,
) -> None:
    fake_cloud.set_faults({"slack": {"status": 500, "times": 2, "path": "chat.postMessage"}})
    sitrep = serve(sitrep_env)
    send_incident(sitrep, signer, "checkout p99 high")
    wait_for_brief(fake_cloud, timeout=30)
    assert "slack" not in faults_left(fake_cloud)  # both 500s were served, and retried past


def test_slack_down_for_longer_still_gives_the_brief_once_it_is_back(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve,
) -> None:
    # more 500s than the client retries: the investigation job fails, is retried with backoff,
    # and posts the brief on a later attempt — once
    fake_cloud.set_faults({"slack": {"status": 500, "times": 6, "path": "chat.postMessage"}})
    sitrep = serve(sitrep_env)
    send_incident(sitrep, signer, "checkout p99 high")
    wait_for_brief(fake_cloud, timeout=60)
    assert "slack" not in faults_left(fake_cloud)
