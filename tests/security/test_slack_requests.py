"""Requests to Slack's URL that Slack did not send, or that are too big, are refused before any work."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_incident_command import stored
from tests.support import SitrepProcess

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(60)


def test_tampered_oversized_and_unsigned_requests_are_refused(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve,
) -> None:
    body = signer.slash_command_body(command="/incident", text="checkout p99 high", user_id="U0ONCALL",
                                     channel_id="C0INCIDENT")
    sitrep = serve(sitrep_env)
    url = f"{sitrep.url}/slack/events"
    headers = signer.headers(body)
    tampered = body.replace("checkout", "payments")  # signed for checkout, altered on the way
    assert httpx.post(url, content=tampered, headers=headers, timeout=10).status_code == 401
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert httpx.post(url, content=body, headers=unsigned, timeout=10).status_code == 401
    huge = body + "&padding=" + "x" * 2_000_000
    answer = httpx.post(url, content=huge, headers=signer.headers(huge), timeout=10)
    assert answer.status_code == 413  # refused before it is read into memory or verified
    # an accepted /incident is stored, with its investigation queued, before it is answered:
    # nothing stored, so nothing is going to be posted
    assert stored(sitrep) == {"alerts": 0, "jobs": 0}
    assert [c for c in fake_cloud.slack_calls() if c["method"].startswith("chat.")] == []
