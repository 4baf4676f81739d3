"""``SlackSigner`` against slack_sdk's own verifier, and the bodies it builds."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner

SECRET = "test-signing-secret-0123456789"


@pytest.fixture
def signer() -> SlackSigner:
    return SlackSigner(SECRET, response_url_base="http://127.0.0.1:1")


def test_signature_is_what_slack_sdk_verifies(signer: SlackSigner) -> None:
    body = signer.slash_command_body(text="checkout p99 high")
    headers = signer.headers(body)
    assert headers["X-Slack-Signature"].startswith("v0=")
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert SignatureVerifier(SECRET).is_valid_request(body.encode(), headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert not SignatureVerifier(SECRET).is_valid_request(body + "&x=1", headers)


def test_stale_timestamp_is_rejected(signer: SlackSigner) -> None:
    body = signer.event_body({"type": "app_mention", "text": "hi"})
    stale = signer.headers(body, timestamp=int(time.time()) - 6 * 60)
    assert stale["Content-Type"] == "application/json"
    assert SignatureVerifier(SECRET).is_valid_request(body, signer.headers(body))
    assert not SignatureVerifier(SECRET).is_valid_request(body, stale)


def test_slash_command_body_has_every_field(signer: SlackSigner) -> None:
    body = signer.slash_command_body(text="checkout p99 is 8s", user_id="U1", channel_id="C1")
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    assert fields["command"] == "/incident" and fields["text"] == "checkout p99 is 8s"
    assert fields["user_id"] == "U1" and fields["channel_id"] == "C1" and fields["team_id"] == "T0SITREP"
    assert fields["response_url"].startswith("http://127.0.0.1:1/_response_url/")
    assert fields["trigger_id"].count(".") == 2
    empty = {k: v[0] for k, v in parse_qs(signer.slash_command_body(), keep_blank_values=True).items()}
    assert empty["text"] == ""


def test_event_and_interactivity_bodies(signer: SlackSigner) -> None:
    event = signer.message_event(channel="C0ALERTS", bot_id="B0ALERTMANAGER",
                                 attachments=[{"title": "[FIRING:1] HighLatencyP99"}])
    assert event["subtype"] == "bot_message" and "user" not in event
    body = json.loads(signer.event_body(event, event_id="Ev0TEST"))
    assert body["type"] == "event_callback" and body["event_id"] == "Ev0TEST"
    assert body["event"]["attachments"][0]["title"].startswith("[FIRING")
    assert body["authorizations"][0]["user_id"] == "U0SITREPBOT"
    two = {json.loads(signer.event_body(event))["event_id"] for _ in range(2)}
    assert len(two) == 2

    payload = signer.block_actions_payload(action_id="sitrep_approve", value='{"proposal_id": 3}',
                                           message_ts="1764042000.000100", thread_ts="1764041999.000100")
    form = signer.interactivity_body(payload)
    assert form.startswith("payload=")
    decoded = json.loads(parse_qs(form)["payload"][0])
    assert decoded["actions"][0]["action_id"] == "sitrep_approve"
    assert decoded["container"]["thread_ts"] == "1764041999.000100"
    assert SignatureVerifier(SECRET).is_valid_request(form, signer.headers(form))


def test_retry_headers(signer: SlackSigner) -> None:
    headers = signer.headers("{}", retry_num=1)
    assert headers["X-Slack-Retry-Num"] == "1" and headers["X-Slack-Retry-Reason"] == "http_timeout"


def test_post_and_send_reach_a_server() -> None:
    with FakeCloud() as cloud:
        signer = cloud.signer()
        assert signer.response_url().startswith(f"{cloud.url}/_response_url/")
        response = signer.post(cloud.response_url("sync"), json.dumps({"text": "sync"}))
        assert response.status_code == 200

        async def send() -> int:
            return (await signer.send(cloud.response_url("async"), json.dumps({"text": "async"}))).status_code

        assert asyncio.run(send()) == 200
        assert [c["text"] for c in cloud.response_url_calls()] == ["sync", "async"]
