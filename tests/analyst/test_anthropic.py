"""AnthropicClient against a fake Messages API (``httpx2.MockTransport``; respx cannot see httpx2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from bot.analyst.anthropic import AnthropicClient
from bot.analyst.client import (
    BRIEF_TOOL_NAME,
    LLMInvalidOutputError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from bot.analyst.schema import brief_schema
from tests.analyst.scenario import VALID_BRIEF

KEY = "sk-ant-test-0123456789-secret"
MODEL = "claude-haiku-4-5"

Handler = Callable[[httpx2.Request], Any]


def message(content: list[dict[str, Any]], *, stop_reason: str = "tool_use") -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 2345, "output_tokens": 678},
    }


def tool_use(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": "toolu_01", "name": BRIEF_TOOL_NAME, "input": data}


def api_error(status: int, kind: str, text: str) -> httpx2.Response:
    return httpx2.Response(
        status,
        json={"type": "error", "error": {"type": kind, "message": text}},
        headers={"request-id": "req_123"},
    )


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., AnthropicClient]]:
    opened: list[httpx2.AsyncClient] = []

    def make(handler: Handler, **kw: Any) -> AnthropicClient:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        opened.append(http)
        kw.setdefault("max_retries", 0)
        return AnthropicClient(SecretStr(KEY), model=MODEL, http_client=http, **kw)

    yield make
    for http in opened:
        await http.aclose()


async def ask(client: AnthropicClient, *, timeout: float = 5.0):
    return await client.complete_brief(
        system="analyst rules", user="the evidence", schema=brief_schema(), timeout=timeout
    )


async def test_request_forces_the_tool_and_reply_is_parsed(make_client: Callable[..., AnthropicClient]) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=message([{"type": "text", "text": "Here:"}, tool_use(VALID_BRIEF)]))

    client = make_client(handler)
    reply = await ask(client)

    assert reply.data == VALID_BRIEF
    assert (reply.input_tokens, reply.output_tokens) == (2345, 678)
    assert reply.model == "claude-haiku-4-5-20251001"

    (request,) = seen
    assert request.method == "POST" and request.url.path == "/v1/messages"
    body = json.loads(request.content)
    assert body["model"] == MODEL
    assert body["system"] == "analyst rules"
    assert body["messages"] == [{"role": "user", "content": "the evidence"}]
    assert body["tool_choice"] == {"type": "tool", "name": BRIEF_TOOL_NAME}
    (tool,) = body["tools"]
    assert tool["name"] == BRIEF_TOOL_NAME
    assert tool["input_schema"] == brief_schema()
    assert body["max_tokens"] > 0


async def test_base_url_is_used(make_client: Callable[..., AnthropicClient]) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(200, json=message([tool_use(VALID_BRIEF)]))

    await ask(make_client(handler, base_url="http://llm-proxy.internal:8080"))
    assert seen == ["http://llm-proxy.internal:8080/v1/messages"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "api_error"), (529, "overloaded_error"), (429, "rate_limit_error"), (401, "authentication_error")],
)
async def test_http_errors_are_unavailable(
    make_client: Callable[..., AnthropicClient], status: int, kind: str
) -> None:
    client = make_client(lambda request: api_error(status, kind, "try later"))
    with pytest.raises(LLMUnavailableError) as info:
        await ask(client)
    exc = info.value
    assert exc.status_code == status
    assert exc.provider == "anthropic" and exc.model == MODEL
    assert kind in str(exc) and "try later" in str(exc)
    assert KEY not in str(exc) and KEY not in repr(exc)


async def test_sdk_retry_is_bounded(make_client: Callable[..., AnthropicClient]) -> None:
    calls: list[int] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return api_error(529, "overloaded_error", "Overloaded")

    with pytest.raises(LLMUnavailableError):
        await ask(make_client(handler, max_retries=1))
    assert len(calls) == 2


async def test_reply_without_the_tool_call_is_invalid_output(make_client: Callable[..., AnthropicClient]) -> None:
    client = make_client(
        lambda r: httpx2.Response(200, json=message([{"type": "text", "text": "I think..."}], stop_reason="end_turn"))
    )
    with pytest.raises(LLMInvalidOutputError) as info:
        await ask(client)
    assert "stop_reason=end_turn" in str(info.value)
    assert info.value.input_tokens == 2345  # billed, so counted


async def test_truncated_reply_is_invalid_output(make_client: Callable[..., AnthropicClient]) -> None:
    client = make_client(
        lambda r: httpx2.Response(200, json=message([{"type": "text", "text": "…"}], stop_reason="max_tokens"))
    )
    with pytest.raises(LLMInvalidOutputError, match="max_tokens"):
        await ask(client)


async def test_slow_answer_times_out(make_client: Callable[..., AnthropicClient]) -> None:
    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(5)
        return httpx2.Response(200, json=message([tool_use(VALID_BRIEF)]))

    client = make_client(handler)
    with pytest.raises(LLMTimeoutError) as info:
        await ask(client, timeout=0.2)
    assert info.value.elapsed_s is not None and info.value.elapsed_s < 1


async def test_connection_failure_is_unavailable(make_client: Callable[..., AnthropicClient]) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    with pytest.raises(LLMUnavailableError, match="connection error"):
        await ask(make_client(handler))


async def test_repr_hides_the_key() -> None:
    client = AnthropicClient(SecretStr(KEY), model=MODEL)
    assert KEY not in repr(client)
    await client.aclose()


async def test_through_the_chain(make_client: Callable[..., AnthropicClient]) -> None:
    """The real schema, prompt and validation end to end: a grounded reply becomes a COMPLETED brief."""
    from bot.analyst.chain import Analyst
    from bot.models import AnalysisStatus
    from tests.analyst import scenario

    prompts: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        prompts.append(body)
        if body["tool_choice"]["name"] == "submit_check":  # the second opinion on the HIGH rollback
            check = {"type": "tool_use", "id": "toolu_02", "name": "submit_check",
                     "input": {"agree": True, "reason": "deploys-3 precedes the p99 rise in metrics-1"}}
            return httpx2.Response(200, json=message([check]))
        return httpx2.Response(200, json=message([tool_use(VALID_BRIEF)]))

    analyst = Analyst(primary=make_client(handler), attempt_timeout=2, chain_timeout=4)
    brief = await analyst.analyse(scenario.request(), scenario.checkout_results())
    assert brief.analysis.status is AnalysisStatus.COMPLETED
    assert brief.analysis.model == "claude-haiku-4-5-20251001"
    assert brief.analysis.cost_usd == pytest.approx(2 * (2345 / 1e6 + 678 * 5 / 1e6))  # brief + check
    assert "[deploys-3]" in prompts[0]["messages"][0]["content"]
    assert brief.analysis.second_opinion is not None and brief.analysis.second_opinion.agree

    failing = Analyst(primary=make_client(lambda r: api_error(500, "api_error", "boom")))
    brief = await failing.analyse(scenario.request(), scenario.checkout_results())
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.analysis.fallback_reason == "model error: HTTP 500 api_error: boom"
