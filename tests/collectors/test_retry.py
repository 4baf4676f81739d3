"""Bounded retries on 429/503 + Retry-After for the collectors' reads."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from bot.collectors.retry import RetryAfterTransport, retry_after_seconds


def counting(*statuses: int, retry_after: str | None = "1") -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        status = statuses[min(len(seen), len(statuses)) - 1]
        headers = {"Retry-After": retry_after} if retry_after and status != 200 else {}
        return httpx.Response(status, headers=headers, json={})

    return httpx.MockTransport(handler), seen


async def test_retry_after_is_waited_then_the_answer_returned() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    inner, seen = counting(429, 503, 200)
    async with httpx.AsyncClient(transport=RetryAfterTransport(inner, sleep=sleep), base_url="http://u") as c:
        assert (await c.get("/x")).status_code == 200
    assert len(seen) == 3 and waits == [1.0, 1.0]


async def test_at_most_two_retries_then_the_error_is_returned() -> None:
    async def sleep(seconds: float) -> None:
        return None

    inner, seen = counting(429)
    async with httpx.AsyncClient(transport=RetryAfterTransport(inner, sleep=sleep), base_url="http://u") as c:
        assert (await c.get("/x")).status_code == 429
    assert len(seen) == 3


async def test_long_waits_and_writes_are_not_retried() -> None:
    inner, seen = counting(429, 200, retry_after="120")
    async with httpx.AsyncClient(transport=RetryAfterTransport(inner), base_url="http://u") as c:
        assert (await c.get("/x")).status_code == 429  # two minutes would eat the source's budget
        assert len(seen) == 1
    inner, seen = counting(503, 200)
    async with httpx.AsyncClient(transport=RetryAfterTransport(inner), base_url="http://u") as c:
        assert (await c.post("/x")).status_code == 503
        assert seen == ["POST"]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2025, 11, 25, 3, 44, 0, tzinfo=UTC)
    assert retry_after_seconds("3", now=now) == 3.0
    assert retry_after_seconds("Tue, 25 Nov 2025 03:44:05 GMT", now=now) == 5.0
    assert retry_after_seconds("Tue, 25 Nov 2025 03:43:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None and retry_after_seconds(None) is None
    assert retry_after_seconds("²", now=now) is None  # a digit to str.isdigit, not to float()
