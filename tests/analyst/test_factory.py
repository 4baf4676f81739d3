from __future__ import annotations

from typing import Any

from bot.analyst.anthropic import AnthropicClient
from bot.analyst.chain import NO_MODEL_REASON, Analyst
from bot.analyst.factory import build_analyst
from bot.analyst.openai_compat import OpenAICompatClient
from bot.models import AnalysisStatus
from bot.settings import Settings
from tests.analyst import scenario

NO_KEYS: dict[str, Any] = {
    "anthropic_api_key": None,
    "openai_api_key": None,
    "openai_base_url": None,
    "anthropic_base_url": None,
    "sitrep_fallback_model": None,
}


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **{**NO_KEYS, **values})  # type: ignore[call-arg]


async def test_no_key_means_rule_based_briefs() -> None:
    analyst = build_analyst(settings())
    assert analyst.primary is None and analyst.fallback is None
    brief = await analyst.analyse(scenario.request(), scenario.checkout_results())
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.analysis.fallback_reason == NO_MODEL_REASON
    await analyst.aclose()


async def test_anthropic_primary_with_openai_compatible_fallback() -> None:
    analyst = build_analyst(
        settings(
            anthropic_api_key="sk-ant-x",
            openai_base_url="http://vllm:8000/v1",
            sitrep_fallback_model="qwen2.5-32b",
            sitrep_llm_timeout=7.0,
            sitrep_llm_chain_timeout=15.0,
        )
    )
    assert isinstance(analyst, Analyst)
    assert isinstance(analyst.primary, AnthropicClient) and analyst.primary.model == "claude-haiku-4-5"
    assert isinstance(analyst.fallback, OpenAICompatClient) and analyst.fallback.model == "qwen2.5-32b"
    assert (analyst.attempt_timeout, analyst.chain_timeout) == (7.0, 15.0)
    await analyst.aclose()


async def test_openai_compatible_only() -> None:
    analyst = build_analyst(settings(openai_api_key="sk-x", sitrep_model="gpt-4.1-mini"))
    assert isinstance(analyst.primary, OpenAICompatClient)
    assert analyst.fallback is None
    await analyst.aclose()


async def test_claude_fallback_stays_on_anthropic() -> None:
    analyst = build_analyst(
        settings(anthropic_api_key="sk-ant-x", sitrep_fallback_model="claude-sonnet-4-5")
    )
    assert isinstance(analyst.fallback, AnthropicClient)
    assert analyst.fallback.model == "claude-sonnet-4-5"
    await analyst.aclose()
