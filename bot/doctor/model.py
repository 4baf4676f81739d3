"""The model: each model Sitrep would call, on the provider that would serve it (the rule of
``bot.analyst.factory.build_client``, restated here so that the doctor never imports an SDK).

- Anthropic: ``POST /v1/messages/count_tokens`` (free, validates the key and the model name); a base URL
  that does not serve it (some proxies) gets a one-token ``/v1/messages`` request instead.
- OpenAI-compatible: ``GET {OPENAI_BASE_URL}/models`` lists the served model ids.
"""

from __future__ import annotations

import httpx

from bot.doctor.base import Context, Section, Step, http_reason, json_body, listed
from bot.settings import Settings

ANTHROPIC_URL = "https://api.anthropic.com"
OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_VERSION = "2023-06-01"
PING = [{"role": "user", "content": "ping"}]


def model_routes(settings: Settings) -> list[tuple[str, str, str]]:
    """``(role, model, provider)`` for each model Sitrep would call; provider ``anthropic`` | ``openai``."""
    has_anthropic = settings.anthropic_api_key is not None
    has_openai = settings.openai_api_key is not None or settings.openai_base_url is not None

    def provider(model: str) -> str | None:
        if has_anthropic and (model.startswith("claude") or not has_openai):
            return "anthropic"
        return "openai" if has_openai else None

    primary = provider(settings.sitrep_model)
    if primary is None:
        return []
    routes = [("SITREP_MODEL", settings.sitrep_model, primary)]
    for role, model in (("SITREP_FALLBACK_MODEL", settings.sitrep_fallback_model),
                        ("SITREP_ESCALATION_MODEL", settings.sitrep_escalation_model)):
        if model and (chosen := provider(model)) is not None:
            routes.append((role, model, chosen))
    return routes


async def check_model(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    routes = model_routes(settings)
    if not routes:
        section.skipped("no model: every brief is rule-based; set ANTHROPIC_API_KEY (or OPENAI_API_KEY and "
                        "OPENAI_BASE_URL for an OpenAI-compatible server)")
        return
    anthropic = [(role, model) for role, model, provider in routes if provider == "anthropic"]
    openai = [(role, model) for role, model, provider in routes if provider == "openai"]
    timeout = settings.sitrep_llm_timeout
    if anthropic:
        assert settings.anthropic_api_key is not None
        base = (settings.anthropic_base_url or ANTHROPIC_URL).rstrip("/")
        section.url, section.url_setting = base, "ANTHROPIC_BASE_URL"
        headers = {"x-api-key": settings.anthropic_api_key.get_secret_value(),
                   "anthropic-version": ANTHROPIC_VERSION}
        async with ctx.client(base, headers=headers, timeout=timeout) as client:
            for role, model in anthropic:
                await _anthropic(section, client, role=role, model=model)
    if openai:
        base = (settings.openai_base_url or OPENAI_URL).rstrip("/")
        section.url, section.url_setting = base, "OPENAI_BASE_URL"
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with ctx.client(base, headers=headers, timeout=timeout) as client:
            await _openai(section, client, models=openai)


async def _anthropic(section: Section, client: httpx.AsyncClient, *, role: str, model: str) -> None:
    step = section.step(f"Anthropic {model} ({role})")
    response = await step.post(client, "/v1/messages/count_tokens", json={"model": model, "messages": PING})
    if response.status_code == 404 and not _names_model(response):
        # a proxy without count_tokens: the smallest real request
        response = await step.post(client, "/v1/messages", json={"model": model, "max_tokens": 1, "messages": PING})
    if response.is_success:
        body = json_body(response)
        used = body.get("input_tokens") if isinstance(body, dict) else None
        used = used if used is not None else ((body.get("usage") or {}).get("input_tokens")
                                              if isinstance(body, dict) else None)
        step.ok(f"the key and {model} are accepted" + (f" ({used} input tokens counted)" if used else ""))
        return
    _anthropic_failure(step, response, role=role, model=model)


def _names_model(response: httpx.Response) -> bool:
    return "model" in http_reason(response).lower()


def _anthropic_failure(step: Step, response: httpx.Response, *, role: str, model: str) -> None:
    reason = http_reason(response)
    status = response.status_code
    if status == 401:
        step.fail(f"Anthropic refused ANTHROPIC_API_KEY ({reason})",
                  fix="create a key at https://console.anthropic.com/settings/keys and set ANTHROPIC_API_KEY")
    elif status == 403:
        step.fail(f"the key may not use {model} ({reason})", fix=f"use a model this key's workspace allows in {role}")
    elif status == 404:
        step.fail(f"Anthropic does not know the model {model!r} ({reason})",
                  fix=f"set {role} to a model id such as claude-haiku-4-5 (see https://docs.anthropic.com/en/docs/"
                      "about-claude/models)")
    elif status in (429, 529):
        step.fail(f"Anthropic is busy or the key is over its limits ({reason})",
                  fix="try again in a minute; if it persists, check the organisation's rate limits and credit")
    else:
        step.fail(f"Anthropic answered {reason}", fix="check ANTHROPIC_BASE_URL (unset: https://api.anthropic.com)")


async def _openai(section: Section, client: httpx.AsyncClient, *, models: list[tuple[str, str]]) -> None:
    step = section.step("OpenAI-compatible models")
    response = await step.get(client, "models")
    if response.status_code == 401:
        step.fail(f"the server refused OPENAI_API_KEY ({http_reason(response)})", fix="set a valid OPENAI_API_KEY")
        return
    if response.status_code == 404:
        step.fail("the base URL does not answer /models",
                  fix="OPENAI_BASE_URL is the API root the SDK appends /chat/completions to; it usually ends in "
                      "/v1 (e.g. http://vllm:8000/v1, http://ollama:11434/v1)")
        return
    body = json_body(response) if response.is_success else None
    served = [str(m.get("id")) for m in (body.get("data") or []) if isinstance(m, dict)] \
        if isinstance(body, dict) else None
    if served is None:
        step.fail(f"listing models failed: {http_reason(response)}", fix="check OPENAI_BASE_URL and OPENAI_API_KEY")
        return
    unknown = [f"{model} ({role})" for role, model in models if model not in served]
    if unknown:
        step.fail(f"the server does not list {listed(unknown)}; it serves {listed(served) or 'no model'}",
                  fix="set SITREP_MODEL (and SITREP_FALLBACK_MODEL / SITREP_ESCALATION_MODEL) to ids it lists")
    else:
        step.ok(f"serves {listed([m for _, m in models])} ({len(served)} models listed)")
