"""Fault injection shared by every fake: a ``FaultBoard`` of per-upstream ``Fault``s, settable at run
time over HTTP, applied by ``FaultMiddleware`` around each fake's ASGI app.

    POST   /_control/faults   {"loki": {"status": 500}, "jaeger": {"hang": true},
                               "prometheus": {"delay_ms": 450}, "argocd": {"malformed": true},
                               "slack": {"status": 429, "retry_after": 1, "times": 1}}
    DELETE /_control/faults   clear all (hanging requests are released)
    GET    /_control/faults   what is set

A fault applies to every request of its upstream, or only to those whose path contains ``path``, for
``times`` requests (unlimited when unset); with ``fraction`` only that share of them, spread evenly
(``{"slack": {"status": 429, "retry_after": 1, "fraction": 0.5}}``: every second Slack call is
rate-limited). ``hang`` waits until the client disconnects or the board is released (``clear`` /
shutdown), so it never blocks other requests or a clean stop.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UPSTREAMS = ("loki", "prometheus", "argocd", "jaeger", "slack", "anthropic", "pagerduty", "opsgenie",
             "kubernetes")

#: builds the error body an upstream answers with for an HTTP status (its own error shape)
ErrorResponder = Callable[["Fault"], Response]


class Fault(BaseModel):
    """What goes wrong with one upstream."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(default=None, ge=100, le=599)
    delay_ms: int = Field(default=0, ge=0)
    hang: bool = False
    malformed: bool = False  # 200 with the real body cut in half
    times: int | None = Field(default=None, ge=1)  # then the fault clears itself
    retry_after: int | None = None  # Retry-After header with ``status``
    error: str | None = None  # slack: ``{"ok": false, "error": <error>}`` with HTTP 200
    message: str | None = None  # overrides the upstream's error message
    path: str | None = None  # only requests whose path contains this
    #: only this share of the matching requests, spread evenly (0.5: every second one)
    fraction: float | None = Field(default=None, gt=0, le=1)


class FaultBoard:
    """The faults currently set, by upstream name. Lives in the server's event loop."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}
        self._release: asyncio.Event | None = None
        #: matching requests seen by a ``fraction`` fault, by upstream
        self._seen: dict[str, int] = {}

    def set(self, name: str, fault: Fault | None) -> None:
        self._seen.pop(name, None)
        if fault is None:
            self._faults.pop(name, None)
        else:
            self._faults[name] = fault

    def update(self, faults: dict[str, Any]) -> None:
        """``{"loki": {...}, "jaeger": null}``; a ``null`` clears that upstream's fault."""
        parsed = {
            name: None if spec is None else Fault.model_validate(spec) for name, spec in faults.items()
        }
        for name, fault in parsed.items():
            self.set(name, fault)

    def clear(self) -> None:
        self._faults.clear()
        self._seen.clear()
        self.release()

    def snapshot(self) -> dict[str, Any]:
        return {name: fault.model_dump(exclude_defaults=True) for name, fault in self._faults.items()}

    def take(self, name: str, path: str) -> Fault | None:
        """The fault for this request, counting down ``times``."""
        fault = self._faults.get(name)
        if fault is None or (fault.path is not None and fault.path not in path):
            return None
        if fault.fraction is not None:  # the n-th request is hit when n * fraction crosses an integer
            seen = self._seen.get(name, 0) + 1
            self._seen[name] = seen
            if math.floor(seen * fault.fraction) == math.floor((seen - 1) * fault.fraction):
                return None
        if fault.times is not None:
            left = fault.times - 1
            if left <= 0:
                self._faults.pop(name, None)
            else:
                self._faults[name] = fault.model_copy(update={"times": left})
        return fault

    def release(self) -> None:
        """Wake every hanging request (they then answer normally)."""
        if self._release is not None:
            self._release.set()
        self._release = None

    async def wait_released(self) -> None:
        if self._release is None:
            self._release = asyncio.Event()
        await self._release.wait()


async def hang(board: FaultBoard, receive: Receive) -> bool:
    """Wait until the client goes away (True) or the board releases hung requests (False).
    The request body must already have been read, so ``receive`` only reports a disconnect."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    waits = [asyncio.ensure_future(disconnected()), asyncio.ensure_future(board.wait_released())]
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    return waits[0] in done


async def delay(board: FaultBoard, seconds: float) -> None:
    """Sleep ``seconds`` unless the board is released first."""
    try:
        await asyncio.wait_for(board.wait_released(), timeout=seconds)
    except TimeoutError:
        pass


class FaultMiddleware:
    """Applies ``board``'s fault for ``name`` to each HTTP request of the wrapped fake."""

    def __init__(self, app: ASGIApp, *, name: str, board: FaultBoard, on_error: ErrorResponder) -> None:
        self.app = app
        self.name = name
        self.board = board
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path.startswith("/_control") or path.startswith("/_calls"):
            await self.app(scope, receive, send)
            return
        fault = self.board.take(self.name, path)
        if fault is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replay(body, receive)
        if fault.hang and await hang(self.board, receive):
            return  # nobody is listening any more
        if fault.delay_ms:
            await delay(self.board, fault.delay_ms / 1000)
        if fault.status is not None or fault.error is not None:
            response = self.on_error(fault)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = str(fault.retry_after)
            await response(scope, replay, send)
        elif fault.malformed:
            await self.app(scope, replay, _truncating(send))
        else:
            await self.app(scope, replay, send)


def route_path(scope: Scope) -> str:
    """The request path inside the (possibly mounted) app: ``/api/traces``, not ``/jaeger/api/traces``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _truncating(send: Send) -> Send:
    """Buffer the response and send only the first half of its body (a cut-off JSON document)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def truncated(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        cut = body[: max(1, len(body) // 2)]
        assert start is not None
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut, "more_body": False})

    return truncated


def fault_routes(board: FaultBoard, *, prefix: str = "/_control/faults") -> list[Route]:
    """``POST``/``DELETE``/``GET`` on ``prefix`` controlling ``board``."""

    async def control(request: Request) -> Response:
        if request.method == "DELETE":
            board.clear()
        elif request.method == "POST":
            try:
                payload = json.loads(await request.body() or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("expected a JSON object of upstream name → fault")
                unknown = sorted(set(payload) - set(UPSTREAMS))
                if unknown:
                    raise ValueError(f"unknown upstream(s): {', '.join(unknown)}")
                board.update(payload)
            except ValueError as exc:  # includes pydantic.ValidationError and JSONDecodeError
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"faults": board.snapshot()})

    return [Route(prefix, control, methods=["GET", "POST", "DELETE"])]


class FakeUpstream:
    """Base of every fake: its routes, its upstream-shaped error body, faults and a request log.

    ``asgi()`` is the fake's app: ``/_control/faults`` and ``/_calls`` plus ``routes()``, behind
    ``FaultMiddleware``. ``calls`` records every request (never its credentials)."""

    name: str = "upstream"

    def __init__(self, *, board: FaultBoard | None = None) -> None:
        self.board = board or FaultBoard()
        self.calls: list[dict[str, Any]] = []

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def error_response(self, fault: Fault) -> Response:
        return JSONResponse({"error": fault.message or "injected fault"}, status_code=fault.status or 500)

    def record(self, request: Request, **extra: Any) -> dict[str, Any]:
        call = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "at": time.time(),
            **extra,
        }
        self.calls.append(call)
        return call

    def reset(self) -> None:
        self.calls.clear()

    def asgi(self) -> ASGIApp:
        async def calls(request: Request) -> Response:
            if request.method == "DELETE":
                self.reset()
            return JSONResponse(self.calls)

        app = Starlette(routes=[*fault_routes(self.board),
                                Route("/_calls", calls, methods=["GET", "DELETE"]),
                                *self.routes()])
        return FaultMiddleware(app, name=self.name, board=self.board, on_error=self.error_response)
