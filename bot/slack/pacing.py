"""One Slack Web API client for everything Sitrep sends: paced per channel, in order, patient with 429s.

``PacedWebClient`` is an ``AsyncWebClient`` (Bolt, the listeners and the publishers call it as
usual); its ``api_call`` sends a call one of three ways:

* **in the channel's lane** — ``chat.postMessage``, ``chat.update``, ``chat.delete``,
  ``reactions.add`` and a file shared in a channel: one FIFO queue per channel, sent one at a time,
  so a brief's messages and the thread lines around it arrive in the order they were asked for.
  A new message (``chat.postMessage``, a shared file) takes a token from the channel's bucket:
  ``burst`` at once, then one per ``post_interval`` (Slack: "1 per second per channel, short bursts
  allowed"). A ``chat.update`` of a message whose earlier update still waits in the lane replaces
  that update's content: only the latest is sent (progress updates coalesce).
* **at once, once** — ``views.open`` and ``views.push``: their ``trigger_id`` expires 3 s after the
  click, so they are never queued, never wait out a 429 and are not retried.
* **at once** — everything else (reads, ``views.publish``, ``apps.connections.open``...).

A 429 is honoured everywhere but on trigger-bound calls: wait ``Retry-After`` (the channel's lane
waits with it) and send the same call again; it is not dropped (up to ``max_rate_limited_s`` of
waiting for one call). Each wait is logged and reported to ``on_wait``: the runtime writes it on
the incident's timeline.

5xx answers, connection errors and timeouts are retried by slack_sdk's own retry handlers
(``slack_sdk.http_retry``), ``retries`` times with exponential backoff and jitter; then the error is
logged once (``slack_call_failed``) and raised to the caller. The pacing, the lanes, coalescing and
the 429 waits are ours because a retry handler sees only its own HTTP request: it cannot hold the
channel's other calls back while one waits, keep their order, merge a superseded update or tell
which incident waited, and ``AsyncRateLimitErrorRetryHandler`` gives up after ``max_retry_count``.

A timed-out ``chat.postMessage`` may have been posted before the retry: Slack has no idempotency key,
so a rare duplicate line is the price of not losing one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp, AsyncBoltContext

log = structlog.get_logger(__name__)

#: sent one at a time through the channel's lane, in the order asked
LANED_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.delete", "reactions.add",
                           "files.completeUploadExternal"})
#: new messages in a channel: each takes a token from the channel's bucket
POSTING_METHODS = frozenset({"chat.postMessage", "files.completeUploadExternal"})
#: the trigger_id expires 3 s after the click: sent at once, once
TRIGGER_BOUND_METHODS = frozenset({"views.open", "views.push"})

#: what a connection error or timeout looks like under aiohttp (slack_sdk's defaults + timeouts)
TRANSIENT_ERRORS: list[type[Exception]] = [
    aiohttp.ServerConnectionError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, asyncio.TimeoutError,
]


@dataclass(frozen=True)
class Pacing:
    """How patient and how polite the client is."""

    #: seconds between new messages in one channel once the burst is spent (0: unpaced)
    post_interval: float = 1.0
    #: new messages a quiet channel may get at once
    burst: int = 3
    #: retries of a 5xx answer, a connection error or a timeout
    retries: int = 3
    #: the first retry after ``backoff``–2×``backoff`` s, then doubling
    backoff: float = 0.5
    #: multiplies Slack's ``Retry-After`` (tests shrink it; 1 in production)
    retry_after_scale: float = 1.0
    #: how long one call may wait on 429s in all before its error is raised
    max_rate_limited_s: float = 900.0


@dataclass(frozen=True)
class SlackWait:
    """A call that had to wait on a 429 before it was sent again."""

    method: str
    channel: str | None
    thread_ts: str | None
    ts: str | None
    retry_after_s: float
    #: the incident whose job made the call (the worker binds it in the log context), if any
    incident_id: int | None


OnWait = Callable[[SlackWait], Awaitable[None]]


class ProportionalJitter(Jitter):
    """Adds up to as much again: a 0.5 s backoff becomes 0.5–1 s."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random())


def _trigger_bound(url: str) -> bool:
    return url.rsplit("/", 1)[-1] in TRIGGER_BOUND_METHODS


class ServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Any 5xx (slack_sdk's own retries 500 and 503 only), never a trigger-bound call."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return response is not None and response.status_code >= 500 and not _trigger_bound(request.url)


class ConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    """Connection errors and timeouts, never for a trigger-bound call."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return not _trigger_bound(request.url) and await super()._can_retry_async(
            state=state, request=request, response=response, error=error)


def retry_handlers(pacing: Pacing) -> list[AsyncRetryHandler]:
    """slack_sdk's retry handlers for what a retry fixes: 5xx, dropped connections, timeouts.
    They share one attempt counter, so a call is sent at most ``retries + 1`` times."""
    calculator = BackoffRetryIntervalCalculator(backoff_factor=pacing.backoff, jitter=ProportionalJitter())
    return [
        ConnectionErrorRetryHandler(max_retry_count=pacing.retries, interval_calculator=calculator,
                                    error_types=list(TRANSIENT_ERRORS)),
        ServerErrorRetryHandler(max_retry_count=pacing.retries, interval_calculator=calculator),
    ]


@dataclass
class _Call:
    method: str
    kwargs: dict[str, Any]
    incident_id: int | None
    waiters: list[asyncio.Future[AsyncSlackResponse]] = field(default_factory=list)
    #: an attempt is on the wire: its content can no longer be replaced
    sending: bool = False

    def arg(self, name: str) -> Any:
        for where in ("json", "params", "data"):
            values = self.kwargs.get(where)
            if isinstance(values, dict) and values.get(name) is not None:
                return values[name]
        return None

    @property
    def channel(self) -> str | None:
        channel = self.arg("channel") or self.arg("channel_id")
        return str(channel) if channel else None

    @property
    def message_ts(self) -> str | None:
        ts = self.arg("ts") or self.arg("timestamp")
        return str(ts) if ts else None


class _Lane:
    """One channel's calls, sent one at a time in the order they came."""

    def __init__(self, channel: str, client: PacedWebClient) -> None:
        self.channel = channel
        self._client = client
        self._queue: deque[_Call] = deque()
        self._tokens = float(client.pacing.burst)
        self._stamp = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def submit(self, call: _Call) -> asyncio.Future[AsyncSlackResponse]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[AsyncSlackResponse] = loop.create_future()
        if call.method == "chat.update" and call.message_ts:
            for queued in self._queue:
                if queued.method == "chat.update" and not queued.sending and queued.message_ts == call.message_ts:
                    queued.kwargs = call.kwargs  # the newer content wins; both callers get its answer
                    queued.waiters.append(waiter)
                    log.debug("slack_update_coalesced", channel=self.channel, ts=call.message_ts)
                    return waiter
        call.waiters.append(waiter)
        self._queue.append(call)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name=f"slack-lane-{self.channel}")
        return waiter

    async def _drain(self) -> None:
        while self._queue:
            call = self._queue[0]
            if all(waiter.done() for waiter in call.waiters):  # every caller was cancelled
                self._queue.popleft()
                continue
            try:
                if call.method in POSTING_METHODS:
                    await self._take_token()
                response = await self._client._send_patiently(call, lane=self)
            except asyncio.CancelledError:
                for waiter in call.waiters:
                    waiter.cancel()
                raise
            except Exception as exc:
                self._queue.popleft()
                for waiter in call.waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            self._queue.popleft()
            for waiter in call.waiters:
                if not waiter.done():
                    waiter.set_result(response)

    async def _take_token(self) -> None:
        interval = self._client.pacing.post_interval
        if interval <= 0:
            return
        while True:
            now = time.monotonic()
            self._tokens = min(float(self._client.pacing.burst), self._tokens + (now - self._stamp) / interval)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await asyncio.sleep((1 - self._tokens) * interval)

    def rate_limited(self) -> None:
        """Slack said 429: no burst right after the wait."""
        self._tokens = 0.0
        self._stamp = time.monotonic()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()


class PacedWebClient(AsyncWebClient):
    """``AsyncWebClient`` with per-channel lanes, pacing, coalesced updates and patient 429s."""

    def __init__(self, *, token: str | None = None, base_url: str = AsyncWebClient.BASE_URL,
                 pacing: Pacing | None = None, on_wait: OnWait | None = None, **kwargs: Any) -> None:
        self.pacing = pacing or Pacing()
        super().__init__(token=token, base_url=base_url, retry_handlers=retry_handlers(self.pacing), **kwargs)
        #: told about each 429 wait (the runtime records it on the incident's timeline)
        self.on_wait = on_wait
        self._lanes: dict[str, _Lane] = {}

    async def api_call(  # type: ignore[override]
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: Any = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> AsyncSlackResponse:
        call = _Call(method=api_method, incident_id=_incident_in_context(),
                     kwargs={"http_verb": http_verb, "files": files, "data": data, "params": params,
                             "json": json, "headers": headers, "auth": auth})
        channel = call.channel
        if api_method in LANED_METHODS and channel:
            return await self._lane(channel).submit(call)
        return await self._send_patiently(call)

    def _lane(self, channel: str) -> _Lane:
        lane = self._lanes.get(channel)
        if lane is None:
            lane = self._lanes[channel] = _Lane(channel, self)
        return lane

    async def _send_patiently(self, call: _Call, *, lane: _Lane | None = None) -> AsyncSlackResponse:
        """Send ``call`` (5xx and timeouts retried by the retry handlers), waiting out 429s."""
        waited = 0.0
        while True:
            call.sending = True
            try:
                return await super().api_call(call.method, **call.kwargs)
            except SlackApiError as exc:
                status = exc.response.status_code
                if status != 429 or call.method in TRIGGER_BOUND_METHODS:
                    if status >= 500 or status == 429:
                        self._failed(call, status=status, error=str(exc.response.get("error") or status))
                    raise
                delay = _retry_after(exc.response.headers) * self.pacing.retry_after_scale
                if waited + delay > self.pacing.max_rate_limited_s:
                    self._failed(call, status=status, error=f"rate limited for {waited:.0f} s")
                    raise
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self._failed(call, status=None, error=type(exc).__name__)
                raise
            finally:
                call.sending = False
            waited += delay
            if lane is not None:
                lane.rate_limited()
            log.warning("slack_rate_limited", method=call.method, channel=call.channel,
                        retry_after_s=round(delay, 3), waited_s=round(waited, 3), incident_id=call.incident_id)
            await asyncio.gather(asyncio.sleep(delay), self._report(call, delay))

    async def _report(self, call: _Call, delay: float) -> None:
        if self.on_wait is None:
            return
        wait = SlackWait(method=call.method, channel=call.channel, thread_ts=call.arg("thread_ts"),
                         ts=call.message_ts, retry_after_s=delay, incident_id=call.incident_id)
        try:
            await self.on_wait(wait)
        except Exception as exc:  # the call matters more than its note on the timeline
            log.warning("slack_wait_not_recorded", method=call.method, error=repr(exc))

    def _failed(self, call: _Call, *, status: int | None, error: str) -> None:
        log.error("slack_call_failed", method=call.method, channel=call.channel, status=status, error=error,
                  retries=0 if call.method in TRIGGER_BOUND_METHODS else self.pacing.retries,
                  incident_id=call.incident_id)

    def close_lanes(self) -> None:
        """Stop sending (shutdown): calls still queued are cancelled."""
        for lane in self._lanes.values():
            lane.cancel()


def _retry_after(headers: Any) -> float:
    """Slack's ``Retry-After`` in seconds (1 when absent or unreadable)."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                break
    return 1.0


def _incident_in_context() -> int | None:
    """The incident the worker's job is about (``bot.service.worker`` binds it for the job's logs)."""
    value = structlog.contextvars.get_contextvars().get("incident_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def use_in_listeners(app: AsyncApp, client: PacedWebClient) -> None:
    """Bolt hands each listener a fresh ``AsyncWebClient`` of its own; give them ``client`` instead,
    so what a listener posts joins the channel's lane (``views.open`` still goes out at once)."""

    async def paced_client(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        context["client"] = client
        await next()

    app.middleware(paced_client)
