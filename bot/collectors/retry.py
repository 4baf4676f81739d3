"""Bounded retries for the collectors' reads: an upstream that says "busy, come back in N seconds"
(429 or 503 with ``Retry-After``) gets a second chance when N fits, instead of an error in the brief.

``RetryAfterTransport`` wraps the transport of each collector client. It retries only GET and HEAD (the
collectors never write), at most ``max_retries`` times, waiting what ``Retry-After`` asks (seconds or an
HTTP date) when that is at most ``max_wait`` seconds — longer waits would eat the source's time budget,
so the answer goes back to the collector as it is and the brief names the source as failed. Without
``Retry-After`` it waits ``default_wait``. The per-source budget (``gather_sources``) still bounds it all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import structlog

log = structlog.get_logger(__name__)

RETRY_STATUSES = frozenset({429, 503})
IDEMPOTENT = frozenset({"GET", "HEAD"})


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: ``"2"`` → 2.0, an HTTP date → its distance; None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, *, max_retries: int = 2, max_wait: float = 2.0,
                 default_wait: float = 0.25, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._inner = inner
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._default_wait = default_wait
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            response = await self._inner.handle_async_request(request)
            if (request.method not in IDEMPOTENT or response.status_code not in RETRY_STATUSES
                    or attempt >= self._max_retries):
                return response
            wait = retry_after_seconds(response.headers.get("retry-after"))
            wait = self._default_wait if wait is None else wait
            if wait > self._max_wait:
                return response
            await response.aclose()
            attempt += 1
            log.info("upstream_retry", host=request.url.host, path=request.url.path,
                     status=response.status_code, wait_s=wait, attempt=attempt)
            await self._sleep(wait)

    async def aclose(self) -> None:
        await self._inner.aclose()
