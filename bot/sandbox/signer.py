"""Signed requests as Slack sends them to ``POST /slack/events``: slash commands, Events API callbacks
and interactivity payloads, with v0 signatures (``X-Slack-Signature: v0=HMAC-SHA256(secret,
"v0:{timestamp}:{body}")``) and an overridable timestamp for replay tests.

    signer = SlackSigner(secret, response_url_base=cloud.url)
    body = signer.slash_command_body(text="checkout p99 high")
    httpx.post(url, content=body, headers=signer.headers(body))          # or signer.post(url, body)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from bot.sandbox.slack_api import response_url_for

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

#: where a response_url points when no fake is given: a closed local port, so a handler that
#: posts to it fails fast and nothing leaves the machine
UNROUTABLE_BASE = "http://127.0.0.1:9"


class SlackSigner:
    """Builds and signs Slack requests for one app (signing secret, team, bot user)."""

    def __init__(
        self,
        signing_secret: str,
        *,
        team_id: str = "T0SITREP",
        team_domain: str = "sitrep-sandbox",
        api_app_id: str = "A0SITREP",
        bot_user_id: str = "U0SITREPBOT",
        response_url_base: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = signing_secret.encode()
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.bot_user_id = bot_user_id
        self.response_url_base = response_url_base or UNROUTABLE_BASE
        self._clock = clock

    # ------------------------------------------------------------------ signing

    def signature(self, body: str | bytes, *, timestamp: int) -> str:
        raw = body.encode() if isinstance(body, str) else body
        base = b"v0:" + str(timestamp).encode() + b":" + raw
        return "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()

    def headers(
        self,
        body: str | bytes,
        *,
        timestamp: int | None = None,
        content_type: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> dict[str, str]:
        """Signature headers plus ``Content-Type`` (JSON when the body starts with ``{``)."""
        ts = int(self._clock()) if timestamp is None else int(timestamp)
        raw = body.encode() if isinstance(body, str) else body
        headers = {
            "Content-Type": content_type or (JSON if raw.lstrip()[:1] == b"{" else FORM),
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": self.signature(raw, timestamp=ts),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return headers

    # ------------------------------------------------------------------ bodies

    def response_url(self, token: str | None = None) -> str:
        return response_url_for(self.response_url_base, token or secrets.token_hex(12))

    def slash_command_body(
        self,
        *,
        text: str = "",
        command: str = "/incident",
        user_id: str = "U0ONCALL",
        user_name: str = "oncall",
        channel_id: str = "C0INCIDENT",
        channel_name: str = "incidents",
        response_url: str | None = None,
        trigger_id: str | None = None,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> str:
        """The form body of a slash command invocation. ``team_id`` (and ``enterprise_id`` on
        Enterprise Grid) name the workspace the user typed it in: another organization's for a
        Slack Connect member of a shared channel."""
        enterprise = {"enterprise_id": enterprise_id, "enterprise_name": enterprise_id} if enterprise_id else {}
        return urlencode({
            "token": "sandbox-verification-token",
            "team_id": team_id or self.team_id,
            **enterprise,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self.response_url(),
            "trigger_id": trigger_id or new_trigger_id(),
        })

    def event_body(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        event_time: int | None = None,
        team_id: str | None = None,
    ) -> str:
        """An Events API ``event_callback`` JSON body wrapping ``event``."""
        team = team_id or self.team_id
        return json.dumps({
            "token": "sandbox-verification-token",
            "team_id": team,
            "context_team_id": team,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or new_event_id(),
            "event_time": int(self._clock()) if event_time is None else event_time,
            "authorizations": [{"enterprise_id": None, "team_id": team, "user_id": self.bot_user_id,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(24),
        })

    def message_event(
        self,
        *,
        channel: str,
        text: str = "",
        ts: str | None = None,
        user: str | None = None,
        bot_id: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        subtype: str | None = None,
    ) -> dict[str, Any]:
        """A ``message`` event; with ``bot_id`` and no ``user`` it is a ``bot_message`` (how
        Alertmanager's and Grafana's posts arrive)."""
        ts = ts or f"{self._clock():.6f}"
        event: dict[str, Any] = {"type": "message", "text": text, "ts": ts, "channel": channel,
                                 "event_ts": ts, "channel_type": "channel"}
        if bot_id is not None:
            event["bot_id"] = bot_id
            if user is None:
                event["subtype"] = subtype or "bot_message"
        if user is not None:
            event["user"] = user
        if subtype is not None:
            event["subtype"] = subtype
        if attachments is not None:
            event["attachments"] = attachments
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        return event

    def url_verification_body(self, challenge: str = "sandbox-challenge") -> str:
        return json.dumps({"token": "sandbox-verification-token", "challenge": challenge,
                           "type": "url_verification"})

    def interactivity_body(self, payload: Mapping[str, Any]) -> str:
        """``payload=<url-encoded JSON>``, as Slack posts button clicks and view submissions."""
        return urlencode({"payload": json.dumps(dict(payload))})

    def block_actions_payload(
        self,
        *,
        action_id: str,
        value: str,
        user_id: str = "U0SRE1",
        user_name: str = "sre-ana",
        channel_id: str = "C0INCIDENT",
        message_ts: str,
        thread_ts: str | None = None,
        message: Mapping[str, Any] | None = None,
        block_id: str = "sitrep_actions",
        text: str = "Approve",
        response_url: str | None = None,
        trigger_id: str | None = None,
    ) -> dict[str, Any]:
        """A ``block_actions`` payload for a button click on a message."""
        container: dict[str, Any] = {"type": "message", "message_ts": message_ts,
                                     "channel_id": channel_id, "is_ephemeral": False}
        shown = dict(message or {"type": "message", "ts": message_ts, "bot_id": "B0SITREP",
                                 "user": self.bot_user_id, "text": ""})
        if thread_ts is not None:
            container["thread_ts"] = thread_ts
            shown.setdefault("thread_ts", thread_ts)
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": "sandbox-verification-token",
            "container": container,
            "trigger_id": trigger_id or new_trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_id.lower()},
            "message": shown,
            "state": {"values": {}},
            "response_url": response_url or self.response_url(),
            "actions": [{
                "action_id": action_id, "block_id": block_id,
                "text": {"type": "plain_text", "text": text, "emoji": True},
                "value": value, "type": "button", "action_ts": f"{self._clock():.6f}",
            }],
        }

    # ------------------------------------------------------------------ sending

    def post(self, url: str, body: str, *, timestamp: int | None = None, timeout: float = 10.0,
             **header_options: Any) -> httpx.Response:
        """Sign and POST ``body`` to ``url`` (synchronously)."""
        headers = self.headers(body, timestamp=timestamp, **header_options)
        return httpx.post(url, content=body.encode(), headers=headers, timeout=timeout)

    async def send(self, url: str, body: str, *, timestamp: int | None = None,
                   client: httpx.AsyncClient | None = None, timeout: float = 10.0,
                   **header_options: Any) -> httpx.Response:
        """Sign and POST ``body`` to ``url``; uses ``client`` when given."""
        headers = self.headers(body, timestamp=timestamp, **header_options)
        if client is not None:
            return await client.post(url, content=body.encode(), headers=headers, timeout=timeout)
        async with httpx.AsyncClient(timeout=timeout) as own:
            return await own.post(url, content=body.encode(), headers=headers)


def new_trigger_id() -> str:
    return f"{secrets.randbelow(10**11):011d}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(16)}"


def new_event_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "Ev0" + "".join(secrets.choice(alphabet) for _ in range(9))
