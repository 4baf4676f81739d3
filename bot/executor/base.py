"""What every executor returns, and the one place where HTTP calls become records and failures
become a short reason for the thread.

Executors never raise for an upstream error, a timeout or a refusal: the ``ExecutionResult`` says what
happened. Inside an executor, failures travel as one exception and end at ``execute``'s boundary::

    ExecutorError               why nothing (more) was done: ``reason`` is the line for the thread
    ├── RefusedError            Sitrep will not send it (not in history, auto-sync on, bad name…)
    └── UpstreamError           the upstream answered an error status, timed out or was unreachable

Requests are recorded without credentials: headers are never recorded and URLs lose their userinfo.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, Field

from bot.models import Action, ActionKind, ActionTarget

#: how much of a response body a result keeps
BODY_EXCERPT = 300
#: how much of an upstream's error message a reason keeps
REASON_LIMIT = 200
_SECRET_PARAM = re.compile(r"token|secret|key|sig|pass|auth|code", re.IGNORECASE)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class HttpRequest(BaseModel):
    method: str
    url: str  # no credentials
    body: Any = None


class HttpResponse(BaseModel):
    status: int
    body: str = ""  # an excerpt


class Exchange(BaseModel):
    request: HttpRequest
    response: HttpResponse | None = None


class ExecutionResult(BaseModel):
    """What an execution did, for the thread, the timeline and the postmortem."""

    ok: bool
    dry_run: bool
    kind: ActionKind
    target: ActionTarget
    #: the request that does (or, in a dry run, would do) the change; None when refused before it
    request: HttpRequest | None = None
    #: False when ``request`` was only described (a dry run with no server-side dry run)
    sent: bool = False
    response: HttpResponse | None = None
    message: str  # one line for the thread
    error: str | None = None  # short reason, no secrets
    elapsed_s: float = 0.0
    #: calls made before ``request``: lookups, turning auto-sync off
    steps: list[Exchange] = []
    notes: list[str] = []
    auto_sync_suspended: bool = False


class Executor(Protocol):
    """Runs one typed action against one upstream; never raises for upstream failures."""

    async def execute(self, action: Action, *, dry_run: bool) -> ExecutionResult: ...


class ExecutorError(Exception):
    """Why an execution stopped; ``reason`` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RefusedError(ExecutorError):
    """Sitrep refuses to send the request (nothing was changed)."""


class UpstreamError(ExecutorError):
    """The upstream failed: an error status (``status``), a timeout or no connection."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def check_name(value: str | None, *, what: str) -> str:
    """A Kubernetes/ArgoCD object name safe to put in a URL path; ``RefusedError`` otherwise."""
    if not value:
        raise RefusedError(f"no {what} given: refusing to guess")
    if len(value) > 253 or not _NAME.match(value):
        raise RefusedError(f"{what} {value[:60]!r} is not a valid name: nothing sent")
    return value


def safe_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo and without the value of any query parameter that looks secret."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    pairs = [item.partition("=") for item in parts.query.split("&") if item]
    query = "&".join(f"{key}={'***' if _SECRET_PARAM.search(key) else value}" if sep else key
                     for key, sep, value in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def excerpt(response: httpx.Response) -> HttpResponse:
    text = response.text
    return HttpResponse(status=response.status_code,
                        body=text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "…")


def _shorten(text: str, limit: int = REASON_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_reason(upstream: str, response: httpx.Response) -> str:
    """``ArgoCD 403 permission denied: …`` from an error response: the upstream's own message
    (ArgoCD's ``message``/``error``, a Kubernetes ``Status.message``), else the status phrase."""
    detail = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("message") or body.get("error") or "")
    elif "html" not in response.headers.get("content-type", "").lower():
        detail = response.text
    detail = _shorten(detail) if detail.strip() else response.reason_phrase
    return f"{upstream} {response.status_code} {detail}".rstrip()


def timeout_reason(upstream: str, exc: httpx.TimeoutException, timeout: httpx.Timeout) -> str:
    seconds = {httpx.ConnectTimeout: timeout.connect, httpx.ReadTimeout: timeout.read,
               httpx.WriteTimeout: timeout.write, httpx.PoolTimeout: timeout.pool}.get(type(exc))
    return f"{upstream} timeout after {seconds:g} s" if seconds is not None else f"{upstream} timeout"


class Run:
    """One execution in progress: sends requests through ``client``, records them, and turns failures
    into ``ExecutorError``; ``result`` builds the ``ExecutionResult``."""

    def __init__(self, action: Action, *, dry_run: bool, upstream: str, client: httpx.AsyncClient) -> None:
        self.action = action
        self.dry_run = dry_run
        self.upstream = upstream
        self.client = client
        self.steps: list[Exchange] = []
        self.notes: list[str] = []
        self.auto_sync_suspended = False
        self.request: HttpRequest | None = None
        self.response: HttpResponse | None = None
        self.sent = False
        self._started = time.perf_counter()

    async def call(self, method: str, path: str, *, body: Any = None, content: bytes | None = None,
                   params: Mapping[str, str] | None = None, content_type: str | None = None,
                   headers: Mapping[str, str] | None = None, main: bool = False) -> httpx.Response:
        """Send one request; a 2xx response comes back, anything else raises ``UpstreamError``.
        ``body`` is sent as JSON unless ``content`` (its exact bytes) is given; ``headers`` are never
        recorded. ``main``: this is the request that makes the change (``result.request``)."""
        if content is None and body is not None:
            content = json.dumps(body).encode()
        headers = {**({} if content is None else {"Content-Type": content_type or "application/json"}),
                   **(headers or {})}
        try:
            request = self.client.build_request(method, path, params=params, content=content, headers=headers)
        except httpx.InvalidURL as exc:
            raise RefusedError(f"invalid {self.upstream} URL: {exc}") from exc
        record = HttpRequest(method=method, url=safe_url(request.url), body=body)
        exchange = Exchange(request=record)
        if main:
            self.request, self.sent = record, True
        else:
            self.steps.append(exchange)
        try:
            response = await self.client.send(request)
        except httpx.TimeoutException as exc:
            raise UpstreamError(timeout_reason(self.upstream, exc, self.client.timeout)) from exc
        except httpx.ConnectError as exc:
            raise UpstreamError(f"{self.upstream} unreachable") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.upstream} error: {type(exc).__name__}") from exc
        exchange.response = excerpt(response)
        if main:
            self.response = exchange.response
        if not response.is_success:
            raise UpstreamError(error_reason(self.upstream, response), status=response.status_code)
        return response

    async def get_json(self, path: str, *, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        response = await self.call("GET", path, params=params)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UpstreamError(f"{self.upstream} {response.status_code} answered a body that is not a JSON object")
        return body

    def describe(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None) -> None:
        """Record the change request a dry run would send, without sending it."""
        url = self.client.build_request(method, path, params=params).url
        self.request, self.sent = HttpRequest(method=method, url=safe_url(url), body=body), False

    def result(self, *, ok: bool, message: str, error: str | None = None) -> ExecutionResult:
        return ExecutionResult(
            ok=ok, dry_run=self.dry_run, kind=self.action.kind, target=self.action.target,
            request=self.request, sent=self.sent, response=self.response, message=message, error=error,
            elapsed_s=round(time.perf_counter() - self._started, 3), steps=self.steps, notes=self.notes,
            auto_sync_suspended=self.auto_sync_suspended,
        )

    def failed(self, exc: ExecutorError, *, what: str) -> ExecutionResult:
        """``rollback of checkout failed: ArgoCD 403 …`` (or the refusal as it stands)."""
        message = exc.reason if isinstance(exc, RefusedError) else f"{what} failed: {exc.reason}"
        if self.notes:
            message = f"{message}; {'; '.join(self.notes)}"
        return self.result(ok=False, message=message, error=exc.reason)


def refused(action: Action, *, dry_run: bool, reason: str, message: str | None = None) -> ExecutionResult:
    """A result for an action no executor ran (not configured, manual step, conflicting ids)."""
    return ExecutionResult(ok=False, dry_run=dry_run, kind=action.kind, target=action.target,
                           message=message or reason, error=reason)
