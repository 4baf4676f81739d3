from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from bot.analyst.chain import NO_MODEL_REASON, Analyst
from bot.analyst.client import (
    LLMInvalidOutputError,
    LLMReply,
    LLMTimeoutError,
    LLMUnavailableError,
    ModelPrice,
    load_sdk,
)
from bot.analyst.deterministic import DeterministicAnalyzer
from bot.models import (
    RULE_BASED_BANNER,
    ActionKind,
    AnalysisStatus,
    Brief,
    Confidence,
    SourceName,
    SourceStatus,
)
from tests.analyst import scenario
from tests.analyst.scenario import FakeLLM, brief_data, missing

HAIKU = "claude-haiku-4-5"


def analyst(
    primary: FakeLLM | None,
    fallback: FakeLLM | None = None,
    *,
    attempt_timeout: float = 2.0,
    chain_timeout: float = 5.0,
    prices: dict[str, ModelPrice] | None = None,
) -> Analyst:
    return Analyst(
        primary=primary,
        fallback=fallback,
        deterministic=DeterministicAnalyzer(),
        attempt_timeout=attempt_timeout,
        chain_timeout=chain_timeout,
        prices=prices,
    )


async def run(a: Analyst, results: list[Any] | None = None, **request: Any) -> Brief:
    return await a.analyse(scenario.request(**request), results or scenario.checkout_results())


def unavailable(model: str = HAIKU) -> LLMUnavailableError:
    return LLMUnavailableError("HTTP 529 overloaded_error", provider="anthropic", model=model, status_code=529)


async def test_valid_model_brief_is_completed_with_usage_and_cost() -> None:
    primary = FakeLLM(HAIKU, [brief_data()], input_tokens=3000, output_tokens=400)
    brief = await run(analyst(primary))

    a = brief.analysis
    assert a.status is AnalysisStatus.COMPLETED
    assert a.model == HAIKU
    assert (a.input_tokens, a.output_tokens) == (3000, 400)
    assert a.cost_usd == pytest.approx(3000 / 1e6 * 1 + 400 / 1e6 * 5)
    assert a.fallback_reason is None
    assert a.sources == {"loki": "ok", "prometheus": "ok", "argocd": "ok", "jaeger": "ok"}
    assert a.source_notes == []
    assert not brief.is_rule_based
    assert brief.root_cause.statement == "v2.14.3 exhausts the orders-db connection pool"
    assert [x.kind for x in brief.actions] == [ActionKind.ROLLBACK, ActionKind.MANUAL]  # safest first
    assert len(primary.calls) == 1
    call = primary.calls[0]
    assert call["timeout"] <= 2.0
    assert "[deploys-3]" in call["user"] and "submit_brief" in call["system"]
    assert "properties" in call["schema"]


async def test_a_failed_source_makes_a_model_brief_partial() -> None:
    results = [*scenario.checkout_results()[:3], missing(SourceName.JAEGER, SourceStatus.TIMEOUT)]
    brief = await run(analyst(FakeLLM(HAIKU, [brief_data(evidence=[])])), results)
    assert brief.analysis.status is AnalysisStatus.PARTIAL
    assert brief.analysis.source_notes == ["Jaeger: timeout"]
    assert "Jaeger: timeout" in brief.unknowns  # added even though the model did not say it


async def test_skipped_sources_do_not_make_it_partial() -> None:
    results = [*scenario.checkout_results()[:3], missing(SourceName.JAEGER, SourceStatus.SKIPPED)]
    brief = await run(analyst(FakeLLM(HAIKU, [brief_data()])), results)
    assert brief.analysis.status is AnalysisStatus.COMPLETED
    assert brief.analysis.sources["jaeger"] is SourceStatus.SKIPPED
    assert brief.analysis.source_notes == ["Jaeger: not configured"]


async def test_ungrounded_ids_get_one_repair_retry_with_the_exact_error() -> None:
    bad = brief_data(evidence=[{"id": "logs-99", "source": "logs", "detail": "invented"}])
    primary = FakeLLM(HAIKU, [bad, brief_data()])
    brief = await run(analyst(primary))

    assert brief.analysis.status is AnalysisStatus.COMPLETED
    assert len(primary.calls) == 2
    repair = primary.calls[1]["user"]
    assert "brief cites evidence that was not collected: logs-99" in repair
    assert primary.calls[0]["user"] in repair
    assert brief.analysis.input_tokens == 2000  # both attempts are paid for


async def test_repair_after_a_reply_without_the_tool_call() -> None:
    no_tool = LLMInvalidOutputError("no submit_brief tool call (stop_reason=end_turn)", provider="anthropic",
                                    model=HAIKU, input_tokens=900, output_tokens=50)
    primary = FakeLLM(HAIKU, [no_tool, brief_data()])
    brief = await run(analyst(primary))
    assert brief.analysis.status is AnalysisStatus.COMPLETED
    assert "no submit_brief tool call" in primary.calls[1]["user"]
    assert brief.analysis.input_tokens == 1900


async def test_invalid_twice_falls_back_to_the_rule_based_brief() -> None:
    bad = brief_data(actions=[{"kind": "restart", "target": {"service": "mainframe"}, "rationale": "r"}])
    primary = FakeLLM(HAIKU, [bad, bad])
    brief = await run(analyst(primary))

    assert len(primary.calls) == 2
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.is_rule_based
    assert brief.analysis.model is None
    reason = brief.analysis.fallback_reason or ""
    assert reason.startswith("invalid model output:") and "mainframe" in reason
    assert brief.analysis.input_tokens == 2000
    assert "v2.14.3" in brief.root_cause.statement
    assert brief.actions[0].params == {"to_revision": scenario.SHA_12, "history_id": 12, "label": "v2.14.2 (8b1e0f4)"}
    assert RULE_BASED_BANNER  # the Slack layer shows it for DETERMINISTIC briefs


async def test_timeout_gives_the_rule_based_brief_within_budget() -> None:
    primary = FakeLLM(HAIKU, [30.0])
    started = time.monotonic()
    brief = await run(analyst(primary, attempt_timeout=0.2, chain_timeout=1.0))
    elapsed = time.monotonic() - started

    assert elapsed < 0.6
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.analysis.fallback_reason == "model timeout"
    assert len(primary.calls) == 1  # no repair retry for a timeout


async def test_client_reported_timeout() -> None:
    primary = FakeLLM(HAIKU, [LLMTimeoutError("request timed out", provider="anthropic", model=HAIKU)])
    brief = await run(analyst(primary))
    assert brief.analysis.fallback_reason == "model timeout"


async def test_the_whole_chain_is_bounded() -> None:
    primary = FakeLLM(HAIKU, [30.0])
    fallback = FakeLLM("gpt-fallback", [30.0])
    started = time.monotonic()
    brief = await run(analyst(primary, fallback, attempt_timeout=0.3, chain_timeout=0.45))
    elapsed = time.monotonic() - started

    assert elapsed < 0.9
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert (brief.analysis.fallback_reason or "").startswith("model timeout")
    assert fallback.calls and fallback.calls[0]["timeout"] <= 0.16


@dataclass
class SlowToImportLLM(FakeLLM):
    """A client whose SDK takes longer to import than an attempt's budget (anthropic takes seconds on
    a loaded machine), imported on its first call as the real clients do."""

    sdk_module: ClassVar[str] = "sitrep_test_slow_sdk"

    async def complete_brief(self, **kwargs: Any) -> LLMReply:
        await load_sdk(self.sdk_module)
        return await super().complete_brief(**kwargs)


async def test_the_first_brief_after_a_start_does_not_pay_the_sdk_import_from_the_models_budget(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sitrep_test_slow_sdk.py").write_text("import time\ntime.sleep(0.8)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sitrep_test_slow_sdk", raising=False)
    primary = SlowToImportLLM(HAIKU, [brief_data()])
    brief = await run(analyst(primary, attempt_timeout=0.3, chain_timeout=1.0))
    assert brief.analysis.status is AnalysisStatus.COMPLETED and brief.analysis.model == HAIKU
    assert "sitrep_test_slow_sdk" in sys.modules


async def test_an_sdk_import_longer_than_its_own_budget_ends_in_the_rule_based_brief(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sitrep_test_slower_sdk.py").write_text("import time\ntime.sleep(1.5)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "sitrep_test_slower_sdk", raising=False)
    monkeypatch.setattr(SlowToImportLLM, "sdk_module", "sitrep_test_slower_sdk")
    started = time.monotonic()
    brief = await run(analyst(SlowToImportLLM(HAIKU, [brief_data()]), attempt_timeout=0.3, chain_timeout=0.45))
    assert time.monotonic() - started < 1.4  # the import's budget, then the chain's: not the whole import
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC and brief.analysis.fallback_reason == "model timeout"


async def test_fallback_model_recovers() -> None:
    primary = FakeLLM(HAIKU, [unavailable()])
    fallback = FakeLLM("llama-3.1-70b", [brief_data()])
    brief = await run(analyst(primary, fallback))

    assert brief.analysis.status is AnalysisStatus.RECOVERED_FALLBACK
    assert brief.analysis.model == "llama-3.1-70b"
    assert brief.analysis.cost_usd == 0.0  # unknown model: no price
    assert len(primary.calls) == 1  # an outage is not retried here (the SDK already retried)


async def test_fallback_also_failing_names_both_reasons() -> None:
    primary = FakeLLM(HAIKU, [unavailable()])
    fallback = FakeLLM("llama", [unavailable("llama")])
    brief = await run(analyst(primary, fallback))
    reason = brief.analysis.fallback_reason or ""
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert reason.startswith("model error: HTTP 529 overloaded_error")
    assert "fallback llama: model error" in reason


async def test_no_client_is_rule_based_and_says_why() -> None:
    brief = await run(analyst(None))
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.analysis.fallback_reason == NO_MODEL_REASON == "no model configured (set ANTHROPIC_API_KEY)"
    assert brief.analysis.latency_ms < 1000
    assert brief.analysis.cost_usd == 0


async def test_no_client_and_nothing_configured() -> None:
    results = [missing(source, SourceStatus.SKIPPED) for source in SourceName]
    brief = await run(analyst(None), results)
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.analysis.source_notes == [
        "Loki: not configured",
        "Prometheus: not configured",
        "ArgoCD: not configured",
        "Jaeger: not configured",
        "Kubernetes: not configured",
    ]
    assert brief.actions[0].kind is ActionKind.MANUAL


async def test_a_buggy_client_does_not_cost_the_brief() -> None:
    primary = FakeLLM(HAIKU, [RuntimeError("bug")])
    brief = await run(analyst(primary))
    assert brief.analysis.status is AnalysisStatus.DETERMINISTIC
    assert brief.analysis.fallback_reason == "model error: RuntimeError"


async def test_logs_carry_usage_but_never_the_prompt() -> None:
    marker = "PROMPT-TEXT-MARKER-7731"
    bad = brief_data(evidence=[{"id": "logs-99", "source": "logs", "detail": "x"}])
    primary = FakeLLM(HAIKU, [bad, brief_data()])
    with capture_logs() as logs:
        await run(analyst(primary), message=marker)

    attempts = [entry for entry in logs if entry["event"] == "llm_attempt"]
    assert [entry["outcome"] for entry in attempts] == ["invalid", "ok"]
    assert attempts[1]["model"] == HAIKU and attempts[1]["input_tokens"] == 1000
    assert "elapsed_ms" in attempts[1]
    finished = next(entry for entry in logs if entry["event"] == "analysis_finished")
    assert finished["status"] == "COMPLETED" and finished["cost_usd"] > 0
    assert marker not in repr(logs)
    assert "timeout acquiring connection" not in repr(logs)


async def test_dated_model_names_use_the_family_price() -> None:
    primary = FakeLLM("claude-haiku-4-5-20251001", [brief_data()], input_tokens=1_000_000, output_tokens=0)
    brief = await run(analyst(primary))
    assert brief.analysis.cost_usd == pytest.approx(1.0)


async def test_a_rollback_outside_the_history_survives_repair_only_to_be_denied_by_policy() -> None:
    bad = brief_data(actions=[{"kind": "rollback", "target": {"service": "checkout", "app": "checkout"},
                               "params": {"to_revision": "v2.14.9"}, "rationale": "r"}])
    primary = FakeLLM(HAIKU, [bad, bad])
    brief = await run(analyst(primary))
    assert len(primary.calls) == 2
    assert "v2.14.9" in primary.calls[1]["user"] or "history" in primary.calls[1]["user"]
    # the second answer is kept: the policy engine, not the analyst, refuses that target on the brief
    assert brief.analysis.status is AnalysisStatus.COMPLETED
    assert [a.params["to_revision"] for a in brief.actions] == ["v2.14.9"]


async def test_an_unsure_answer_is_escalated_to_the_larger_model() -> None:
    unsure = brief_data(root_cause={"statement": "maybe the deploy", "service": "checkout", "confidence": "LOW",
                                    "confidence_score": 30})
    primary = FakeLLM(HAIKU, [unsure])
    bigger = FakeLLM("claude-sonnet-4-5", [brief_data()])
    a = Analyst(primary=primary, escalation=bigger, deterministic=DeterministicAnalyzer())
    brief = await run(a)
    assert brief.analysis.status is AnalysisStatus.ESCALATED
    assert brief.analysis.model == "claude-sonnet-4-5" and brief.root_cause.confidence is not Confidence.LOW
    assert len(bigger.calls) == 1
    sure = await run(Analyst(primary=FakeLLM(HAIKU, [brief_data()]), escalation=bigger))
    assert sure.analysis.status is AnalysisStatus.COMPLETED and len(bigger.calls) == 1  # no need


async def test_over_the_hourly_budget_briefs_are_rule_based_and_say_why() -> None:
    now = [1000.0]
    primary = FakeLLM(HAIKU, [brief_data()], input_tokens=1_000_000, output_tokens=0)  # $1 a call
    a = Analyst(primary=primary, hourly_budget_usd=1.5, reuse_seconds=0, clock=lambda: now[0])
    assert (await run(a)).analysis.status is AnalysisStatus.COMPLETED
    now[0] += 1
    assert (await run(a, message="again")).analysis.status is AnalysisStatus.COMPLETED
    now[0] += 1
    capped = await run(a, message="third")
    assert capped.analysis.status is AnalysisStatus.DETERMINISTIC
    assert capped.analysis.fallback_reason and "budget cap" in capped.analysis.fallback_reason
    assert len(primary.calls) == 2
    now[0] += 3600  # an hour later the budget is free again
    assert (await run(a, message="fourth")).analysis.status is AnalysisStatus.COMPLETED


async def test_an_identical_digest_within_minutes_reuses_the_analysis() -> None:
    now = [0.0]
    primary = FakeLLM(HAIKU, [brief_data()])
    a = Analyst(primary=primary, reuse_seconds=300, clock=lambda: now[0])
    first = await run(a)
    now[0] = 120
    again = await run(a)
    assert len(primary.calls) == 1 and again.analysis.reused and again.analysis.cost_usd == 0
    assert again.root_cause == first.root_cause
    now[0] = 1000
    await run(a)
    assert len(primary.calls) == 2


async def test_a_high_confidence_rollback_gets_an_independent_check_shown_on_the_brief() -> None:
    primary = FakeLLM(HAIKU, [brief_data()], check_tokens=(500, 40),
                      check_answer={"agree": False, "reason": "traces-1 shows orders-db failing before deploys-3"})
    brief = await run(analyst(primary))
    opinion = brief.analysis.second_opinion
    assert opinion is not None and opinion.agree is False and "orders-db" in opinion.reason
    assert len(primary.checks) == 1 and "<proposal>" in primary.checks[0]["user"]
    assert "rollback" in primary.checks[0]["user"] and primary.checks[0]["tool"] == "submit_check"
    assert brief.analysis.input_tokens == 1500  # the check is paid for too


async def test_no_check_without_a_rollback_or_without_high_confidence() -> None:
    medium = brief_data(root_cause={"statement": "s", "service": "checkout", "confidence": "MEDIUM",
                                    "confidence_score": 60})
    primary = FakeLLM(HAIKU, [medium])
    brief = await run(analyst(primary))
    assert brief.analysis.second_opinion is None and primary.checks == []
