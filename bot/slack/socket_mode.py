"""Slack over Socket Mode: no public URL, the app opens a WebSocket to Slack with an app-level token.

Bolt's ``AsyncSocketModeHandler`` (slack_sdk's aiohttp client) speaks the protocol, acknowledges each
envelope and reconnects on ``disconnect`` messages, dropped connections and failed pings. What is ours:

- **a start-up check in one line**: ``check_app_token`` calls ``apps.connections.open`` once before the
  server starts, so a wrong or missing ``SLACK_APP_TOKEN`` stops ``sitrep serve`` with Slack's reason and
  the fix, not a traceback from inside the web server's lifespan;
- **redeliveries do nothing twice**: Slack sends an envelope again (``retry_attempt`` > 0) when it did not
  see our acknowledgement — typically when the connection dropped just after we acked. Such an envelope
  is acknowledged again and not handled again. (Alert messages are also de-duplicated by their Slack ts
  further in, and an approval executes exactly once whatever arrives; this keeps a redelivered
  ``/incident`` from opening a second investigation.)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import httpx

from bot.tls import trusted
import structlog

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

log = structlog.get_logger(__name__)

#: envelope ids remembered for redeliveries (Slack retries within minutes; this is hours of traffic)
SEEN_ENVELOPES = 10_000

#: Slack's error codes for apps.connections.open and what to do about each
FIXES = {
    "invalid_auth": "SLACK_APP_TOKEN is not a valid app-level token: create one under Basic Information → "
                    "App-Level Tokens with the connections:write scope",
    "not_authed": "SLACK_APP_TOKEN is empty",
    "not_allowed_token_type": "SLACK_APP_TOKEN must be an app-level token (xapp-…), not a bot or user token",
    "missing_scope": "the app-level token lacks connections:write: add that scope to the token",
    "not_allowed": "Socket Mode is off for this app: turn it on under Settings → Socket Mode",
    "token_revoked": "SLACK_APP_TOKEN was revoked: create a new app-level token",
}


class SocketModeStartError(RuntimeError):
    """Socket Mode cannot start; the message is one line with Slack's reason and the fix."""


async def check_app_token(api_url: str, app_token: str, *, timeout: float = 10.0) -> None:
    """Ask Slack for a Socket Mode URL once; raise ``SocketModeStartError`` when it refuses."""
    url = api_url.rstrip("/") + "/apps.connections.open"
    try:
        async with httpx.AsyncClient(timeout=timeout, verify=trusted()) as client:
            response = await client.post(url, headers={"Authorization": f"Bearer {app_token}"})
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SocketModeStartError(
            f"Socket Mode cannot start: apps.connections.open at {url} failed ({type(exc).__name__}); "
            "check SLACK_API_URL and the network") from exc
    if not isinstance(body, dict) or not body.get("ok"):
        error = str(body.get("error", f"HTTP {response.status_code}")) if isinstance(body, dict) else "bad reply"
        fix = FIXES.get(error, "check SLACK_APP_TOKEN and that Socket Mode is on for the app")
        raise SocketModeStartError(f"Socket Mode cannot start: Slack answered {error} to "
                                   f"apps.connections.open — {fix}")


def socket_mode_handler(app: AsyncApp, app_token: str, *, ping_interval: float) -> Any:
    """Bolt's Socket Mode handler for ``app``, acknowledging redelivered envelopes without handling them."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    class OnceHandler(AsyncSocketModeHandler):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(app, app_token, ping_interval=ping_interval)
            self.seen: OrderedDict[str, None] = OrderedDict()

        async def handle(self, client: Any, req: SocketModeRequest) -> None:
            if req.envelope_id in self.seen:
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
                log.info("socket_mode_redelivery_acked", type=req.type, retry_attempt=req.retry_attempt,
                         retry_reason=req.retry_reason)
                return
            self.seen[req.envelope_id] = None
            while len(self.seen) > SEEN_ENVELOPES:
                self.seen.popitem(last=False)
            await super().handle(client, req)

    return OnceHandler()
