"""What the analyst chain needs from a model provider, and the errors a provider may raise.

    LLMError                      any failed model call; carries provider, model, elapsed_s
     ├── LLMTimeoutError          the attempt's budget ran out (SDK timeout or our asyncio guard)
     ├── LLMUnavailableError      HTTP 5xx/429/overloaded, auth or connection failure: try the fallback
     └── LLMInvalidOutputError    the model answered, but not with the forced tool call / valid JSON

No error message or attribute ever carries the API key or the prompt text.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

#: The one tool every provider is forced to call; its input is a ``BriefDraft``.
BRIEF_TOOL_NAME = "submit_brief"
BRIEF_TOOL_DESCRIPTION = (
    "Submit the incident brief. Call this exactly once with the complete brief; "
    "cite only evidence ids that appear in the evidence blocks."
)


async def load_sdk(name: str) -> ModuleType:
    """The model SDK ``name``, imported in a thread the first time. The SDKs take seconds to import
    (anthropic about 2 s of CPU on a small machine, openai about 1 s): a client imports its SDK on its
    first call, not when it is built, and a worker starts the import as soon as it claims jobs
    (``bot.analyst.chain.Analyst.load_sdks``), so neither its start nor the first brief waits for it.
    ``import_module`` returns at once when the import is done, and waits for it while another thread
    runs it."""
    return await asyncio.to_thread(importlib.import_module, name)


@dataclass(frozen=True, slots=True)
class LLMReply:
    """A provider's answer: the forced tool call's arguments, parsed, plus usage."""

    data: dict[str, Any]
    input_tokens: int
    output_tokens: int
    model: str


class LLMError(Exception):
    """A model call failed. ``str(exc)`` is short and safe to log or show."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        status_code: int | None = None,
        request_id: str | None = None,
        elapsed_s: float | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        self.elapsed_s = elapsed_s
        #: tokens the provider billed for a reply we could not use (invalid output)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"model={self.model!r}, status_code={self.status_code!r})"
        )


class LLMTimeoutError(LLMError):
    """The attempt did not finish within its budget."""


class LLMUnavailableError(LLMError):
    """The provider refused or failed (5xx, 429, overloaded, auth, connection)."""


class LLMInvalidOutputError(LLMError):
    """The provider answered without a usable ``submit_brief`` call."""


@runtime_checkable
class LLMClient(Protocol):
    """One model behind one provider. Implementations: ``AnthropicClient``, ``OpenAICompatClient``;
    tests use small fakes."""

    model: str

    async def complete_brief(
        self, *, system: str, user: str, schema: dict[str, Any], timeout: float, tool: str = ...,
    ) -> LLMReply:
        """Ask for a brief (or, with ``tool``, another structured answer); return the tool call's
        arguments. Raise an ``LLMError`` subclass."""
        ...


@runtime_checkable
class SupportsAclose(Protocol):
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """US dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, *, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


#: Prices by model name (a dated name such as ``claude-haiku-4-5-20251001`` matches by prefix).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-haiku-4-5": ModelPrice(input_per_mtok=1.0, output_per_mtok=5.0),
}


@dataclass(slots=True)
class PriceTable:
    prices: dict[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def cost(self, model: str | None, *, input_tokens: int, output_tokens: int) -> float:
        """The cost of one call; 0 for a model the table does not know."""
        if not model:
            return 0.0
        price = self.prices.get(model)
        if price is None:
            matches = [name for name in self.prices if model.startswith(name)]
            if not matches:
                return 0.0
            price = self.prices[max(matches, key=len)]
        return price.cost(input_tokens=input_tokens, output_tokens=output_tokens)
