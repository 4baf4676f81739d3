"""Remediation end to end over real HTTP: a real `sitrep serve`, the fake Slack and ArgoCD, signed
button clicks and modal submissions exactly as Slack sends them."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from bot.slack.ids import ActionId, CallbackId
from tests.e2e.test_incident_command import CHANNEL, send_incident, wait_for_brief
from tests.support import SitrepProcess, settle, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)

ONE_SRE_POLICY = """
services:
  checkout: {tier: standard, namespace: shop, argocd_app: checkout, owners: ["@checkout-oncall"]}
rules:
  - name: rollbacks of checkout need one SRE
    action: rollback
    match: {service: checkout}
    decision: approve
    approvers: ["@sre"]
    expires_after: 15m
"""

#: the REST API's token of every server start() starts (test_postmortem reads the timeline)
API_TOKEN = "e2e-api-token-FAKE-42"

SHORT_EXPIRY_POLICY = ONE_SRE_POLICY.replace("expires_after: 15m", "expires_after: 2s")


def policy_dir(tmp_path: Path, text: str) -> str:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "policy.yml").write_text(text)
    return str(folder)


def rollback_button(brief_call: dict[str, Any]) -> dict[str, Any]:
    for block in brief_call["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == ActionId.APPROVE:
                return {"value": element["value"], "block_id": block["block_id"]}
    raise AssertionError("the brief has no Approve button")


def click(sitrep: SitrepProcess, signer: SlackSigner, brief_call: dict[str, Any], *, user: str,
          action_id: str = ActionId.APPROVE) -> httpx.Response:
    button = rollback_button(brief_call)
    payload = signer.block_actions_payload(action_id=action_id, value=button["value"], user_id=user,
                                           channel_id=CHANNEL, message_ts=brief_call["ts"],
                                           block_id=button["block_id"])
    return signer.post(f"{sitrep.url}/slack/events", signer.interactivity_body(payload))


def submit_view(sitrep: SitrepProcess, signer: SlackSigner, view: dict[str, Any], *, user: str,
                values: dict[str, Any] | None = None) -> httpx.Response:
    payload = {
        "type": "view_submission", "team": {"id": signer.team_id}, "api_app_id": signer.api_app_id,
        "user": {"id": user, "username": user, "team_id": signer.team_id},
        "view": {**view, "state": {"values": values or {}}}, "token": "sandbox-verification-token",
        "trigger_id": "1.2.3",
    }
    return signer.post(f"{sitrep.url}/slack/events", signer.interactivity_body(payload))


def thread_texts(cloud: FakeCloud) -> str:
    return json.dumps([c.get("text") for c in cloud.slack_calls("chat.postMessage")])


def ephemerals(cloud: FakeCloud, user: str) -> list[str]:
    return [c.get("text", "") for c in cloud.slack_calls("chat.postEphemeral") if c["params"].get("user") == user]


def rollbacks(cloud: FakeCloud) -> list[dict[str, Any]]:
    return [op for op in cloud.argocd_operations() if op["op"] == "rollback"]


def click_outcomes(sitrep: SitrepProcess) -> set[str]:
    """Who has had an approval click counted or refused (the timeline of every incident)."""
    with contextlib.closing(sqlite3.connect(sitrep.workdir / "sitrep.db")) as db:
        return {row[0] for row in db.execute(
            "select actor from timeline_events where type in ('APPROVAL_GIVEN', 'APPROVAL_REFUSED')")}


def start(serve: Serve, sitrep_env: dict[str, str], policy: str, *, fresh: bool = False,
          **extra: str) -> SitrepProcess:
    """A ``sitrep serve`` with ``policy`` (its only policy file), shared by the module's tests that
    start it with the same policy and ``extra`` environment (unless ``fresh``)."""
    env = {**sitrep_env, "SITREP_EXPIRY_SWEEP_SECONDS": "1", "SITREP_VERIFY_DELAYS": "0.5",
           "SITREP_API_TOKEN": API_TOKEN, **extra}
    return serve(env, policy=policy, fresh=fresh)


def test_two_simultaneous_approvals_roll_back_exactly_once(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    assert "needs 1 approval from @sre" in json.dumps(brief_call["blocks"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda u: click(sitrep, signer, brief_call, user=u), ["U0SRE1", "U0SRE2"]))
    assert [r.status_code for r in responses] == [200, 200]
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="a rollback call")
    # both clicks were handled (counted or refused) and Sitrep has nothing left to run: only then
    # is "one rollback" final
    wait_for(lambda: click_outcomes(sitrep) == {"U0SRE1", "U0SRE2"}, timeout=10, what="both clicks handled")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
    calls = rollbacks(fake_cloud)
    assert len(calls) == 1
    assert calls[0]["body"]["id"] == fake_cloud.scenario.previous_history_id
    assert calls[0]["body"]["dryRun"] is True  # SITREP_DRY_RUN defaults to true: ArgoCD's dry run
    wait_for(lambda: "executed (dry run)" in thread_texts(fake_cloud), timeout=10, what="the result")


def test_someone_not_allowed_is_refused_privately_and_nothing_runs(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    assert click(sitrep, signer, brief_call, user="U0DEV").status_code == 200
    refusal = wait_for(lambda: ephemerals(fake_cloud, "U0DEV"), timeout=10, what="a refusal")
    assert "not allowed" in refusal[0]
    assert rollbacks(fake_cloud) == []


def test_after_expiry_the_buttons_go_and_a_late_click_is_refused(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, SHORT_EXPIRY_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)

    def expired_update() -> bool:
        return any("expired" in json.dumps(c.get("blocks")) for c in fake_cloud.slack_calls("chat.update")
                   if c.get("ts") == brief_call["ts"])

    wait_for(expired_update, timeout=15, what="the brief to show the request expired")
    click(sitrep, signer, brief_call, user="U0SRE1")
    refusal = wait_for(lambda: ephemerals(fake_cloud, "U0SRE1"), timeout=10, what="a refusal")
    assert "expired" in refusal[0]
    assert rollbacks(fake_cloud) == []


def test_critical_rollback_needs_two_different_approvers_who_saw_the_evidence(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    default_policy = (Path(__file__).resolve().parents[2] / "policies" / "default.yml").read_text()
    sitrep = start(serve, sitrep_env, default_policy)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    assert "two-person rule" in json.dumps(brief_call["blocks"])

    def modal_for(user: str) -> dict[str, Any]:
        before = len(fake_cloud.slack_calls("views.open"))
        click(sitrep, signer, brief_call, user=user)
        wait_for(lambda: len(fake_cloud.slack_calls("views.open")) > before, timeout=10, what="a modal")
        view = fake_cloud.slack_calls("views.open")[-1]["params"]["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert view["callback_id"] == CallbackId.APPROVE_CONFIRM
        shown = json.dumps(view["blocks"])
        assert "Exact change" in shown and "v2.14.2" in shown and "Evidence" in shown
        return view

    submit_view(sitrep, signer, modal_for("U0SRE1"), user="U0SRE1")
    wait_for(lambda: "1 of 2 so far" in thread_texts(fake_cloud), timeout=10, what="first approval")
    # the same person again does not count
    submit_view(sitrep, signer, modal_for("U0SRE1"), user="U0SRE1")
    wait_for(lambda: ephemerals(fake_cloud, "U0SRE1"), timeout=10, what="a refusal")
    assert rollbacks(fake_cloud) == []
    submit_view(sitrep, signer, modal_for("U0SRE2"), user="U0SRE2")
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
    assert len(rollbacks(fake_cloud)) == 1


def test_reject_asks_for_a_reason_and_closes_the_proposal(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE1", action_id=ActionId.REJECT)
    wait_for(lambda: fake_cloud.slack_calls("views.open"), timeout=10, what="the reason modal")
    view = fake_cloud.slack_calls("views.open")[-1]["params"]["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == CallbackId.REJECT_REASON
    submit_view(sitrep, signer, view, user="U0SRE1",
                values={"reason": {"reason": {"type": "plain_text_input", "value": "fixing forward"}}})
    wait_for(lambda: "fixing forward" in thread_texts(fake_cloud), timeout=10, what="the rejection")
    click(sitrep, signer, brief_call, user="U0SRE2")
    refusal = wait_for(lambda: ephemerals(fake_cloud, "U0SRE2"), timeout=10, what="a refusal")
    assert "rejected" in refusal[0]
    assert rollbacks(fake_cloud) == []


def test_an_action_kind_outside_the_allowlist_is_shown_denied_without_a_button(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.anthropic_mode("reply", input={
        "title": "checkout broken", "summary": ["p99 up"], "category": "deploy_regression",
        "root_cause": {"statement": "v2.14.3 is bad", "service": "checkout", "confidence": "MEDIUM",
                       "confidence_score": 60},
        "evidence": [{"id": "deploys-1", "source": "deploys", "detail": "v2.14.3 deployed"}],
        "actions": [{"kind": "delete_namespace", "target": {"service": "checkout", "namespace": "shop"},
                     "params": {}, "rationale": "start over"}],
    })
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    shown = json.dumps(brief_call["blocks"])
    assert brief_call["metadata"]["event_payload"]["status"] == "COMPLETED"
    assert "delete_namespace" in shown and "denied" in shown and "not an action Sitrep can take" in shown
    assert ActionId.APPROVE.value not in shown
    assert rollbacks(fake_cloud) == []


def test_a_deploy_that_lands_after_the_brief_stops_the_rollback(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    fake_cloud.argocd_deploy("v2.14.4", by="dev-alice")
    click(sitrep, signer, brief_call, user="U0SRE1")

    def denied_update() -> bool:
        return any("newer deploy" in json.dumps(c.get("blocks")) for c in fake_cloud.slack_calls("chat.update")
                   if c.get("ts") == brief_call["ts"])

    wait_for(denied_update, timeout=10, what="the brief to show the rollback denied")
    assert rollbacks(fake_cloud) == []


def test_a_real_rollback_is_verified_and_the_thread_hears_the_verdict(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY, SITREP_DRY_RUN="false",
               SITREP_ARGOCD_SUSPEND_AUTO_SYNC="true")
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE1")
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
    ops = [op["op"] for op in fake_cloud.argocd_operations()]
    assert ops == ["patch", "rollback"]  # auto-sync off first, as ArgoCD requires
    assert rollbacks(fake_cloud)[0]["body"]["dryRun"] is False
    verdict = wait_for(lambda: [t for t in json.loads(thread_texts(fake_cloud)) if t and "Verification" in t],
                       timeout=15, what="the verification verdict")
    # the sandbox's metrics do not recover by themselves: Sitrep must say so
    assert "still failing" in verdict[0]


@pytest.mark.parametrize(("revision", "why"), [("v2.14.9", "not in"), ("v2.14.3", "current")])
def test_a_rollback_to_a_revision_outside_the_history_or_the_current_one_is_denied(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve, revision: str,
    why: str,
) -> None:
    fake_cloud.anthropic_mode("reply", input={
        "title": "checkout broken", "summary": ["p99 up"], "category": "deploy_regression",
        "root_cause": {"statement": "v2.14.3 is bad", "service": "checkout", "confidence": "MEDIUM",
                       "confidence_score": 60},
        "evidence": [{"id": "deploys-1", "source": "deploys", "detail": "v2.14.3 deployed"}],
        "actions": [{"kind": "rollback", "target": {"service": "checkout", "namespace": "shop", "app": "checkout"},
                     "params": {"to_revision": revision}, "rationale": "go back"}],
    })
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    shown = json.dumps(brief_call["blocks"])
    assert revision in shown and "denied" in shown and "invariant: rollback target" in shown
    assert ActionId.APPROVE.value not in shown
    assert rollbacks(fake_cloud) == []


def test_feedback_buttons_and_stats(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    value = next(e["value"] for b in brief_call["blocks"] for e in b.get("elements", [])
                 if e.get("action_id") == ActionId.FEEDBACK_WRONG)
    payload = signer.block_actions_payload(action_id=ActionId.FEEDBACK_WRONG, value=value, user_id="U0SRE1",
                                           channel_id=CHANNEL, message_ts=brief_call["ts"])
    signer.post(f"{sitrep.url}/slack/events", signer.interactivity_body(payload))
    view = wait_for(lambda: [c for c in fake_cloud.slack_calls("views.open")], timeout=10, what="the modal")
    modal = view[-1]["params"]["view"]
    modal = json.loads(modal) if isinstance(modal, str) else modal
    assert modal["callback_id"] == CallbackId.FEEDBACK_WRONG_CAUSE
    submit_view(sitrep, signer, modal, user="U0SRE1",
                values={"cause": {"cause": {"type": "plain_text_input", "value": "a bad feature flag"}}})

    def stats() -> str:
        response = signer.post(f"{sitrep.url}/slack/events", signer.slash_command_body(text="stats"))
        return response.json()["text"]

    text = wait_for(lambda: "(0/1)" in stats() and stats(), timeout=10, what="the feedback in /incident stats")
    assert "Briefs: 1" in text and "Root cause correct: 0% (0/1)" in text
    assert "HIGH confidence but wrong: 100% (1/1)" in text
