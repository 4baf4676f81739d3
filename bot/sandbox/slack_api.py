"""A fake Slack Web API: the methods Sitrep calls, answered like Slack, every call recorded.

Point ``AsyncWebClient(token=..., base_url=<this app>/)`` at it. What slack_sdk sends (3.x, aiohttp):

* ``chat.*``, ``views.*``: a JSON body (``Content-Type: application/json;charset=utf-8``), so
  ``blocks``/``metadata``/``view`` arrive as objects;
* methods called with ``params=`` (``auth.test``, ``reactions.add``, ``files.*``): a POST whose
  arguments are in the **query string** (aiohttp puts ``params`` there) with an empty form body;
* GET methods (``conversations.info``, ``users.info``, ``usergroups.*``): the query string;
* other clients (Bolt's ``respond``, curl, the sync ``WebClient``) send form bodies where
  ``blocks``/``metadata``/``view``/``files`` are JSON-encoded strings.

All of these are merged and normalised (JSON strings → objects) before a method sees them.
``GET /_calls`` lists the recorded calls (``DELETE`` clears); ``POST /_response_url/{token}``
is a sink for slash-command ``response_url`` posts, recorded as method ``response_url``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.faults import FakeUpstream, Fault, FaultBoard
from bot.sandbox.socket_mode import SocketModeLink
from bot.slack.scopes import BOT_SCOPES

#: params that carry JSON inside a form value
JSON_PARAMS = ("blocks", "attachments", "metadata", "view", "files", "outputs", "user_auth_blocks")
MAX_BLOCKS = 50
MAX_TEXT = 40_000
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150

Params = dict[str, Any]
Method = Callable[[Params, Request], Awaitable[Params]]


class SlackError(Exception):
    """A Slack method error: ``{"ok": false, "error": code}`` (HTTP 200)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def response_url_for(base_url: str, token: str) -> str:
    """The URL of the response_url sink for ``token`` on a server at ``base_url``."""
    return f"{base_url.rstrip('/')}/_response_url/{token}"


@dataclass
class SlackWorkspace:
    """Who and what the fake workspace knows. Unknown ``C…``/``U…`` ids are made up on the fly."""

    team_id: str = "T0SITREP"
    team_name: str = "Sitrep Sandbox"
    domain: str = "sitrep-sandbox"
    bot_user_id: str = "U0SITREPBOT"
    bot_id: str = "B0SITREP"
    app_id: str = "A0SITREP"
    channels: dict[str, str] = field(default_factory=lambda: {
        "C0ALERTS": "alerts", "C0INCIDENT": "incidents", "C0DEMO": "demo"})
    users: dict[str, str] = field(default_factory=lambda: {
        "U0ONCALL": "oncall", "U0SRE1": "sre-ana", "U0SRE2": "sre-ben", "U0SRE3": "sre-chen",
        "U0DEV": "dev-alice"})
    #: usergroup id → (handle, members)
    usergroups: dict[str, tuple[str, list[str]]] = field(default_factory=lambda: {
        "S0SRE": ("sre", ["U0SRE1", "U0SRE2", "U0SRE3"]),
        "S0CHECKOUT": ("checkout-oncall", ["U0ONCALL"]),
    })
    #: the bot token's scopes, sent as ``x-oauth-scopes`` on every answer (default: manifest.yml's)
    scopes: list[str] = field(default_factory=lambda: list(BOT_SCOPES))
    #: channels the bot is not in: ``is_member: false``; a private one (``G…``) is ``channel_not_found``
    not_member: set[str] = field(default_factory=set)


class FakeSlack(FakeUpstream):
    """The fake Web API. ``token``: when set, the only bot token accepted (else any ``xoxb-``)."""

    name = "slack"

    def __init__(self, *, token: str | None = None, workspace: SlackWorkspace | None = None,
                 board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.token = token
        self.workspace = workspace or SlackWorkspace()
        self._granted = (list(self.workspace.scopes), set(self.workspace.not_member))
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.reactions: set[tuple[str, str, str]] = set()
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self._blobs: dict[str, bytes] = {}
        self._last_us = 0
        self._ids = itertools.count(1)
        #: where the Events API delivers (url, signing secret): set with ``POST /_subscribe``
        self.event_subscription: tuple[str, str] | None = None
        self.deliveries: list[dict[str, Any]] = []
        self._pending: set[asyncio.Task[None]] = set()
        #: Socket Mode's WebSocket end (``FakeCloud.socket_mode()``); None: Socket Mode is off for the app
        self.socket_link: SocketModeLink | None = None
        self.methods: dict[str, Method] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "reactions.add": self.reactions_add,
            "conversations.info": self.conversations_info,
            "conversations.replies": self.conversations_replies,
            "conversations.history": self.conversations_history,
            "users.info": self.users_info,
            "users.lookupByEmail": self.users_lookup_by_email,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.files_get_upload_url,
            "files.completeUploadExternal": self.files_complete_upload,
        }

    def reset(self) -> None:
        super().reset()
        self.workspace.scopes, self.workspace.not_member = list(self._granted[0]), set(self._granted[1])
        self.messages.clear()
        self.reactions.clear()
        self.views.clear()
        self.files.clear()
        self._blobs.clear()
        self.event_subscription = None
        self.deliveries.clear()

    # ------------------------------------------------------------------ plumbing

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_response_url/{token}", self.response_url, methods=["POST"]),
            Route("/_upload/{file_id}", self.upload, methods=["POST"]),
            Route("/_files", self.list_files, methods=["GET"]),
            Route("/_files/{file_id}", self.file_content, methods=["GET"]),
            Route("/_incoming/{channel}", self.incoming_webhook, methods=["POST"]),
            Route("/_subscribe", self.subscribe, methods=["POST", "GET"]),
            Route("/_messages", self.list_messages, methods=["GET"]),
            Route("/_grants", self.grants, methods=["GET", "POST"]),
            Route("/{method}", self.dispatch, methods=["GET", "POST"]),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 200
        default = "ratelimited" if status == 429 else "internal_error" if status >= 500 else "fatal_error"
        return JSONResponse({"ok": False, "error": fault.error or default}, status_code=status)

    def next_ts(self) -> str:
        """A unique, increasing message ts like ``1764042000.000100``."""
        self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    async def dispatch(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw, params = await slack_params(request)
        token = _bearer(request) or raw.pop("token", None)
        raw.pop("token", None)  # never keep a credential in the record
        call: dict[str, Any] = {
            "method": method,
            "channel": params.get("channel") or params.get("channel_id"),
            "thread_ts": params.get("thread_ts"),
            "ts": params.get("ts"),
            "text": params.get("text"),
            "blocks": params.get("blocks"),
            "metadata": params.get("metadata"),
            "params": params,
            "raw": raw,
            "content_type": request.headers.get("content-type"),
            "http_method": request.method,
            "at": time.time(),
        }
        self.calls.append(call)
        try:
            if method == "apps.connections.open":  # the one method that takes the app-level token
                body = {"ok": True, **self._connections_open(token)}
            else:
                body = await self._call_with_bot_token(method, token, params, request)
        except SlackError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        return self._answer(call, method, body)

    def _connections_open(self, token: str | None) -> Params:
        if not token:
            raise SlackError("not_authed")
        if not token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        if self.socket_link is None or token != self.socket_link.app_token:
            raise SlackError("invalid_auth")
        if not self.socket_link.enabled:
            raise SlackError("not_allowed")
        return {"url": self.socket_link.new_url()}

    async def _call_with_bot_token(self, method: str, token: str | None, params: Params,
                                   request: Request) -> dict[str, Any]:
        if not token:
            raise SlackError("not_authed")
        if not token.startswith(("xoxb-", "xoxp-")) or (self.token and token != self.token):
            raise SlackError("invalid_auth")
        handler = self.methods.get(method)
        if handler is None:
            raise SlackError("unknown_method", req_method=method)
        return {"ok": True, **await handler(params, request)}

    def _answer(self, call: dict[str, Any], method: str, body: dict[str, Any]) -> Response:
        call["ok"] = body["ok"]
        call["error"] = body.get("error")
        call["response"] = body
        if method == "chat.postMessage" and body["ok"]:
            call["ts"] = body["ts"]
            call["channel"] = body["channel"]
        headers = {"X-Slack-Req-Id": self._id("r").lower()}
        if body["ok"] or body.get("error") not in ("not_authed", "invalid_auth"):
            headers["x-oauth-scopes"] = ",".join(self.workspace.scopes)  # as Slack sends it: no spaces
        return JSONResponse(body, headers=headers)

    async def grants(self, request: Request) -> Response:
        """Control: ``{"scopes": [...], "not_member": ["C0ALERTS"]}`` — what the bot token may do and
        which channels the bot is not in (``scopes: null`` restores manifest.yml's)."""
        if request.method == "POST":
            body = await request.json()
            if "scopes" in body:
                self.workspace.scopes = list(BOT_SCOPES) if body["scopes"] is None else list(body["scopes"])
            if "not_member" in body:
                self.workspace.not_member = set(body["not_member"] or ())
        return JSONResponse({"scopes": self.workspace.scopes, "not_member": sorted(self.workspace.not_member)})

    async def response_url(self, request: Request) -> Response:
        body_bytes = await request.body()
        try:
            body: Any = json.loads(body_bytes or b"{}")
        except json.JSONDecodeError:
            body = dict(parse_qsl(body_bytes.decode("utf-8", "replace")))
            if isinstance(body.get("payload"), str):
                body = json.loads(body["payload"])
        self.calls.append({
            "method": "response_url",
            "token": request.path_params["token"],
            "channel": None,
            "thread_ts": body.get("thread_ts") if isinstance(body, dict) else None,
            "ts": None,
            "text": body.get("text") if isinstance(body, dict) else None,
            "blocks": body.get("blocks") if isinstance(body, dict) else None,
            "metadata": None,
            "params": body,
            "ok": True,
            "at": time.time(),
        })
        return PlainTextResponse("ok")

    async def list_messages(self, request: Request) -> Response:
        """Control: the messages of ``?channel=`` (all channels without it), oldest first, with the
        modals opened (``views``), for the demo page."""
        channel = request.query_params.get("channel")
        messages = [dict(m) for (cid, _), m in sorted(self.messages.items(), key=lambda kv: float(kv[0][1]))
                    if channel is None or cid == channel]
        return JSONResponse({"messages": messages, "views": list(self.views.values())})

    async def subscribe(self, request: Request) -> Response:
        """Control: ``{"url": ..., "signing_secret": ...}`` — deliver message events there, signed,
        as the Events API does (GET lists the deliveries made)."""
        if request.method == "GET":
            return JSONResponse(self.deliveries)
        body = await request.json()
        self.event_subscription = (body["url"], body["signing_secret"]) if body.get("url") else None
        return JSONResponse({"ok": True})

    async def incoming_webhook(self, request: Request) -> Response:
        """An incoming webhook, as another app (Alertmanager, Grafana) posts its alerts: the message
        lands in the channel as a ``bot_message`` and, when subscribed, is delivered as an event."""
        try:
            payload = json.loads(await request.body())
        except json.JSONDecodeError:
            return PlainTextResponse("invalid_payload", status_code=400)
        channel = self._channel_id(request.path_params["channel"])
        ts = self.next_ts()
        username = str(payload.get("username") or "incoming-webhook")
        event: dict[str, Any] = {
            "type": "message", "subtype": "bot_message", "text": payload.get("text") or "",
            "username": username, "bot_id": "B0" + username.upper().replace(" ", "")[:9],
            "channel": channel, "ts": ts, "event_ts": ts, "channel_type": "channel",
        }
        if payload.get("attachments"):
            event["attachments"] = payload["attachments"]
        if payload.get("blocks"):
            event["blocks"] = payload["blocks"]
        self.messages[(channel, ts)] = dict(event)
        self.calls.append({"method": "incoming_webhook", "channel": channel, "thread_ts": None, "ts": ts,
                           "text": event["text"], "blocks": payload.get("blocks"), "metadata": None,
                           "params": payload, "ok": True, "at": time.time()})
        if self.event_subscription is not None:
            task = asyncio.create_task(self._deliver(event))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return PlainTextResponse("ok")

    async def _deliver(self, event: dict[str, Any]) -> None:
        """POST the event, signed; retried like Slack (up to 3 retries, ``X-Slack-Retry-Num``)."""
        from bot.sandbox.signer import SlackSigner

        assert self.event_subscription is not None
        url, secret = self.event_subscription
        ws = self.workspace
        signer = SlackSigner(secret, team_id=ws.team_id, api_app_id=ws.app_id, bot_user_id=ws.bot_user_id)
        body = signer.event_body(event)
        async with httpx.AsyncClient(timeout=3.0) as client:
            for attempt in range(4):
                headers = signer.headers(body)
                if attempt:
                    headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_error"}
                try:
                    response = await client.post(url, content=body, headers=headers)
                    status: int | str = response.status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.deliveries.append({"event_ts": event["ts"], "attempt": attempt, "status": status})
                if status == 200:
                    return
                await asyncio.sleep(0.5 * (attempt + 1))

    async def list_files(self, request: Request) -> Response:
        """Control: every file shared, with its content, channel and thread."""
        return JSONResponse(list(self.files.values()))

    async def upload(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        data = await request.body()
        if file_id not in self.files:
            return PlainTextResponse("file not found", status_code=404)
        stored = self.files[file_id]
        stored["size"] = len(data)
        stored["uploaded"] = True
        is_png = data.startswith(b"\x89PNG\r\n\x1a\n")
        stored["mimetype"] = "image/png" if is_png else "text/plain"
        stored["content"] = None if is_png else data.decode("utf-8", errors="replace")
        self._blobs[file_id] = data
        return PlainTextResponse(f"OK - {len(data)}")

    async def file_content(self, request: Request) -> Response:
        """What ``url_private`` serves: the uploaded bytes (the demo page shows charts from it)."""
        file_id = request.path_params["file_id"]
        if file_id not in self._blobs:
            return PlainTextResponse("file not found", status_code=404)
        return Response(self._blobs[file_id], media_type=self.files[file_id].get("mimetype", "text/plain"))

    # ------------------------------------------------------------------ objects

    def _channel_id(self, channel: Any) -> str:
        if not isinstance(channel, str) or not channel:
            raise SlackError("channel_not_found")
        if channel.startswith("#"):
            name = channel[1:]
            for cid, cname in self.workspace.channels.items():
                if cname == name:
                    return cid
            raise SlackError("channel_not_found")
        if channel[0] in "CGDU" and channel[1:].replace("_", "").isalnum():
            return channel
        raise SlackError("channel_not_found")

    def _channel(self, cid: str) -> dict[str, Any]:
        name = self.workspace.channels.get(cid, cid.lower())
        return {
            "id": cid, "name": name, "is_channel": cid.startswith("C"), "is_group": False,
            "is_im": cid.startswith("D"), "is_private": cid.startswith("G"), "is_archived": False,
            "is_general": False, "is_member": cid not in self.workspace.not_member, "is_ext_shared": False,
            "created": 1700000000, "creator": "U0ONCALL", "name_normalized": name,
            "context_team_id": self.workspace.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": f"#{name} (sandbox)", "creator": "", "last_set": 0},
        }

    def _user(self, uid: str) -> dict[str, Any]:
        if uid == self.workspace.bot_user_id:
            name, is_bot = "sitrep", True
        elif uid in self.workspace.users:
            name, is_bot = self.workspace.users[uid], False
        elif uid[:1] in "UW" and uid[1:].isalnum():
            name, is_bot = uid.lower(), False
        else:
            raise SlackError("user_not_found")
        real = name.replace("-", " ").title()
        return {
            "id": uid, "team_id": self.workspace.team_id, "name": name, "deleted": False,
            "real_name": real, "tz": "Etc/UTC", "tz_offset": 0, "is_bot": is_bot,
            "is_admin": False, "is_app_user": False, "updated": 1700000000,
            "profile": {"real_name": real, "display_name": name, "display_name_normalized": name,
                        "real_name_normalized": real, "email": f"{name}@example.com",
                        "team": self.workspace.team_id},
        }

    def _message(self, params: Params, *, ts: str, channel: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "user": self.workspace.bot_user_id, "type": "message", "ts": ts,
            "bot_id": self.workspace.bot_id, "app_id": self.workspace.app_id,
            "text": params.get("text") or "", "team": self.workspace.team_id,
            "bot_profile": {"id": self.workspace.bot_id, "app_id": self.workspace.app_id,
                            "name": "Sitrep", "deleted": False, "team_id": self.workspace.team_id},
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
            message["parent_user_id"] = self.workspace.bot_user_id
        message["channel"] = channel
        return message

    # ------------------------------------------------------------------ methods

    async def auth_test(self, params: Params, request: Request) -> Params:
        ws = self.workspace
        return {"url": f"https://{ws.domain}.slack.com/", "team": ws.team_name, "user": "sitrep",
                "team_id": ws.team_id, "user_id": ws.bot_user_id, "bot_id": ws.bot_id,
                "is_enterprise_install": False}

    async def chat_post_message(self, params: Params, request: Request) -> Params:
        channel = self._channel_id(params.get("channel"))
        _check_content(params)
        ts = self.next_ts()
        message = self._message(params, ts=ts, channel=channel)
        self.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": _public(message)}

    async def chat_update(self, params: Params, request: Request) -> Params:
        channel = self._channel_id(params.get("channel"))
        ts = params.get("ts")
        if not ts:
            raise SlackError("invalid_arguments")
        message = self.messages.get((channel, ts))
        if message is None:
            raise SlackError("message_not_found")
        if message.get("bot_id") != self.workspace.bot_id:  # only the app's own messages
            raise SlackError("cant_update_message")
        _check_content(params, allow_empty=True)
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": self.workspace.bot_user_id, "ts": self.next_ts()}
        return {"channel": channel, "ts": ts, "text": message.get("text", ""),
                "message": _public(message)}

    async def chat_post_ephemeral(self, params: Params, request: Request) -> Params:
        self._channel_id(params.get("channel"))
        if not params.get("user"):
            raise SlackError("user_not_in_channel")
        _check_content(params)
        return {"message_ts": self.next_ts()}

    async def chat_get_permalink(self, params: Params, request: Request) -> Params:
        channel = self._channel_id(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        return {"channel": channel, "permalink": f"https://{self.workspace.domain}.slack.com/archives/"
                f"{channel}/p{ts.replace('.', '')}"}

    async def reactions_add(self, params: Params, request: Request) -> Params:
        channel = self._channel_id(params.get("channel"))
        name, ts = params.get("name"), params.get("timestamp")
        if not name:
            raise SlackError("invalid_name")
        if not ts:
            raise SlackError("no_item_specified")
        key = (channel, str(ts), str(name))
        if key in self.reactions:
            raise SlackError("already_reacted")
        self.reactions.add(key)
        return {}

    async def conversations_info(self, params: Params, request: Request) -> Params:
        cid = self._channel_id(params.get("channel"))
        if cid.startswith("G") and cid in self.workspace.not_member:
            raise SlackError("channel_not_found")  # a private channel is invisible to a non-member
        return {"channel": self._channel(cid)}

    async def conversations_replies(self, params: Params, request: Request) -> Params:
        channel = self._channel_id(params.get("channel"))
        ts = params.get("ts")
        found = [_public(m) for (c, t), m in sorted(self.messages.items())
                 if c == channel and (t == ts or m.get("thread_ts") == ts)]
        if not found:
            raise SlackError("thread_not_found")
        return {"messages": found, "has_more": False}

    async def conversations_history(self, params: Params, request: Request) -> Params:
        channel = self._channel_id(params.get("channel"))
        found = [_public(m) for (c, _), m in sorted(self.messages.items(), reverse=True)
                 if c == channel and m.get("thread_ts") in (None, m["ts"])]
        return {"messages": found, "has_more": False}

    async def users_lookup_by_email(self, params: Params, request: Request) -> Params:
        """``<name>@example.com`` is the workspace user called ``name``."""
        email = str(params.get("email") or "")
        name, _, domain = email.partition("@")
        uid = next((u for u, n in self.workspace.users.items() if n == name), None)
        if uid is None or domain != "example.com":
            raise SlackError("users_not_found")
        return {"user": self._user(uid)}

    async def users_info(self, params: Params, request: Request) -> Params:
        uid = params.get("user")
        if not uid:
            raise SlackError("user_not_found")
        return {"user": self._user(str(uid))}

    async def usergroups_list(self, params: Params, request: Request) -> Params:
        include_users = str(params.get("include_users", "")).lower() in ("1", "true")
        groups = []
        for gid, (handle, members) in self.workspace.usergroups.items():
            group: dict[str, Any] = {"id": gid, "team_id": self.workspace.team_id, "handle": handle,
                                     "name": handle.replace("-", " ").title(), "is_usergroup": True,
                                     "date_delete": 0, "user_count": len(members)}
            if include_users:
                group["users"] = list(members)
            groups.append(group)
        return {"usergroups": groups}

    async def usergroups_users_list(self, params: Params, request: Request) -> Params:
        group = self.workspace.usergroups.get(str(params.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group[1])}

    def _view(self, view: Any, *, view_id: str | None = None) -> dict[str, Any]:
        if not isinstance(view, dict) or "type" not in view:
            raise SlackError("invalid_arguments")
        _check_blocks(view.get("blocks") or [], error="invalid_arguments")
        view_id = view_id or self._id("V")
        stored = {
            "id": view_id, "team_id": self.workspace.team_id, "type": view["type"],
            "blocks": view.get("blocks", []), "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""), "external_id": view.get("external_id", ""),
            "state": {"values": {}}, "hash": f"{int(time.time())}.{next(self._ids):08x}",
            "title": view.get("title"), "submit": view.get("submit"), "close": view.get("close"),
            "app_id": self.workspace.app_id, "bot_id": self.workspace.bot_id,
            "root_view_id": view_id, "previous_view_id": None,
        }
        self.views[view_id] = stored
        return stored

    async def views_open(self, params: Params, request: Request) -> Params:
        if not params.get("trigger_id") and not params.get("interactivity_pointer"):
            raise SlackError("invalid_trigger_id")
        return {"view": self._view(params.get("view"))}

    async def views_update(self, params: Params, request: Request) -> Params:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            view_id = next((v["id"] for v in self.views.values()
                            if v["external_id"] == params["external_id"]), None)
        if not view_id or view_id not in self.views:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != self.views[view_id]["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._view(params.get("view"), view_id=view_id)}

    async def views_publish(self, params: Params, request: Request) -> Params:
        if not params.get("user_id"):
            raise SlackError("invalid_arguments")
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        return {"view": self._view(view)}

    async def files_get_upload_url(self, params: Params, request: Request) -> Params:
        if not params.get("filename") or not str(params.get("length", "")).isdecimal():
            raise SlackError("invalid_arguments")
        file_id = self._id("F")
        self.files[file_id] = {"id": file_id, "name": params["filename"],
                               "length": int(params["length"]), "uploaded": False}
        base = str(request.url.replace(query="")).rsplit("/", 1)[0]
        return {"upload_url": f"{base}/_upload/{file_id}", "file_id": file_id}

    async def files_complete_upload(self, params: Params, request: Request) -> Params:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        done = []
        for item in files:
            stored = self.files.get(str(item.get("id")) if isinstance(item, dict) else "")
            if stored is None:
                raise SlackError("file_not_found")
            stored["title"] = item.get("title") or stored["name"]
            stored["channel_id"] = params.get("channel_id")
            stored["thread_ts"] = params.get("thread_ts")
            done.append({"id": stored["id"], "name": stored["name"], "title": stored["title"],
                         "size": stored.get("size", stored["length"])})
        channel = params.get("channel_id")
        if channel:  # shared: a file message in the channel (or thread), as Slack posts it
            base = str(request.url.replace(query="")).rsplit("/", 1)[0]
            ts = self.next_ts()
            message = self._message({"text": params.get("initial_comment") or "",
                                     "thread_ts": params.get("thread_ts")}, ts=ts, channel=str(channel))
            message["files"] = [{**{k: self.files[f["id"]].get(k) for k in ("id", "name", "title", "mimetype")},
                                 "url_private": f"{base}/_files/{f['id']}"} for f in done]
            message["upload"] = True
            self.messages[(str(channel), ts)] = message
        return {"files": done}


# ---------------------------------------------------------------------------- helpers


async def slack_params(request: Request) -> tuple[dict[str, Any], Params]:
    """(raw, normalised) arguments: query string, then form or JSON body; JSON-in-form decoded."""
    raw: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if body and content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            raw.update(decoded)
    elif body:
        raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    params = dict(raw)
    for key in JSON_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # left as a string: the method reports invalid_blocks etc.
    params.pop("token", None)
    return raw, params


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "channel"}


def _check_content(params: Params, *, allow_empty: bool = False) -> None:
    text = params.get("text")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    blocks = params.get("blocks")
    if blocks is not None:
        _check_blocks(blocks)
    metadata = params.get("metadata")
    if metadata is not None and (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")
    if not allow_empty and not text and not blocks and not params.get("attachments"):
        raise SlackError("no_text")


def _check_blocks(blocks: Any, *, error: str = "invalid_blocks") -> None:
    """The checks Slack makes that a bug in a block builder most often trips."""
    if isinstance(blocks, str) or not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackError(error)
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackError(error)
        text = block.get("text")
        limit = HEADER_TEXT_LIMIT if block["type"] == "header" else SECTION_TEXT_LIMIT
        if isinstance(text, dict) and len(str(text.get("text", ""))) > limit:
            raise SlackError(error, response_metadata={"messages": [
                f"[ERROR] must be less than {limit + 1} characters [json-pointer:/blocks/"
                f"{blocks.index(block)}/text]"]})
        for field_ in block.get("fields") or []:
            if isinstance(field_, dict) and len(str(field_.get("text", ""))) > 2000:
                raise SlackError(error)


__all__ = ["FakeSlack", "SlackWorkspace", "response_url_for", "slack_params"]
