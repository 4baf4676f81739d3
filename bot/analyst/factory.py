"""Build the ``Analyst`` from ``Settings``: which provider serves which model.

- primary ``SITREP_MODEL``: Anthropic when ``ANTHROPIC_API_KEY`` is set, else an OpenAI-compatible
  server when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set (then ``SITREP_MODEL`` must be a name
  that server knows), else none: every brief is rule-based.
- fallback ``SITREP_FALLBACK_MODEL``: a ``claude-*`` name goes to Anthropic when it has a key;
  other names to the OpenAI-compatible server when configured, else to Anthropic.

Call ``await analyst.aclose()`` at shutdown (the app's lifespan).

A provider's SDK (anthropic ~2 s of CPU to import here, openai ~1 s) is imported only when its key
or server is configured, and then by ``Analyst.load_sdks`` once a worker has started (or before the
first analysis): no process waits for one to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.analyst.chain import Analyst
from bot.analyst.client import LLMClient, PriceTable
from bot.analyst.deterministic import DeterministicAnalyzer, ReplicaCeiling
from bot.settings import Settings

if TYPE_CHECKING:
    import httpx2


def build_client(
    settings: Settings, *, model: str, http_client: httpx2.AsyncClient | None = None
) -> LLMClient | None:
    """A client for ``model`` on the provider that can serve it, or None."""
    has_anthropic = settings.anthropic_api_key is not None
    has_openai = settings.openai_api_key is not None or settings.openai_base_url is not None
    prefer_anthropic = model.startswith("claude") or not has_openai
    if has_anthropic and prefer_anthropic and settings.anthropic_api_key is not None:
        from bot.analyst.anthropic import AnthropicClient

        return AnthropicClient(
            settings.anthropic_api_key,
            model=model,
            base_url=settings.anthropic_base_url,
            http_client=http_client,
            max_retries=1,
        )
    if has_openai:
        from bot.analyst.openai_compat import OpenAICompatClient

        return OpenAICompatClient(
            settings.openai_api_key,
            model=model,
            base_url=settings.openai_base_url,
            http_client=http_client,
            max_retries=1,
        )
    return None


def build_analyst(settings: Settings, *, http_client: httpx2.AsyncClient | None = None,
                  replica_ceiling: ReplicaCeiling | None = None) -> Analyst:
    """``replica_ceiling``: the most replicas the policy lets a scale of a service ask for (the
    rule-based analyzer proposes within it)."""
    primary = build_client(settings, model=settings.sitrep_model, http_client=http_client)
    fallback = None
    if settings.sitrep_fallback_model and primary is not None:
        fallback = build_client(settings, model=settings.sitrep_fallback_model, http_client=http_client)
    escalation = None
    if settings.sitrep_escalation_model and primary is not None:
        escalation = build_client(settings, model=settings.sitrep_escalation_model, http_client=http_client)
    return Analyst(
        primary=primary,
        fallback=fallback,
        escalation=escalation,
        hourly_budget_usd=settings.sitrep_llm_hourly_budget_usd,
        deterministic=DeterministicAnalyzer(replica_ceiling=replica_ceiling),
        attempt_timeout=settings.sitrep_llm_timeout,
        chain_timeout=settings.sitrep_llm_chain_timeout,
        prices=PriceTable(),
    )
