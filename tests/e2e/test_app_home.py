"""App Home against a real `sitrep serve`: opening the tab publishes the open incidents and the
proposals the viewer may approve, with buttons; approving from Home runs the action once and
re-publishes the tab."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from bot.slack.ids import ActionId
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.e2e.test_remediation import ONE_SRE_POLICY, rollbacks, start
from tests.support import SitrepProcess, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)


def open_home(sitrep: Any, signer: SlackSigner, user: str) -> None:
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home",
             "event_ts": "1764000000.000100"}
    assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(event)).status_code == 200


def home_of(cloud: FakeCloud, user: str, *, after: int = 0) -> dict[str, Any] | None:
    published = [c for c in cloud.slack_calls("views.publish") if c["params"].get("user_id") == user]
    return published[after]["params"]["view"] if len(published) > after else None


def test_home_lists_incidents_and_what_the_viewer_may_approve(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    wait_for_brief(fake_cloud, timeout=20)

    open_home(sitrep, signer, "U0SRE1")  # in @sre: may approve the rollback
    home = wait_for(lambda: home_of(fake_cloud, "U0SRE1"), timeout=10, what="U0SRE1's Home")
    text = json.dumps(home)
    assert home["type"] == "home" and "Open incidents (1)" in text and "#1 checkout" in text
    assert "Waiting for your approval (1)" in text and "Roll back" in text
    buttons = [e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [ActionId.APPROVE, ActionId.REJECT]

    open_home(sitrep, signer, "U0DEV")  # not an approver: sees the incident, nothing to approve
    other = json.dumps(wait_for(lambda: home_of(fake_cloud, "U0DEV"), timeout=10, what="U0DEV's Home"))
    assert "#1 checkout" in other and "Waiting for your approval (0)" in other and ActionId.APPROVE not in other

    approve = buttons[0]
    payload = signer.block_actions_payload(action_id=approve["action_id"], value=approve["value"],
                                           user_id="U0SRE1", channel_id="D0HOME", message_ts="")
    payload.pop("message"), payload.pop("channel")
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {**home, "id": "V0HOME"}
    assert signer.post(f"{sitrep.url}/slack/events", signer.interactivity_body(payload)).status_code == 200
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback approved from Home")
    again = wait_for(lambda: home_of(fake_cloud, "U0SRE1", after=1), timeout=10, what="Home re-published")
    assert "Waiting for your approval (0)" in json.dumps(again)
    assert len(rollbacks(fake_cloud)) == 1
