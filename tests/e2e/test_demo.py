"""`sitrep demo` as a user runs it: fire the scenario from the page's API, see the brief in the
alert's thread, approve the rollback, see it sent to the sandbox ArgoCD and the symptom recover."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.sandbox.demo import page_is_text_only
from tests.support import wait_for

pytestmark = pytest.mark.timeout(120)


def approve_button(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    for message in state["messages"]:
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("action_id") == "sitrep_approve":
                    return message, block, element
    return None


def test_the_demo_runs_the_whole_flow_from_its_page(demo: str) -> None:
    url = demo
    html = httpx.get(f"{url}/demo", timeout=5).text
    assert "fire scenario: bad deploy" in html
    assert httpx.post(f"{url}/demo/api/fire", timeout=10).json()["status"] == 200

    def state() -> dict[str, Any]:
        return httpx.get(f"{url}/demo/api/state", timeout=10).json()

    message, block, button = wait_for(lambda: approve_button(state()), timeout=30, what="the brief")
    root = state()["messages"][0]
    assert root["username"] == "Alertmanager" and message["thread_ts"] == root["ts"]  # in the alert's thread
    assert button["confirm"]  # the page asks before it sends
    httpx.post(f"{url}/demo/api/click", json={"action_id": button["action_id"], "value": button["value"],
                                               "block_id": block["block_id"], "ts": message["ts"],
                                               "thread_ts": message["thread_ts"]}, timeout=10)
    ops = wait_for(lambda: [o["op"] for o in state()["actions"]["argocd"] if o["op"] == "rollback"],
                   timeout=20, what="the rollback sent to the sandbox ArgoCD")
    assert ops == ["rollback"]
    verdict = wait_for(lambda: [m for m in state()["messages"] if "Verification" in (m.get("text") or "")],
                       timeout=40, what="the verification verdict")
    assert "recovered" in verdict[0]["text"]


def test_the_page_renders_data_only_as_text() -> None:
    assert page_is_text_only()  # a log line with <script> is shown, never run
