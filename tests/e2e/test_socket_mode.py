"""Socket Mode end to end: `sitrep serve` with SLACK_APP_TOKEN and no signing secret, against the sandbox
Slack's Socket Mode link (a real WebSocket speaking Slack's protocol). Slash commands, alert messages and
button clicks arrive over the socket and are acknowledged within 3 s; a refresh or a dropped connection
mid-investigation loses nothing; a redelivered envelope does nothing twice; HTTP keeps serving meanwhile;
a bad app token stops start-up with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from bot.sandbox.socket_mode import SocketModeLink
from bot.slack.ids import ActionId
from tests.e2e.conftest import FAST_BUDGETS
from tests.e2e.test_alerts import ALERTS, TOKEN, alert_message_event, alertmanager_body, briefs, post_webhook
from tests.e2e.test_remediation import ONE_SRE_POLICY, policy_dir, rollback_button, rollbacks
from tests.support import run_sitrep, sitrep_env, wait_for

pytestmark = pytest.mark.timeout(120)

CHANNEL = "C0INCIDENT"


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as fake:
        yield fake


@pytest.fixture
def link(cloud: FakeCloud) -> SocketModeLink:
    return cloud.socket_mode()


@pytest.fixture
def signer(cloud: FakeCloud) -> SlackSigner:
    return cloud.signer()


def socket_env(cloud: FakeCloud, workdir: Path) -> dict[str, str]:
    return {**cloud.env(SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=cloud.credentials.slack_app_token),
            **FAST_BUDGETS, "SITREP_SOCKET_PING_SECONDS": "1", "SITREP_ALERT_CHANNELS": ALERTS,
            "SITREP_WEBHOOK_TOKEN": TOKEN, "SITREP_GROUP_WAIT_SECONDS": "1",
            "SITREP_POLICY_DIR": policy_dir(workdir, ONE_SRE_POLICY), "SITREP_VERIFY_DELAYS": "0.5"}


def acked(link: SocketModeLink, envelope_id: str) -> Any:
    ack = wait_for(lambda: link.ack_for(envelope_id), timeout=5, interval=0.02, what="the envelope's ack")
    assert ack.seconds < 3, f"acknowledged after {ack.seconds:.2f} s"
    return ack


def slash(signer: SlackSigner, text: str) -> dict[str, Any]:
    return dict(parse_qsl(signer.slash_command_body(text=text, user_id="U0ONCALL", channel_id=CHANNEL)))


def brief_for(cloud: FakeCloud, channel: str) -> list[dict[str, Any]]:
    return [b for b in briefs(cloud) if b["channel"] == channel]


def test_a_command_and_a_click_over_the_socket_survive_a_refresh_and_redeliveries(
    cloud: FakeCloud, link: SocketModeLink, signer: SlackSigner, tmp_path: Path
) -> None:
    with run_sitrep(socket_env(cloud, tmp_path), workdir=tmp_path) as sitrep:
        assert link.open_connections() == 1

        command = link.send("slash_commands", slash(signer, "checkout p99 high"))
        ack = acked(link, command)
        assert "Investigating" in json.dumps(ack.payload)  # the command's reply rides on the ack
        link.disconnect("refresh_requested")  # Slack recycles the connection mid-investigation
        wait_for(lambda: link.opened() == 2, timeout=10, what="a new connection after refresh_requested")

        [brief] = wait_for(lambda: brief_for(cloud, CHANNEL), timeout=30, what="the brief")
        link.redeliver(command)  # the ack was lost with the old connection: Slack sends it again
        wait_for(lambda: len(link.acks_for(command)) == 2, timeout=5, what="the redelivery acked")

        button = rollback_button(brief)
        payload = signer.block_actions_payload(action_id=ActionId.APPROVE, value=button["value"], user_id="U0SRE1",
                                               channel_id=CHANNEL, message_ts=brief["ts"],
                                               block_id=button["block_id"])
        click = link.send("interactive", payload)
        acked(link, click)
        wait_for(lambda: rollbacks(cloud), timeout=15, what="the rollback")
        link.redeliver(click)
        wait_for(lambda: len(link.acks_for(click)) == 2, timeout=5, what="the redelivered click acked")
        wait_for(lambda: any("executed (dry run)" in (c.get("text") or "") for c in cloud.slack_calls()),
                 timeout=15, what="the result in the thread")

        # HTTP mode is off without a signing secret: nothing posted to /slack/events is taken
        forged = httpx.post(f"{sitrep.url}/slack/events", content=signer.slash_command_body(text="checkout"),
                            headers=signer.headers(signer.slash_command_body(text="checkout")), timeout=10)
        assert forged.status_code == 503

    assert len(brief_for(cloud, CHANNEL)) == 1, "a redelivered /incident investigated twice"
    assert len(rollbacks(cloud)) == 1, "a redelivered click ran the rollback twice"


def test_a_dropped_connection_mid_investigation_loses_nothing_and_http_keeps_serving(
    cloud: FakeCloud, link: SocketModeLink, signer: SlackSigner, tmp_path: Path
) -> None:
    with run_sitrep(socket_env(cloud, tmp_path), workdir=tmp_path) as sitrep:
        event = alert_message_event(signer)
        delivery = link.send("events_api", json.loads(signer.event_body(event, event_id="Ev0SOCKET01")))
        acked(link, delivery)
        link.drop()  # the TCP stream dies without a close frame
        wait_for(lambda: link.open_connections() == 0, timeout=5, interval=0.02, what="the drop")

        # while the socket is down, HTTP serves health, metrics and the alert webhooks
        assert httpx.get(f"{sitrep.url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{sitrep.url}/metrics", timeout=5).status_code == 200
        hooked = post_webhook(sitrep, alertmanager_body(cloud))  # the same alert, by webhook
        assert hooked.status_code == 202, hooked.text
        assert hooked.json()["outcomes"] == ["duplicate"]  # taken, and known as the alert the socket brought

        wait_for(lambda: link.open_connections() == 1 and link.opened() == 2, timeout=15,
                 what="the reconnection")
        link.redeliver(delivery)  # Slack never saw the ack: it delivers the event again
        wait_for(lambda: len(link.acks_for(delivery)) == 2, timeout=5, what="the redelivery acked")
        # and once more as a new envelope, the same event (as an Events API retry would be)
        acked(link, link.send("events_api", json.loads(signer.event_body(event, event_id="Ev0SOCKET01"))))

        [brief] = wait_for(lambda: brief_for(cloud, ALERTS), timeout=30, what="the alert's brief")
        assert brief["thread"] == event["ts"]
        assert "checkout" in json.dumps(brief["blocks"])
    assert len(brief_for(cloud, ALERTS)) == 1


def test_a_bad_app_token_stops_start_up_with_one_line(cloud: FakeCloud, link: SocketModeLink,
                                                      tmp_path: Path) -> None:
    env = sitrep_env({**cloud.env(SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN="xapp-1-A0SANDBOX01-wrong")},
                     workdir=tmp_path)
    done = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--port", "0"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr
    assert any("Socket Mode cannot start: Slack answered invalid_auth" in line and "connections:write" in line
               for line in lines), done.stderr
    assert env["SLACK_APP_TOKEN"] not in done.stderr + done.stdout
