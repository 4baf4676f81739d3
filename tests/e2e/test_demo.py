"""`sitrep demo` as a user runs it: fire a scenario from the page's API, see the brief in the
alert's thread, approve the rollback (or restart), see it sent to the sandbox ArgoCD and the symptom
recover; the dependency failure and the false alarm get briefs that propose nothing to run."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from bot.sandbox.demo import page_is_text_only
from tests.e2e.conftest import Demo
from tests.support import wait_for

pytestmark = pytest.mark.timeout(180)


def approve_button(state: dict[str, Any], *, thread: str | None = None
                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    for message in state["messages"]:
        if thread is not None and message.get("thread_ts") != thread:
            continue
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("action_id") == "sitrep_approve":
                    return message, block, element
    return None


def test_the_demo_runs_the_whole_flow_from_its_page(demo_run: Demo) -> None:
    url = demo_run.url
    printed_before = len(demo_run.log.read_text())  # the module's other tests share this demo

    def state() -> dict[str, Any]:
        return httpx.get(f"{url}/demo/api/state", timeout=10).json()

    shown_before = len(state()["messages"])
    html = httpx.get(f"{url}/demo", timeout=5).text
    assert '"bad_deploy": "bad deploy (checkout)"' in html  # the page's scenario buttons
    assert httpx.post(f"{url}/demo/api/fire", timeout=10).json()["status"] == 200

    root = wait_for(lambda: state()["messages"][shown_before:], timeout=30, what="the alert")[0]
    message, block, button = wait_for(lambda: approve_button(state(), thread=root["ts"]), timeout=30,
                                      what="the brief")
    assert root["username"] == "Alertmanager" and message["thread_ts"] == root["ts"]  # in the alert's thread
    assert button["confirm"]  # the page asks before it sends
    httpx.post(f"{url}/demo/api/click", json={"action_id": button["action_id"], "value": button["value"],
                                               "block_id": block["block_id"], "ts": message["ts"],
                                               "thread_ts": message["thread_ts"]}, timeout=10)
    ops = wait_for(lambda: [o["op"] for o in state()["actions"]["argocd"] if o["op"] == "rollback"],
                   timeout=20, what="the rollback sent to the sandbox ArgoCD")
    assert ops == ["rollback"]
    verdict = wait_for(lambda: [m for m in state()["messages"] if m.get("thread_ts") == root["ts"]
                                and "Verification" in (m.get("text") or "")],
                       timeout=40, what="the verification verdict")
    assert "recovered" in verdict[0]["text"]
    charts = [f for m in state()["messages"] if m.get("thread_ts") == root["ts"] for f in m.get("files") or []]
    assert charts and charts[0]["mimetype"] == "image/png"  # the incident chart, in the alert's thread
    png = httpx.get(f"{url}/demo/api/files/{charts[0]['id']}", timeout=10)
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")

    # the terminal: the banner, then one line per step, and none of the libraries' bookkeeping
    terminal = demo_run.log  # the demo's stdout and stderr
    steps = ("alert fired", "brief posted", "approved", "executed", "verified")
    wait_for(lambda: all(step in terminal.read_text()[printed_before:] for step in steps), timeout=10,
             what="a line per step")
    printed = terminal.read_text()
    assert f"Open    {url}/demo" in printed and "Ctrl-C" in printed
    for chatter in ("apscheduler", "Running job", "alembic", "Context impl", "Uvicorn running"):
        assert chatter not in printed


def resolve_open_incidents(url: str) -> None:
    """``/incident resolve`` every open incident, as the on-call does once a fix is verified: an alert on
    a service that calls (or is called by) an open incident's service joins that incident. Whether it
    does here would otherwise depend on whether Sitrep has read the call graph the sandbox Jaeger
    serves (checkout calls cart) since the module's previous scenario."""
    def command(text: str) -> str:
        answer = httpx.post(f"{url}/demo/api/command", json={"text": text}, timeout=10).json()
        assert answer["status"] == 200, answer
        return str(answer["answer"])

    for number in re.findall(r"#(\d+) ", command("/incident list")):
        assert "Done" in command(f"/incident resolve {number} fixed"), number
    assert "No open incidents" in command("/incident list")


def fire(url: str, scenario: str) -> dict[str, Any]:
    """Fire ``scenario`` once the incidents before it are resolved; its alert's root message and the
    brief in its thread."""
    resolve_open_incidents(url)
    assert httpx.post(f"{url}/demo/api/fire", json={"scenario": scenario}, timeout=10).json()["status"] == 200

    def brief() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        messages = httpx.get(f"{url}/demo/api/state", timeout=10).json()["messages"]
        roots = [m for m in messages if m.get("username") == "Alertmanager"]
        if not roots:
            return None
        root = roots[-1]
        thread = [m for m in messages if m.get("thread_ts") == root["ts"] and m["ts"] != root["ts"]]
        done = [m for m in thread if "Root cause" in json.dumps(m.get("blocks") or [])]
        return (root, thread) if done else None

    root, thread = wait_for(brief, timeout=30, what=f"the {scenario} brief")
    return {"root": root, "thread": thread, "text": json.dumps([m.get("blocks") for m in thread])}


def test_the_other_scenarios_each_get_the_brief_they_call_for(demo: str) -> None:
    url = demo

    def state() -> dict[str, Any]:
        return httpx.get(f"{url}/demo/api/state", timeout=10).json()

    leak = fire(url, "memory_leak")
    assert "KubePodMemoryNearLimit" in json.dumps(leak["root"]) and "memory" in leak["text"]
    message, block, button = wait_for(lambda: approve_button(state(), thread=leak["root"]["ts"]),
                                      timeout=10, what="the restart's Approve button")
    assert "restart" in json.dumps(message["blocks"]).lower() and "cart" in json.dumps(message["blocks"])
    httpx.post(f"{url}/demo/api/click", json={"action_id": button["action_id"], "value": button["value"],
                                               "block_id": block["block_id"], "ts": message["ts"],
                                               "thread_ts": message["thread_ts"]}, timeout=10)
    wait_for(lambda: [o for o in state()["actions"]["argocd"]
                      if o["op"] == "resource_action" and o["app"] == "cart"],
             timeout=20, what="the restart sent to the sandbox ArgoCD")
    wait_for(lambda: [m for m in state()["messages"] if m.get("thread_ts") == leak["root"]["ts"]
                      and "Verification" in (m.get("text") or "") and "recovered" in m["text"]],
             timeout=40, what="the memory leak recovering after the restart")

    dependency = fire(url, "dependency_failure")
    assert "payments" in dependency["text"]  # the cause is the dependency, not orders
    assert approve_button(state(), thread=dependency["root"]["ts"]) is None  # nothing to run on orders

    alarm = fire(url, "false_alarm")
    assert "false alarm" in alarm["text"]
    assert approve_button(state(), thread=alarm["root"]["ts"]) is None
    assert httpx.post(f"{url}/demo/api/fire", json={"scenario": "nope"}, timeout=10).status_code == 400


def test_the_page_renders_data_only_as_text() -> None:
    assert page_is_text_only()  # a log line with <script> is shown, never run
