"""`/incident list | status | resolve | reopen` against a real `sitrep serve`: answers to the person,
resolution said in the incident's thread, mistakes answered with what to type."""

from __future__ import annotations

from collections.abc import Callable

import httpx

import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_incident_command import CHANNEL, send_incident, wait_for_brief
from tests.support import SitrepProcess, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)


def test_list_status_resolve_and_reopen(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(sitrep_env)
    def ask(text: str) -> str:
        response, _ = send_incident(sitrep, signer, text)
        assert response.status_code == 200
        return str(response.json()["text"])

    assert ask("list") == "Open incidents:\nNo open incidents."
    send_incident(sitrep, signer, "checkout p99 high")
    wait_for_brief(fake_cloud, timeout=20)
    listed = ask("list")
    assert "#1 checkout" in listed and "brief posted (" in listed and "min" in listed
    assert ask("status 1").startswith("#1 checkout") and "(open)" in ask("status #1")

    assert ask("resolve 1 rolled back to v2.14.2").startswith("Done: #1 checkout")
    root_ts = next(c for c in fake_cloud.slack_calls("chat.postMessage")
                   if c["channel"] == CHANNEL and not c.get("thread_ts"))["ts"]
    line = wait_for(lambda: [c for c in fake_cloud.slack_calls("chat.postMessage")
                             if c.get("thread_ts") == root_ts and "Resolved by" in (c.get("text") or "")],
                    timeout=10, what="the resolution in the thread")
    assert "rolled back to v2.14.2" in line[0]["text"] and "<@U0ONCALL>" in line[0]["text"]
    assert ask("list") == "Open incidents:\nNo open incidents."
    assert ask("resolve 1") == "Incident 1 is already resolved."
    assert "(resolved)" in ask("status 1")
    assert ask("reopen 1").startswith("Done: #1 checkout")
    assert "#1 checkout" in ask("list")

    assert ask("status 99").startswith("There is no incident 99")
    assert ask("resolve").startswith("Which incident? Type `/incident resolve 12` [note]")
    assert ask("status ²").startswith("Which incident?")  # a digit to str.isdigit, not to int()
    assert ask("postmortem ³").startswith("Which incident?")


def test_slack_rate_limits_are_waited_out(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.set_faults({"slack": {"status": 429, "retry_after": 1, "times": 2, "path": "chat.postMessage"}})
    sitrep = serve(sitrep_env)
    send_incident(sitrep, signer, "checkout p99 high")
    wait_for_brief(fake_cloud, timeout=30)
    # both 429s were served (the fault is used up): without waiting them out, the root message,
    # and so the brief, would never have been posted
    assert "slack" not in httpx.get(f"{fake_cloud.url}/", timeout=5).json()["faults"]
