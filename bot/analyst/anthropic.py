"""``LLMClient`` over Anthropic's Messages API: structured output by forced tool use.

The model must call ``submit_brief`` (``tool_choice`` forces it); the tool's ``input`` is the brief.
One attempt is bounded twice: the SDK's own ``timeout`` per HTTP request and an asyncio guard over
the whole call including the SDK's retries (keep ``max_retries`` low).
"""

from __future__ import annotations

import asyncio
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
    import anthropic
    import httpx2

PROVIDER = "anthropic"


class AnthropicClient:
    """One Claude model. ``http_client`` (an ``httpx2.AsyncClient``) is for tests and proxies; the
    caller keeps ownership of a client it passes in. The SDK is imported on the first call."""

    #: the SDK this client's calls import (``bot.analyst.chain.Analyst.load_sdks``)
    sdk_module: ClassVar[str] = "anthropic"

    def __init__(
        self,
        api_key: SecretStr,
        *,
        model: str,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        max_retries: int = 1,
        max_tokens: int = 2048,
    ) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self._owns_http_client = http_client is None
        self._options: dict[str, Any] = {"api_key": api_key.get_secret_value(), "base_url": base_url,
                                         "http_client": http_client, "max_retries": max_retries}
        self._sdk: anthropic.AsyncAnthropic | None = None

    def __repr__(self) -> str:
        return f"AnthropicClient(model={self.model!r})"

    async def complete_brief(
        self, *, system: str, user: str, schema: dict[str, Any], timeout: float,
        tool: str = BRIEF_TOOL_NAME,
    ) -> LLMReply:
        anthropic = await load_sdk(self.sdk_module)  # before the call's budget starts: a one-off
        if self._sdk is None:
            self._sdk = anthropic.AsyncAnthropic(**self._options)
        started = time.monotonic()

        def context() -> dict[str, Any]:
            return {
                "provider": PROVIDER,
                "model": self.model,
                "elapsed_s": round(time.monotonic() - started, 3),
            }

        try:
            async with asyncio.timeout(timeout):
                message = await self._sdk.messages.create(
                    model=self.model,
                    max_tokens=self._max_tokens,
                    system=system,
                    messages=[{"role": "user", "content": user}],
                    tools=[
                        {
                            "name": tool,
                            "description": BRIEF_TOOL_DESCRIPTION,
                            "input_schema": schema,
                        }
                    ],
                    tool_choice={"type": "tool", "name": tool},
                    timeout=timeout,
                )
        except TimeoutError as exc:
            raise LLMTimeoutError(f"no answer within {timeout:g} s", **context()) from exc
        except anthropic.APITimeoutError as exc:
            raise LLMTimeoutError(f"request timed out ({timeout:g} s budget)", **context()) from exc
        except anthropic.APIStatusError as exc:
            raise LLMUnavailableError(
                _status_message(exc),
                status_code=exc.status_code,
                request_id=exc.request_id,
                **context(),
            ) from exc
        except anthropic.APIConnectionError as exc:
            raise LLMUnavailableError("connection error", **context()) from exc
        except anthropic.APIResponseValidationError as exc:
            raise LLMInvalidOutputError("response did not match the API schema", **context()) from exc
        except anthropic.AnthropicError as exc:
            raise LLMUnavailableError(f"client error: {type(exc).__name__}", **context()) from exc

        usage = message.usage
        input_tokens = usage.input_tokens or 0
        output_tokens = usage.output_tokens or 0
        for block in message.content:
            if isinstance(block, anthropic.types.ToolUseBlock) and block.name == tool:
                if not isinstance(block.input, dict):
                    break
                return LLMReply(
                    data=dict(block.input),
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    model=message.model or self.model,
                )
        reason = (
            "output cut off at max_tokens"
            if message.stop_reason == "max_tokens"
            else f"no {tool} tool call (stop_reason={message.stop_reason})"
        )
        raise LLMInvalidOutputError(
            reason, input_tokens=input_tokens, output_tokens=output_tokens, **context()
        )

    async def aclose(self) -> None:
        if self._owns_http_client and self._sdk is not None:
            await self._sdk.close()


def _status_message(exc: anthropic.APIStatusError) -> str:
    kind = exc.type or type(exc).__name__
    detail = (exc.api_message or "").strip().replace("\n", " ")[:160]
    return f"HTTP {exc.status_code} {kind}" + (f": {detail}" if detail else "")

