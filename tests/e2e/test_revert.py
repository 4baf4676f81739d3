"""One-click revert end to end over real HTTP: after a real rollback the result message carries a
Revert button; the verification saying "still failing" suggests reverting; a Revert click proposes
putting back the recorded prior deploy under the same policy; it runs only after approval, and exactly
once however many people click."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from bot.slack.ids import ActionId
from tests.e2e.test_incident_command import CHANNEL, send_incident, wait_for_brief
from tests.e2e.test_remediation import ONE_SRE_POLICY, click, ephemerals, rollbacks, start
from tests.support import SitrepProcess, settle, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)


def thread_posts(cloud: FakeCloud) -> list[dict[str, Any]]:
    return cloud.slack_calls("chat.postMessage")


def with_button(cloud: FakeCloud, action_id: str, words: str) -> list[dict[str, Any]]:
    """Thread messages whose text has ``words`` and whose blocks carry a button ``action_id``."""
    return [c for c in thread_posts(cloud) if words in (c.get("text") or "")
            and action_id in json.dumps(c.get("blocks") or [])]


def approval_outcomes(sitrep: SitrepProcess) -> int:
    """How many approval clicks Sitrep has counted or refused so far."""
    with contextlib.closing(sqlite3.connect(sitrep.workdir / "sitrep.db")) as db:
        return int(db.execute("select count(*) from timeline_events "
                              "where type in ('APPROVAL_GIVEN', 'APPROVAL_REFUSED')").fetchone()[0])


def press(sitrep: SitrepProcess, signer: SlackSigner, message: dict[str, Any], action_id: str, *,
          user: str) -> httpx.Response:
    """Click the ``action_id`` button of a thread message, as Slack sends it (with the message shown)."""
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                payload = signer.block_actions_payload(
                    action_id=action_id, value=element["value"], user_id=user, channel_id=CHANNEL,
                    message_ts=message["ts"], block_id=block["block_id"],
                    message={"type": "message", "ts": message["ts"], "blocks": message["blocks"],
                             "bot_id": "B0SITREP", "text": message.get("text", "")})
                return signer.post(f"{sitrep.url}/slack/events", signer.interactivity_body(payload))
    raise AssertionError(f"no {action_id} button in {message.get('text')!r}")


def test_revert_runs_only_after_approval_and_restores_the_recorded_deploy_once(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    scenario = fake_cloud.scenario
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY, SITREP_DRY_RUN="false",
               SITREP_ARGOCD_SUSPEND_AUTO_SYNC="true")
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE1")
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
    assert rollbacks(fake_cloud)[0]["body"]["id"] == scenario.previous_history_id

    # the result message carries Revert; the sandbox stays broken, so the verdict suggests it too
    result = wait_for(lambda: with_button(fake_cloud, ActionId.REVERT, "approved proposal"), timeout=10,
                      what="the result message with a Revert button")[0]
    suggestion = wait_for(lambda: with_button(fake_cloud, ActionId.REVERT, "still failing"), timeout=15,
                          what="a verdict suggesting to revert")[0]
    assert "consider reverting it" in suggestion["text"] and scenario.culprit_revision in suggestion["text"]

    press(sitrep, signer, result, ActionId.REVERT, user="U0SRE2")
    request = wait_for(lambda: with_button(fake_cloud, ActionId.APPROVE, "asked to revert"), timeout=10,
                       what="the revert proposal in the thread")[0]
    shown = json.dumps(request["blocks"])
    assert (f"to `{scenario.culprit_revision} ({scenario.culprit_sha[:7]})` (history {scenario.culprit_history_id})"
            in shown)
    assert "needs 1 approval from @sre" in shown
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))  # the request is all that came of it
    assert len(rollbacks(fake_cloud)) == 1  # asking is not approving: nothing ran

    press(sitrep, signer, suggestion, ActionId.REVERT, user="U0SRE3")  # a second Revert click
    again = wait_for(lambda: ephemerals(fake_cloud, "U0SRE3"), timeout=10, what="a refusal")
    assert "already requested" in again[0]

    handled = approval_outcomes(sitrep)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two SREs approve the revert at once
        list(pool.map(lambda u: press(sitrep, signer, request, ActionId.APPROVE, user=u), ["U0SRE1", "U0SRE3"]))
    wait_for(lambda: len(rollbacks(fake_cloud)) >= 2, timeout=10, what="the revert")
    # both clicks counted or refused, and nothing left running: the rollbacks below are all there are
    wait_for(lambda: approval_outcomes(sitrep) >= handled + 2, timeout=10, what="both approvals handled")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
    calls = rollbacks(fake_cloud)
    assert [c["body"]["id"] for c in calls] == [scenario.previous_history_id, scenario.culprit_history_id]
    assert all(c["body"]["dryRun"] is False for c in calls)

    def settled() -> bool:
        return any(c.get("ts") == request["ts"] and "executed" in (c.get("text") or "")
                   and ActionId.APPROVE not in json.dumps(c.get("blocks")) for c in fake_cloud.slack_calls("chat.update"))

    wait_for(settled, timeout=10, what="the revert request to show it ran, without buttons")
    # the reverted rollback no longer offers Revert on the brief; the revert itself never does
    brief_now = [c for c in fake_cloud.slack_calls("chat.update") if c.get("ts") == brief_call["ts"]][-1]
    assert ActionId.REVERT not in json.dumps(brief_now["blocks"])


def test_a_dry_run_offers_no_revert(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)  # SITREP_DRY_RUN defaults to true
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE1")
    wait_for(lambda: [c for c in thread_posts(fake_cloud) if "executed (dry run)" in (c.get("text") or "")],
             timeout=10, what="the dry-run result")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
    assert ActionId.REVERT not in json.dumps([c.get("blocks") for c in fake_cloud.slack_calls()])
