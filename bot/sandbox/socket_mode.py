"""Slack's Socket Mode end, for tests and the demo: ``apps.connections.open`` (served by ``FakeSlack``)
hands out one-use ``ws://`` URLs to the WebSocket server here, which speaks the protocol as Slack
documents it:

- on connect: ``{"type": "hello", "num_connections": n, "connection_info": {"app_id": …}, "debug_info": …}``;
- envelopes ``{"envelope_id", "type": "events_api" | "slash_commands" | "interactive", "payload",
  "accepts_response_payload", "retry_attempt", "retry_reason"}``, acknowledged by the app with
  ``{"envelope_id": …, "payload"?: …}``;
- ``{"type": "disconnect", "reason": "refresh_requested" | "link_disabled" | "warning", "debug_info": …}``;
- WebSocket pings answered with pongs (the SDK pings every few seconds and reconnects when they stop).

An envelope that is not acknowledged stays pending and is delivered again, ``retry_attempt`` + 1 and
``retry_reason: "timeout"``, to the next connection — as Slack retries. The server runs aiohttp (already a
dependency of the Slack SDK) in its own thread; the test-facing methods are plain, thread-safe calls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = "A0SANDBOX01"
KINDS = ("events_api", "slash_commands", "interactive")
DISCONNECT_REASONS = ("refresh_requested", "link_disabled", "warning")


@dataclass
class Ack:
    envelope_id: str
    seconds: float  # from the (last) delivery to the acknowledgement
    payload: dict[str, Any] | None
    retry_attempt: int


@dataclass
class _Envelope:
    body: dict[str, Any]
    delivered_at: float = 0.0
    acked: bool = False

    def retried(self, reason: str) -> None:
        """The next delivery is a retry: ``retry_attempt`` + 1, with Slack's reason."""
        self.body = {**self.body, "retry_attempt": self.body["retry_attempt"] + 1, "retry_reason": reason}


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    request: web.Request
    number: int
    opened_at: float = field(default_factory=time.time)


class SocketModeLink:
    """The WebSocket side of Socket Mode. ``app_token``: the only ``xapp-`` token ``apps.connections.open``
    accepts (checked by FakeSlack)."""

    def __init__(self, *, app_token: str, host: str = "127.0.0.1") -> None:
        self.app_token = app_token
        self.host = host
        self.port = 0
        self.enabled = True  # False: apps.connections.open answers as for an app with Socket Mode off
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._open: list[_Connection] = []
        self._numbers = itertools.count(1)
        self._envelopes: dict[str, _Envelope] = {}
        self.acks: list[Ack] = []
        #: every connection's life: {"number", "opened_at", "closed_at"}
        self.connections: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ life

    def start(self) -> SocketModeLink:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="socket-mode-link", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Socket Mode link did not start")
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server  # noqa: SLF001 — aiohttp keeps the bound port there
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def close() -> None:
            for conn in list(self._open):
                await conn.ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if not loop.is_running():
            loop.close()
        self._loop = self._thread = None

    def reset(self) -> None:
        with self._lock:
            self._envelopes.clear()
            self.acks.clear()
            self.enabled = True

    # ------------------------------------------------------------------ apps.connections.open

    def new_url(self) -> str:
        ticket = secrets.token_hex(12)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    # ------------------------------------------------------------------ the WebSocket

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)  # a URL is good for one connection, as Slack's are
        if not known:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)  # pings are answered with pongs carrying their data
        await ws.prepare(request)
        conn = _Connection(ws=ws, request=request, number=next(self._numbers))
        with self._lock:
            self._open.append(conn)
            self.connections.append({"number": conn.number, "opened_at": conn.opened_at, "closed_at": None})
            pending = [e for e in self._envelopes.values() if not e.acked]
        await ws.send_json({"type": "hello", "num_connections": len(self._open),
                            "debug_info": {"host": "applink-sandbox", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": APP_ID}})
        for envelope in pending:  # Slack retries what was never acknowledged
            if envelope.delivered_at:
                envelope.retried("timeout")
            await self._deliver(conn, envelope)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._on_message(message.data)
        finally:
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)
                for record in self.connections:
                    if record["number"] == conn.number:
                        record["closed_at"] = time.time()
        return ws

    def _on_message(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._lock:
            envelope = self._envelopes.get(envelope_id or "")
            if envelope is None:
                return
            envelope.acked = True
            self.acks.append(Ack(envelope_id=envelope_id, seconds=time.time() - envelope.delivered_at,
                                 payload=message.get("payload"),
                                 retry_attempt=envelope.body["retry_attempt"]))

    async def _deliver(self, conn: _Connection, envelope: _Envelope) -> None:
        envelope.delivered_at = time.time()
        await conn.ws.send_str(json.dumps(envelope.body))

    def _call(self, coro: Any, timeout: float = 10) -> Any:
        assert self._loop is not None, "the Socket Mode link is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ------------------------------------------------------------------ what a test does

    def send(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool | None = None) -> str:
        """Deliver an envelope to the newest open connection (or to the next one that opens); its id."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        envelope_id = str(uuid.uuid4())
        body = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                "accepts_response_payload": (kind != "events_api") if accepts_response_payload is None
                else accepts_response_payload,
                "retry_attempt": 0, "retry_reason": ""}
        envelope = _Envelope(body=body)
        with self._lock:
            self._envelopes[envelope_id] = envelope
            conn = self._open[-1] if self._open else None
        if conn is not None:
            self._call(self._deliver(conn, envelope))
        return envelope_id

    def redeliver(self, envelope_id: str, *, reason: str = "timeout") -> None:
        """Send an envelope again (``retry_attempt`` + 1), acknowledged or not — as Slack does when an ack is lost."""
        with self._lock:
            envelope = self._envelopes[envelope_id]
            envelope.acked = False
            envelope.retried(reason)
            conn = self._open[-1] if self._open else None
        if conn is not None:
            self._call(self._deliver(conn, envelope))

    def ack_for(self, envelope_id: str) -> Ack | None:
        with self._lock:
            return next((a for a in reversed(self.acks) if a.envelope_id == envelope_id), None)

    def acks_for(self, envelope_id: str) -> list[Ack]:
        with self._lock:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def opened(self) -> int:
        """How many connections were ever opened (a reconnect adds one)."""
        with self._lock:
            return len(self.connections)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does before it recycles a connection; the old socket is
        closed a moment later (Slack gives ~10 s; the sandbox 2 s) if the app has not closed it."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"reason must be one of {DISCONNECT_REASONS}")

        async def go() -> None:
            old = list(self._open)
            for conn in old:
                await conn.ws.send_json({"type": "disconnect", "reason": reason,
                                         "debug_info": {"host": "applink-sandbox"}})
            if reason == "warning":
                return
            await asyncio.sleep(2)
            for conn in old:
                await conn.ws.close()

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(go(), self._loop)

    def drop(self) -> None:
        """Cut every open connection's TCP stream, without a WebSocket close: a network failure."""

        async def go() -> None:
            for conn in list(self._open):
                transport = conn.request.transport
                if transport is not None:
                    transport.abort()

        self._call(go())
