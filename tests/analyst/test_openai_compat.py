"""OpenAICompatClient against a fake chat completions API (``httpx2.MockTransport``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from bot.analyst.client import (
    BRIEF_TOOL_NAME,
    LLMInvalidOutputError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from bot.analyst.openai_compat import OpenAICompatClient
from bot.analyst.schema import brief_schema
from tests.analyst.scenario import VALID_BRIEF

KEY = "sk-openai-test-9876543210-secret"
MODEL = "qwen2.5-32b-instruct"
BASE = "http://vllm.internal:8000/v1"


def completion(message: dict[str, Any], *, finish_reason: str = "tool_calls") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764042000,
        "model": MODEL,
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", **message}}],
        "usage": {"prompt_tokens": 1500, "completion_tokens": 300, "total_tokens": 1800},
    }


def tool_call(arguments: str) -> dict[str, Any]:
    return {
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": BRIEF_TOOL_NAME, "arguments": arguments}}
        ],
    }


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., OpenAICompatClient]]:
    opened: list[httpx2.AsyncClient] = []

    def make(handler: Callable[[httpx2.Request], Any], **kw: Any) -> OpenAICompatClient:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        opened.append(http)
        kw.setdefault("max_retries", 0)
        kw.setdefault("base_url", BASE)
        return OpenAICompatClient(SecretStr(KEY), model=MODEL, http_client=http, **kw)

    yield make
    for http in opened:
        await http.aclose()


async def ask(client: OpenAICompatClient, *, timeout: float = 5.0):
    return await client.complete_brief(system="rules", user="evidence", schema=brief_schema(), timeout=timeout)


async def test_request_forces_the_function_and_reply_is_parsed(
    make_client: Callable[..., OpenAICompatClient],
) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=completion(tool_call(json.dumps(VALID_BRIEF))))

    reply = await ask(make_client(handler))
    assert reply.data == VALID_BRIEF
    assert (reply.input_tokens, reply.output_tokens, reply.model) == (1500, 300, MODEL)

    (request,) = seen
    assert str(request.url) == BASE + "/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["model"] == MODEL
    assert body["messages"] == [{"role": "system", "content": "rules"}, {"role": "user", "content": "evidence"}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": BRIEF_TOOL_NAME}}
    (tool,) = body["tools"]
    assert tool["type"] == "function"
    assert tool["function"]["name"] == BRIEF_TOOL_NAME
    assert tool["function"]["parameters"] == brief_schema()
    assert body["max_tokens"] > 0  # compatible servers know max_tokens


async def test_openai_itself_gets_max_completion_tokens() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=completion(tool_call(json.dumps(VALID_BRIEF))))

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        client = OpenAICompatClient(SecretStr(KEY), model="gpt-4.1-mini", http_client=http, max_retries=0)
        await ask(client)
    assert "max_completion_tokens" in seen[0] and "max_tokens" not in seen[0]


async def test_json_content_is_accepted_when_the_server_ignores_tool_choice(
    make_client: Callable[..., OpenAICompatClient],
) -> None:
    client = make_client(
        lambda r: httpx2.Response(200, json=completion({"content": json.dumps(VALID_BRIEF)}, finish_reason="stop"))
    )
    assert (await ask(client)).data == VALID_BRIEF


@pytest.mark.parametrize(
    ("message", "finish", "match"),
    [
        (tool_call("{not json"), "tool_calls", "not JSON"),
        (tool_call("[1, 2]"), "tool_calls", "not a JSON object"),
        ({"content": "I cannot help"}, "stop", "not JSON"),
        ({"content": None}, "stop", "no submit_brief tool call"),
        (tool_call('{"title": "cut'), "length", "max_tokens"),
    ],
)
async def test_unusable_replies_are_invalid_output(
    make_client: Callable[..., OpenAICompatClient], message: dict[str, Any], finish: str, match: str
) -> None:
    client = make_client(lambda r: httpx2.Response(200, json=completion(message, finish_reason=finish)))
    with pytest.raises(LLMInvalidOutputError, match=match) as info:
        await ask(client)
    assert info.value.output_tokens == 300


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
async def test_http_errors_are_unavailable(make_client: Callable[..., OpenAICompatClient], status: int) -> None:
    body = {"error": {"message": "upstream overloaded", "type": "server_error", "code": None}}
    client = make_client(lambda r: httpx2.Response(status, json=body))
    with pytest.raises(LLMUnavailableError) as info:
        await ask(client)
    assert info.value.status_code == status
    assert "upstream overloaded" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


async def test_slow_answer_times_out(make_client: Callable[..., OpenAICompatClient]) -> None:
    async def handler(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(5)
        return httpx2.Response(200, json=completion(tool_call("{}")))

    with pytest.raises(LLMTimeoutError):
        await ask(make_client(handler), timeout=0.2)


async def test_local_server_without_a_key() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=completion(tool_call(json.dumps(VALID_BRIEF))))

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        client = OpenAICompatClient(None, model="llama3.1", base_url="http://ollama:11434/v1", http_client=http)
        await ask(client)
    assert seen[0].url.host == "ollama"
