"""`/incident` end to end: a signed slash command to a real `sitrep serve` subprocess, fakes of every
upstream over real HTTP, and what Slack would show recorded by the fake Web API."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.models import RULE_BASED_BANNER
from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.support import SitrepProcess, run_sitrep, wait_for

Serve = Callable[..., SitrepProcess]

CHANNEL = "C0INCIDENT"
USER = "U0ONCALL"

pytestmark = pytest.mark.timeout(120)


def send_incident(sitrep: SitrepProcess, signer: SlackSigner, text: str, *, timestamp: int | None = None) -> tuple[httpx.Response, float]:
    body = signer.slash_command_body(command="/incident", text=text, user_id=USER, channel_id=CHANNEL)
    headers = signer.headers(body, timestamp=timestamp)
    started = time.perf_counter()
    response = httpx.post(f"{sitrep.url}/slack/events", content=body, headers=headers, timeout=10)
    return response, time.perf_counter() - started


def stored(sitrep: SitrepProcess) -> dict[str, int]:
    """How many alerts and jobs Sitrep has stored."""
    with contextlib.closing(sqlite3.connect(sitrep.workdir / "sitrep.db")) as db:
        return {table: db.execute(f"select count(*) from {table}").fetchone()[0] for table in ("alerts", "jobs")}


def blocks_text(blocks: list[dict[str, Any]] | None) -> str:
    """All the text a person would read in a list of blocks."""
    return json.dumps(blocks or [], ensure_ascii=False)


def wait_for_brief(cloud: FakeCloud, *, timeout: float) -> dict[str, Any]:
    """The call that put the brief in Slack: a chat.update / chat.postMessage carrying the
    sitrep_brief metadata."""

    def brief_call() -> dict[str, Any] | None:
        for call in cloud.slack_calls():
            if call["method"] in {"chat.update", "chat.postMessage"}:
                metadata = call.get("metadata") or {}
                if metadata.get("event_type") == "sitrep_brief":
                    return call
        return None

    return wait_for(brief_call, timeout=timeout, what="a brief in Slack")


def root_and_thread(cloud: FakeCloud, brief_call: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The root message in the channel, and the thread the brief lives in."""
    posts = cloud.slack_calls("chat.postMessage")
    roots = [c for c in posts if c["channel"] == CHANNEL and not c.get("thread_ts")]
    assert len(roots) == 1, f"expected one root message, got {roots}"
    if brief_call["method"] == "chat.postMessage":
        thread_ts = brief_call["thread_ts"]
    else:  # the in-thread placeholder was updated in place
        placeholder = [c for c in posts if c.get("ts") == brief_call["ts"]]
        assert placeholder, "chat.update of a message Sitrep never posted"
        thread_ts = placeholder[0]["thread_ts"]
    return roots[0], thread_ts


def test_incident_command_posts_a_grounded_model_brief_in_the_thread(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    scenario = fake_cloud.scenario
    sitrep = serve(sitrep_env)
    response, elapsed = send_incident(sitrep, signer, "checkout p99 high")
    assert response.status_code == 200
    assert elapsed < 3, f"ack took {elapsed:.2f} s"
    assert "Investigating" in response.text

    brief_call = wait_for_brief(fake_cloud, timeout=20)
    root, thread_ts = root_and_thread(fake_cloud, brief_call)
    assert thread_ts == root["ts"]

    shown = blocks_text(brief_call["blocks"]) + brief_call.get("text", "")
    payload = brief_call["metadata"]["event_payload"]
    assert payload["root_cause_service"] == scenario.root_cause_service
    assert payload["status"] == "COMPLETED"
    assert scenario.culprit_revision in shown            # the culprit deploy is named
    assert RULE_BASED_BANNER not in shown
    for source in ("logs-", "metrics-", "deploys-", "traces-"):   # evidence from all four
        assert source in shown, f"no {source} evidence cited"
    assert "Roll back" in shown or "rollback" in shown.lower()
    assert scenario.previous_revision in shown           # rollback to the previous revision
    assert "Second opinion" in shown and "agrees" in shown  # the HIGH rollback was checked

    # the model saw the evidence, and no secret went into the prompt
    prompts = json.dumps(fake_cloud.anthropic_calls())
    assert "deploys-" in prompts
    for secret in (sitrep_env["SLACK_BOT_TOKEN"], sitrep_env["ARGOCD_TOKEN"], sitrep_env["SLACK_SIGNING_SECRET"]):
        assert secret not in prompts
    # and none in Sitrep's own logs
    logs = sitrep.logs()
    for secret in (sitrep_env["SLACK_BOT_TOKEN"], sitrep_env["ARGOCD_TOKEN"], sitrep_env["ANTHROPIC_API_KEY"]):
        assert secret not in logs


def test_broken_and_hanging_sources_still_give_a_brief_naming_them(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.set_faults({"loki": {"status": 500}, "jaeger": {"hang": True}})
    sitrep = serve(sitrep_env)
    response, elapsed = send_incident(sitrep, signer, "checkout p99 high")
    assert response.status_code == 200 and elapsed < 3
    sent = time.monotonic()
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    # collection budget (2.5 s) + the model + posting, well inside "seconds"
    assert time.monotonic() - sent < 10
    shown = blocks_text(brief_call["blocks"]) + brief_call.get("text", "")
    assert "Loki: error" in shown
    assert "Jaeger: timeout" in shown
    assert fake_cloud.scenario.culprit_revision in shown


def test_without_a_model_key_the_brief_is_rule_based_and_says_so(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], workdir: Path
) -> None:
    env = {k: v for k, v in sitrep_env.items() if k != "ANTHROPIC_API_KEY"}
    with run_sitrep(env, workdir=workdir) as sitrep:
        response, _ = send_incident(sitrep, signer, "checkout p99 high")
        assert response.status_code == 200
        brief_call = wait_for_brief(fake_cloud, timeout=20)
    shown = blocks_text(brief_call["blocks"]) + brief_call.get("text", "")
    assert RULE_BASED_BANNER in shown
    assert brief_call["metadata"]["event_payload"]["status"] == "DETERMINISTIC"
    assert fake_cloud.scenario.culprit_revision in shown
    assert fake_cloud.scenario.previous_revision in shown
    assert fake_cloud.anthropic_calls() == []


@pytest.mark.parametrize(("mode", "reason"), [("invalid", "invalid"), ("hang", "timeout")])
def test_a_model_that_answers_badly_or_not_at_all_gives_the_rule_based_brief(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve,
    mode: str, reason: str,
) -> None:
    fake_cloud.anthropic_mode(mode)
    sitrep = serve(sitrep_env)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=25)
    shown = blocks_text(brief_call["blocks"]) + brief_call.get("text", "")
    assert RULE_BASED_BANNER in shown
    assert reason in shown.lower()
    assert brief_call["metadata"]["event_payload"]["status"] == "DETERMINISTIC"
    assert fake_cloud.anthropic_calls(), "the model was never asked"


@pytest.mark.parametrize("problem", ["wrong_secret", "stale"])
def test_forged_or_replayed_requests_get_401_and_nothing_is_posted(
    fake_cloud: FakeCloud, sitrep_env: dict[str, str], serve: Serve, problem: str
) -> None:
    sitrep = serve(sitrep_env)
    if problem == "wrong_secret":
        response, _ = send_incident(sitrep, fake_cloud.signer("not-the-secret"), "checkout p99 high")
    else:
        signer = fake_cloud.signer(sitrep_env["SLACK_SIGNING_SECRET"])
        response, _ = send_incident(sitrep, signer, "checkout p99 high",
                                    timestamp=int(time.time()) - 6 * 60)
    assert response.status_code == 401
    # an accepted /incident stores its alert and queues the investigation before it answers: with
    # nothing stored, nothing is going to be posted
    assert stored(sitrep) == {"alerts": 0, "jobs": 0}
    assert [c for c in fake_cloud.slack_calls() if c["method"].startswith("chat.")] == []


def test_help_and_empty_command_answer_with_usage_only(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = serve(sitrep_env)
    for text in ("", "help"):
        response, _ = send_incident(sitrep, signer, text)
        assert response.status_code == 200
        body = response.json()
        assert body["response_type"] == "ephemeral"
        assert "/incident <service>" in json.dumps(body)
    assert stored(sitrep) == {"alerts": 0, "jobs": 0}
    time.sleep(0.5)  # the listener goes on after its answer: give a post it should not make time to show
    assert [c for c in fake_cloud.slack_calls() if c["method"].startswith("chat.")] == []
