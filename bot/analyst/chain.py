"""The analyst chain: primary model → one repair retry → fallback model → rule-based brief.

    analyse(request, results)
      ├─ no client ─────────────────────────────────────────────▶ DETERMINISTIC "no model configured"
      └─ primary: ask ─▶ validate ─ok─▶ COMPLETED (PARTIAL if a source errored or timed out)
                    │        └─invalid─▶ ask again with the exact error ─▶ validate ─ok─▶ same
                    └─ timeout / unavailable / invalid twice
           fallback (when configured): the same two steps ─ok─▶ RECOVERED_FALLBACK
           otherwise ───────────────────────────────────────────▶ DETERMINISTIC with the reason

Every attempt is bounded by ``attempt_timeout`` and the whole chain by ``chain_timeout``. Tokens
and cost add up over all attempts. Logs carry model, latency, tokens and outcome; never the
prompt, the model's text or a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from bot.analyst.client import (
    LLMClient,
    LLMError,
    LLMInvalidOutputError,
    LLMReply,
    LLMTimeoutError,
    ModelPrice,
    PriceTable,
    SupportsAclose,
    load_sdk,
)
from bot.analyst.deterministic import DeterministicAnalyzer
from bot.analyst.grounding import validate_draft
from bot.analyst.schema import brief_schema
from bot.analyst.second_opinion import second_opinion, wants_second_opinion
from bot.analyst.signals import truncate
from bot.models import (
    Action,
    ActionKind,
    ActionTarget,
    Analysis,
    AnalysisStatus,
    Brief,
    BriefDraft,
    Category,
    Confidence,
    InvestigationRequest,
    RootCause,
    SecondOpinion,
    SourceResult,
    SourceStatus,
)

if TYPE_CHECKING:  # the prompt and the digest it runs (log templating, regex tables) load with the first prompt
    from bot.analyst.prompt import Prompt

log = structlog.get_logger(__name__)

NO_MODEL_REASON = "no model configured (set ANTHROPIC_API_KEY)"
TIMEOUT_REASON = "model timeout"
#: Below this many seconds left in the chain, starting another attempt is pointless.
MIN_ATTEMPT_S = 0.05


class _ModelFailedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class _ModelBrief:
    draft: BriefDraft
    model: str
    fallback: bool


def _build_prompt(request: InvestigationRequest, results: list[SourceResult]) -> Prompt:
    """``build_prompt``, imported here (off the event loop, in the thread that builds the prompt): the
    prompt and the digest it runs are loaded by the first investigation, not by every process."""
    from bot.analyst.prompt import build_prompt

    return build_prompt(request, results)


class Analyst:
    def __init__(
        self,
        *,
        primary: LLMClient | None,
        fallback: LLMClient | None = None,
        deterministic: DeterministicAnalyzer | None = None,
        attempt_timeout: float = 10.0,
        chain_timeout: float = 20.0,
        prices: PriceTable | Mapping[str, ModelPrice] | None = None,
        escalation: LLMClient | None = None,
        hourly_budget_usd: float | None = None,
        reuse_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self.escalation = escalation
        self._hourly_budget = hourly_budget_usd
        self._reuse_seconds = reuse_seconds
        self._clock = clock
        self._spend: deque[tuple[float, float]] = deque()  # (when, usd)
        self._recent: dict[str, tuple[float, Brief]] = {}  # prompt digest → (when, brief)
        self._deterministic = deterministic or DeterministicAnalyzer()
        self.attempt_timeout = attempt_timeout
        self.chain_timeout = chain_timeout
        if prices is None:
            self._prices = PriceTable()
        elif isinstance(prices, PriceTable):
            self._prices = prices
        else:
            self._prices = PriceTable(dict(prices))

    async def analyse(
        self, request: InvestigationRequest, results: Sequence[SourceResult]
    ) -> Brief:
        """Always returns a brief: model failures become a rule-based one, with the reason."""
        started = time.monotonic()
        results = list(results)
        usage = _Usage()
        model_brief: _ModelBrief | None = None
        reasons: list[str] = []  # one per model that failed, in order
        escalated = False
        opinion: SecondOpinion | None = None
        if self.primary is None and self.fallback is None:
            reasons.append(NO_MODEL_REASON)
        elif (over := self._over_budget()) is not None:
            reasons.append(over)
        else:
            prompt = await asyncio.to_thread(_build_prompt, request, results)  # CPU work, off the event loop
            key = hashlib.sha256((prompt.system + "\0" + prompt.user).encode()).hexdigest()
            if (reused := self._reusable(key)) is not None:
                log.info("analysis_reused", status=reused.analysis.status.value)
                return reused
            # the SDKs' one-off import (seconds, on the first brief after a start) is not the models' time;
            # it has a budget of its own (past it, the chain's calls wait for the import within theirs)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.chain_timeout):
                    await self.load_sdks()
            chain_started = time.monotonic()
            try:
                async with asyncio.timeout(self.chain_timeout):
                    model_brief = await self._run_chain(prompt, request, results, usage, chain_started, reasons)
                    if model_brief is not None and self.escalation is not None and _needs_escalation(model_brief.draft):
                        better = await self._escalate(prompt, request, results, usage, chain_started)
                        if better is not None:
                            model_brief, escalated = better, True
                    if model_brief is not None and wants_second_opinion(model_brief.draft):
                        # the escalation model when there is one, else the model that wrote it
                        checker = self.escalation or (self.fallback if model_brief.fallback else self.primary)
                        assert checker is not None
                        left = self.chain_timeout - (time.monotonic() - chain_started)
                        opinion, tokens_in, tokens_out = await second_opinion(
                            checker, prompt, model_brief.draft, timeout=max(min(self.attempt_timeout, left), 0.05))
                        usage.input_tokens += tokens_in
                        usage.output_tokens += tokens_out
                        usage.cost_usd += self._prices.cost(checker.model, input_tokens=tokens_in,
                                                            output_tokens=tokens_out)
            except TimeoutError:
                if reasons and self.fallback is not None:  # the primary failed, the fallback ran out
                    reasons.append(f"fallback {self.fallback.model}: {TIMEOUT_REASON}")
                else:
                    reasons.append(TIMEOUT_REASON)
        reason = "; ".join(reasons) if model_brief is None else None

        if model_brief is not None:
            draft = model_brief.draft
            _add_source_notes(draft, results)
            status = (
                AnalysisStatus.ESCALATED
                if escalated
                else AnalysisStatus.RECOVERED_FALLBACK
                if model_brief.fallback
                else AnalysisStatus.PARTIAL
                if _any_failed(results)
                else AnalysisStatus.COMPLETED
            )
            model: str | None = model_brief.model
        else:
            draft = await asyncio.to_thread(self._rule_based, request, results)
            status, model = AnalysisStatus.DETERMINISTIC, None

        latency_ms = int((time.monotonic() - started) * 1000)
        analysis = Analysis(
            status=status,
            model=model,
            latency_ms=latency_ms,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=round(usage.cost_usd, 6),
            sources={result.source.value: result.status for result in results},
            fallback_reason=_safe(reason) if reason else None,
            second_opinion=opinion,
            source_notes=[r.describe() for r in results if r.status is not SourceStatus.OK],
            examined=list(dict.fromkeys(name for r in results for name in r.examined)),
        )
        log.info(
            "analysis_finished",
            status=status.value,
            model=model,
            latency_ms=latency_ms,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=analysis.cost_usd,
            fallback_reason=analysis.fallback_reason,
        )
        payload = draft.model_dump()
        payload["actions"] = [a.model_dump() for a in draft.sorted_actions()]
        brief = Brief.model_validate({**payload, "analysis": analysis})
        if usage.cost_usd:
            self._spend.append((self._clock(), usage.cost_usd))
        if model_brief is not None and self.primary is not None:
            self._recent[key] = (self._clock(), brief)
        return brief

    def _over_budget(self) -> str | None:
        """The reason to skip models when this hour's spend reached ``hourly_budget_usd``."""
        if self._hourly_budget is None:
            return None
        now = self._clock()
        while self._spend and self._spend[0][0] < now - 3600:
            self._spend.popleft()
        spent = sum(cost for _, cost in self._spend)
        if spent < self._hourly_budget:
            return None
        return f"budget cap: ${spent:.2f} spent on models in the last hour (limit ${self._hourly_budget:.2f})"

    def _reusable(self, key: str) -> Brief | None:
        """The brief of an identical digest analysed a few minutes ago (an alert that re-fires)."""
        now = self._clock()
        for old in [k for k, (when, _) in self._recent.items() if when < now - self._reuse_seconds]:
            del self._recent[old]
        hit = self._recent.get(key)
        if hit is None:
            return None
        brief = hit[1]
        return brief.model_copy(update={"analysis": brief.analysis.model_copy(
            update={"reused": True, "latency_ms": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})})

    async def _escalate(self, prompt: Prompt, request: InvestigationRequest, results: list[SourceResult],
                        usage: _Usage, started: float) -> _ModelBrief | None:
        """Ask the larger model when the first answer is unsure or spans several services."""
        assert self.escalation is not None
        try:
            draft, model = await self._run_model(self.escalation, prompt, request, results, usage, started,
                                                 role="escalation")
        except _ModelFailedError as exc:
            log.info("escalation_failed", model=self.escalation.model, reason=exc.reason)
            return None
        return _ModelBrief(draft=draft, model=model, fallback=False)

    def clients(self) -> list[LLMClient]:
        """The model clients configured: primary, fallback, escalation."""
        return [c for c in (self.primary, self.fallback, self.escalation) if c is not None]

    async def load_sdks(self) -> None:
        """Import the SDKs of the model clients (``load_sdk``: in a thread, once per process). A
        worker starts this as soon as it claims jobs, and every analysis awaits it before the models'
        budget starts: neither the worker's start nor a brief's budget pays for an import. A failed
        import is left for the call to report."""
        for name in sorted({getattr(client, "sdk_module", None) for client in self.clients()} - {None}):
            try:
                await load_sdk(str(name))
            except ImportError:
                log.warning("model_sdk_not_importable", sdk=name)

    async def aclose(self) -> None:
        for client in self.clients():
            if isinstance(client, SupportsAclose):
                await client.aclose()

    # ------------------------------------------------------------------- the chain

    async def _run_chain(
        self,
        prompt: Prompt,
        request: InvestigationRequest,
        results: list[SourceResult],
        usage: _Usage,
        started: float,
        reasons: list[str],
    ) -> _ModelBrief | None:
        """The primary, then the fallback; each failure's reason is appended to ``reasons``."""
        for client, is_fallback in ((self.primary, False), (self.fallback, True)):
            if client is None:
                continue
            role = "fallback" if is_fallback else "primary"
            try:
                draft, model = await self._run_model(
                    client, prompt, request, results, usage, started, role=role
                )
            except _ModelFailedError as exc:
                reasons.append(f"fallback {client.model}: {exc.reason}" if reasons else exc.reason)
                continue
            return _ModelBrief(draft=draft, model=model, fallback=is_fallback and self.primary is not None)
        return None

    async def _run_model(
        self,
        client: LLMClient,
        prompt: Prompt,
        request: InvestigationRequest,
        results: list[SourceResult],
        usage: _Usage,
        started: float,
        *,
        role: str,
    ) -> tuple[BriefDraft, str]:
        """One attempt plus, on invalid output, one repair attempt. Raise ``_ModelFailedError``."""
        user = prompt.user
        for attempt in ("first", "repair"):
            reply = await self._call(
                client, prompt.system, user, usage, started, role=role, attempt=attempt
            )
            if isinstance(reply, LLMInvalidOutputError):
                error, previous = str(reply), None
            else:
                try:
                    draft = validate_draft(
                        reply.data, request=request, results=results, evidence_ids=prompt.evidence_ids,
                        check_rollback_targets=attempt == "first",
                    )
                except ValueError as exc:
                    error, previous = str(exc), _dump(reply.data)
                else:
                    self._log_attempt(client, role, attempt, started, "ok", reply=reply)
                    return draft, reply.model
                self._log_attempt(client, role, attempt, started, "invalid", reply=reply, error=error)
            if attempt == "repair":
                raise _ModelFailedError(f"invalid model output: {truncate(error, 200)}")
            from bot.analyst.prompt import repair_message

            user = repair_message(prompt, error=error, previous=previous)
        raise AssertionError("unreachable")

    async def _call(
        self,
        client: LLMClient,
        system: str,
        user: str,
        usage: _Usage,
        started: float,
        *,
        role: str,
        attempt: str,
    ) -> LLMReply | LLMInvalidOutputError:
        """Ask once under the attempt budget; a timeout or outage ends this model's turn."""
        left = self.chain_timeout - (time.monotonic() - started)
        budget = min(self.attempt_timeout, left)
        if budget < MIN_ATTEMPT_S:
            raise _ModelFailedError(TIMEOUT_REASON)
        try:
            async with asyncio.timeout(budget):
                reply = await client.complete_brief(
                    system=system, user=user, schema=brief_schema(), timeout=budget
                )
        except TimeoutError as exc:
            self._log_attempt(client, role, attempt, started, "timeout")
            raise _ModelFailedError(TIMEOUT_REASON) from exc
        except LLMInvalidOutputError as exc:
            self._charge(usage, client.model, exc.input_tokens, exc.output_tokens)
            self._log_attempt(client, role, attempt, started, "invalid", error=str(exc))
            return exc
        except LLMTimeoutError as exc:
            self._log_attempt(client, role, attempt, started, "timeout", error=str(exc))
            raise _ModelFailedError(TIMEOUT_REASON) from exc
        except LLMError as exc:  # LLMUnavailableError and any other provider failure
            self._log_attempt(client, role, attempt, started, "error", error=str(exc))
            raise _ModelFailedError(f"model error: {truncate(str(exc), 160)}") from exc
        except Exception as exc:  # a client bug must not cost the brief
            log.exception("llm_client_failed", model=client.model, role=role)
            raise _ModelFailedError(f"model error: {type(exc).__name__}") from exc
        self._charge(usage, reply.model, reply.input_tokens, reply.output_tokens)
        return reply

    def _charge(self, usage: _Usage, model: str, input_tokens: int, output_tokens: int) -> None:
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens
        usage.cost_usd += self._prices.cost(model, input_tokens=input_tokens, output_tokens=output_tokens)

    @staticmethod
    def _log_attempt(
        client: LLMClient,
        role: str,
        attempt: str,
        started: float,
        outcome: str,
        *,
        reply: LLMReply | None = None,
        error: str | None = None,
    ) -> None:
        log.info(
            "llm_attempt",
            model=reply.model if reply else client.model,
            role=role,
            attempt=attempt,
            outcome=outcome,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            input_tokens=reply.input_tokens if reply else None,
            output_tokens=reply.output_tokens if reply else None,
            error=truncate(error, 200) if error else None,
        )

    # ------------------------------------------------------------------- rule-based

    def _rule_based(self, request: InvestigationRequest, results: list[SourceResult]) -> BriefDraft:
        try:
            return self._deterministic.analyse(request, results)
        except Exception:  # the last line of defence: a brief must always come out
            log.exception("deterministic_analysis_failed", service=request.service)
            notes = [r.describe() for r in results if r.status is not SourceStatus.OK]
            return BriefDraft(
                title=f"{request.service}: analysis failed",
                summary=[f"{len(results)} sources collected; the rule-based analysis failed"],
                category=Category.UNKNOWN,
                root_cause=RootCause(
                    statement="The analysis failed; no cause was determined.",
                    service=request.service,
                    confidence=Confidence.LOW,
                    confidence_score=0,
                ),
                actions=[
                    Action(
                        kind=ActionKind.MANUAL,
                        target=ActionTarget(service=request.service, namespace=request.namespace),
                        params={"text": f"Investigate {request.service} by hand; see Sitrep's logs."},
                        rationale="No analysis is available.",
                    )
                ],
                affected_services=[request.service],
                unknowns=notes,
            )


# --------------------------------------------------------------------------- helpers


def _needs_escalation(draft: BriefDraft) -> bool:
    """LOW confidence, or a root cause that spans several services."""
    return draft.root_cause.confidence is Confidence.LOW or len(set(draft.affected_services)) > 2


def _any_failed(results: Sequence[SourceResult]) -> bool:
    return any(r.status in (SourceStatus.ERROR, SourceStatus.TIMEOUT) for r in results)


def _add_source_notes(draft: BriefDraft, results: Sequence[SourceResult]) -> None:
    """Make sure the brief names every source that did not answer, whatever the model wrote."""
    written = " ".join(draft.unknowns).lower()
    for result in results:
        if result.status is SourceStatus.OK:
            # a partial answer says what is missing ("ArgoCD: the change of c4d5e6f is unknown (…)")
            if result.error and result.error.lower() not in written:
                draft.unknowns.append(f"{result.source.label}: {result.error}")
            continue
        note = result.describe()
        if note.lower() not in written:
            draft.unknowns.append(note)


def _dump(data: object) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(data)


def _safe(text: str) -> str:
    """A reason shown in Slack: no markup that could mention or link."""
    return truncate(text.replace("<", "‹").replace(">", "›"), 300)
