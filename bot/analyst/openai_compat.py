"""``LLMClient`` over any OpenAI-compatible chat completions API (OpenAI, Azure, vLLM, Ollama,
OpenRouter…): structured output by a forced function tool ``submit_brief``.

Servers that ignore ``tool_choice`` and answer with a JSON object as the message content are
accepted too; anything else is ``LLMInvalidOutputError``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from bot.analyst.client import (
    BRIEF_TOOL_DESCRIPTION,
    BRIEF_TOOL_NAME,
    LLMInvalidOutputError,
    LLMReply,
    LLMTimeoutError,
    LLMUnavailableError,
    load_sdk,
)

if TYPE_CHECKING:  # the SDK loads on the first call (bot.analyst.client.load_sdk)
    import httpx2
    import openai

PROVIDER = "openai"
#: Local servers (Ollama, vLLM) need no key, but the SDK insists on one.
NO_KEY = "sk-no-key"


class OpenAICompatClient:
    """One model on an OpenAI-compatible endpoint. The SDK is imported on the first call."""

    #: the SDK this client's calls import (``bot.analyst.chain.Analyst.load_sdks``)
    sdk_module: ClassVar[str] = "openai"

    def __init__(
        self,
        api_key: SecretStr | None,
        *,
        model: str,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        max_retries: int = 1,
        max_tokens: int = 2048,
    ) -> None:
        self.model = model
        # OpenAI's own newer models take only max_completion_tokens; most compatible servers
        # (vLLM, Ollama, older gateways) know max_tokens.
        self._limit = {("max_completion_tokens" if base_url is None else "max_tokens"): max_tokens}
        self._owns_http_client = http_client is None
        self._options: dict[str, Any] = {"api_key": api_key.get_secret_value() if api_key else NO_KEY,
                                         "base_url": base_url, "http_client": http_client,
                                         "max_retries": max_retries}
        self._sdk: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatClient(model={self.model!r})"

    async def complete_brief(
        self, *, system: str, user: str, schema: dict[str, Any], timeout: float,
        tool: str = BRIEF_TOOL_NAME,
    ) -> LLMReply:
        openai = await load_sdk(self.sdk_module)  # before the call's budget starts: a one-off
        if self._sdk is None:
            self._sdk = openai.AsyncOpenAI(**self._options)
        started = time.monotonic()

        def context() -> dict[str, Any]:
            return {
                "provider": PROVIDER,
                "model": self.model,
                "elapsed_s": round(time.monotonic() - started, 3),
            }

        try:
            async with asyncio.timeout(timeout):
                completion = await self._sdk.chat.completions.create(
                    model=self.model,
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    tools=[
                        {
                            "type": "function",
                            "function": {
                                "name": tool,
                                "description": BRIEF_TOOL_DESCRIPTION,
                                "parameters": schema,
                            },
                        }
                    ],
                    tool_choice={"type": "function", "function": {"name": tool}},
                    timeout=timeout,
                    **self._limit,  # type: ignore[arg-type]
                )
        except TimeoutError as exc:
            raise LLMTimeoutError(f"no answer within {timeout:g} s", **context()) from exc
        except openai.APITimeoutError as exc:
            raise LLMTimeoutError(f"request timed out ({timeout:g} s budget)", **context()) from exc
        except openai.APIStatusError as exc:
            raise LLMUnavailableError(
                _status_message(exc),
                status_code=exc.status_code,
                request_id=exc.request_id,
                **context(),
            ) from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailableError("connection error", **context()) from exc
        except openai.APIResponseValidationError as exc:
            raise LLMInvalidOutputError("response did not match the API schema", **context()) from exc
        except openai.OpenAIError as exc:
            raise LLMUnavailableError(f"client error: {type(exc).__name__}", **context()) from exc

        usage = completion.usage
        input_tokens = usage.prompt_tokens if usage else 0
        output_tokens = usage.completion_tokens if usage else 0

        def invalid(reason: str) -> LLMInvalidOutputError:
            return LLMInvalidOutputError(
                reason, input_tokens=input_tokens, output_tokens=output_tokens, **context()
            )

        if not completion.choices:
            raise invalid("no choices in the reply")
        choice = completion.choices[0]
        if choice.finish_reason == "length":
            raise invalid("output cut off at max_tokens")
        arguments: str | None = None
        for call in choice.message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is not None and function.name == tool:
                arguments = function.arguments
                break
        if arguments is None:
            arguments = choice.message.content  # servers that ignore tool_choice
        if not arguments:
            raise invalid(f"no {tool} tool call (finish_reason={choice.finish_reason})")
        try:
            data = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise invalid(f"tool arguments are not JSON: {exc.msg} at char {exc.pos}") from exc
        if not isinstance(data, dict):
            raise invalid("tool arguments are not a JSON object")
        return LLMReply(
            data=data,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=completion.model or self.model,
        )

    async def aclose(self) -> None:
        if self._owns_http_client and self._sdk is not None:
            await self._sdk.close()


def _status_message(exc: openai.APIStatusError) -> str:
    kind = exc.type or exc.code or type(exc).__name__
    detail = ""
    if isinstance(exc.body, dict):
        raw = exc.body.get("message")
        if isinstance(raw, str):
            detail = raw.strip().replace("\n", " ")[:160]
    return f"HTTP {exc.status_code} {kind}" + (f": {detail}" if detail else "")
