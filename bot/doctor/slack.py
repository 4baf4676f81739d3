"""Slack: the bot token (``auth.test``), its scopes (Slack returns them in the ``x-oauth-scopes`` header of
every Web API answer) against ``bot.slack.scopes.BOT_SCOPES`` (manifest.yml's bot scopes), how requests
reach Sitrep (signing secret for HTTP mode, or an app-level token for Socket Mode:
``apps.connections.open``), and each alert channel: readable (``conversations.info``) with the bot in it.
Slack is required: without ``SLACK_BOT_TOKEN`` ``sitrep serve`` has nothing to talk to."""

from __future__ import annotations

from typing import Any

import httpx

from bot.doctor.base import Context, Section, Status, Step, http_reason, json_body, listed
from bot.slack.scopes import BOT_SCOPES
from bot.slack.socket_mode import FIXES as SOCKET_MODE_FIXES

APP_PAGE = "https://api.slack.com/apps → your app"
TOKEN_ERRORS = ("not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired")


async def check_slack(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    section.url = settings.slack_api_url
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if not token:
        section.add("bot token", Status.FAIL, "SLACK_BOT_TOKEN is not set: `sitrep serve` needs it",
                    fix=f"{APP_PAGE} → OAuth & Permissions → copy the Bot User OAuth Token (xoxb-…) into "
                        "SLACK_BOT_TOKEN (create the app from manifest.yml first)")
    else:
        async with ctx.client(settings.slack_api_url, headers={"Authorization": f"Bearer {token}"}) as client:
            bot = await _auth_test(section, client, token)
            if bot is not None:
                await _channels(ctx, section, client, bot_name=bot)
    _request_verification(section, settings.slack_signing_secret is not None, settings.slack_app_token is not None)
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        async with ctx.client(settings.slack_api_url, headers={"Authorization": f"Bearer {app_token}"}) as client:
            await _socket_mode(section, client, app_token)


async def _call(step: Step, client: httpx.AsyncClient, method: str, *, note: str = "",
                **params: str) -> tuple[dict[str, Any], httpx.Response]:
    if params:
        response = await step.get(client, method, params=params, note=note)
    else:
        response = await step.post(client, method, note=note)
    body = json_body(response)
    if not isinstance(body, dict) or "ok" not in body:
        body = {"ok": False, "error": http_reason(response)}
    return body, response


async def _auth_test(section: Section, client: httpx.AsyncClient, token: str) -> str | None:
    """The bot's name when the token works (then its scopes are checked too), else None."""
    step = section.step("bot token")
    if not token.startswith("xoxb-"):
        kind = {"xoxp-": "a user token", "xapp-": "an app-level token", "xoxe": "a refresh token"}
        what = next((v for k, v in kind.items() if token.startswith(k)), "not a bot token")
        step.fail(f"SLACK_BOT_TOKEN is {what}; Sitrep needs the bot token (xoxb-…)",
                  fix=f"{APP_PAGE} → OAuth & Permissions → Bot User OAuth Token (xoxb-…)")
        return None
    body, response = await _call(step, client, "auth.test")
    if not body.get("ok"):
        error = str(body.get("error"))
        if error in TOKEN_ERRORS:
            step.fail(f"Slack refused SLACK_BOT_TOKEN ({error})",
                      fix=f"{APP_PAGE} → OAuth & Permissions → copy the current Bot User OAuth Token; "
                          "reinstall the app if it was uninstalled or the token revoked")
        else:
            step.fail(f"auth.test failed: {error}", fix="check SLACK_API_URL (default https://slack.com/api/)")
        return None
    name = str(body.get("user") or "the bot")
    step.ok(f"@{name} ({body.get('user_id')}) in {body.get('team')} ({body.get('team_id')})")

    scopes_step = section.step("bot scopes")
    scopes_step.note_call(step.calls[-1] + " — its x-oauth-scopes header")
    header = response.headers.get("x-oauth-scopes")
    if header is None:
        scopes_step.skipped("Slack's answer had no x-oauth-scopes header, so the scopes could not be read "
                            "(a proxy in front of SLACK_API_URL may drop it)")
        return name
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = [s for s in BOT_SCOPES if s not in granted]
    if missing:
        scopes_step.fail(
            f"missing {listed(missing)} (the token has {len(BOT_SCOPES) - len(missing)} of the "
            f"{len(BOT_SCOPES)} bot scopes in manifest.yml)",
            fix=f"{APP_PAGE} → OAuth & Permissions → Bot Token Scopes: add {', '.join(missing)} (or update the "
                "app from manifest.yml), then reinstall the app to the workspace — the token keeps its old "
                "scopes until then")
    else:
        scopes_step.ok(f"all {len(BOT_SCOPES)} bot scopes in manifest.yml")
    return name


async def _channels(ctx: Context, section: Section, client: httpx.AsyncClient, *, bot_name: str) -> None:
    alert_channels = list(dict.fromkeys(ctx.settings.sitrep_alert_channels))
    if not alert_channels:
        section.add("alert channels", Status.SKIPPED,
                    "SITREP_ALERT_CHANNELS is not set: Sitrep reads no alert channel (only /incident "
                           "and the alert webhooks start investigations)")
    for channel in alert_channels:
        await _channel(section, client, channel, bot_name=bot_name, why="alert channel", must_be_member=True)
    # where webhook-only alerts of a service are posted (policy `channel:`): posting needs membership
    # only in a private channel (chat:write.public covers public ones)
    if ctx.policy is not None:
        posted: dict[str, list[str]] = {}
        for service, spec in ctx.policy.services.items():
            if spec.channel and spec.channel not in alert_channels:
                posted.setdefault(spec.channel, []).append(service)
        for channel, services in posted.items():
            await _channel(section, client, channel, bot_name=bot_name,
                           why=f"channel of {listed(services)} (policy)", must_be_member=False)


async def _channel(section: Section, client: httpx.AsyncClient, channel: str, *, bot_name: str, why: str,
                   must_be_member: bool) -> None:
    step = section.step(f"{why} {channel}")
    invite = f"in Slack, open that channel and type /invite @{bot_name}"
    body, _ = await _call(step, client, "conversations.info", channel=channel)
    if not body.get("ok"):
        error = str(body.get("error"))
        if error == "channel_not_found":
            step.fail(f"Slack shows the bot no channel {channel}: a private channel the bot is not in, or a "
                      "wrong id", fix=f"{invite}; check the id (channel details → About, at the bottom)")
        elif error == "missing_scope":
            needed = body.get("needed") or "channels:read, groups:read"
            step.fail(f"the token may not read channel details (missing_scope: {needed})",
                      fix=f"add {needed} to the Bot Token Scopes and reinstall the app")
        else:
            step.fail(f"conversations.info failed: {error}", fix="check the channel id")
        return
    info = body.get("channel") or {}
    name = f"#{info.get('name')}" if info.get("name") else channel
    if info.get("is_archived"):
        step.fail(f"{name} is archived", fix=f"unarchive {name}, or take {channel} out of the configuration")
    elif not info.get("is_member") and (must_be_member or info.get("is_private")):
        reads = "it cannot read the alerts posted there" if must_be_member else "it cannot post there"
        step.fail(f"the bot is not in {name}: {reads}", fix=invite)
    else:
        member = "the bot is a member" if info.get("is_member") else "public (chat:write.public posts there)"
        step.ok(f"{name} readable; {member}")


def _request_verification(section: Section, signing_secret: bool, app_token: bool) -> None:
    if app_token:
        detail = "Socket Mode (SLACK_APP_TOKEN): no public URL needed"
        if signing_secret:
            detail += "; SLACK_SIGNING_SECRET is set too (used only in HTTP mode)"
        section.add("how Slack reaches Sitrep", Status.OK, detail)
    elif signing_secret:
        section.add("how Slack reaches Sitrep", Status.OK,
                    "HTTP mode: POST /slack/events, requests verified with SLACK_SIGNING_SECRET")
    else:
        section.add("how Slack reaches Sitrep", Status.FAIL,
                    "neither SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN (Socket Mode) is set",
                    fix=f"{APP_PAGE} → Basic Information: copy the Signing Secret into SLACK_SIGNING_SECRET, or "
                        "create an App-Level Token with connections:write, set SLACK_APP_TOKEN and turn on "
                        "Socket Mode")


async def _socket_mode(section: Section, client: httpx.AsyncClient, app_token: str) -> None:
    step = section.step("Socket Mode app token")
    if not app_token.startswith("xapp-"):
        step.fail("SLACK_APP_TOKEN is not an app-level token (xapp-…)",
                  fix=SOCKET_MODE_FIXES["not_allowed_token_type"])
        return
    body, _ = await _call(step, client, "apps.connections.open")
    if body.get("ok"):
        step.ok("apps.connections.open gave a WebSocket URL")
        return
    error = str(body.get("error"))
    # the same reading of Slack's answer as `sitrep serve`'s start-up check
    step.fail(f"apps.connections.open failed: {error}",
              fix=SOCKET_MODE_FIXES.get(error, f"{APP_PAGE} → Socket Mode: turn it on; check SLACK_APP_TOKEN"))
