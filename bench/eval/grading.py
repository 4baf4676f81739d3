"""The generated evaluation: each seed's scenario through the whole pipeline, graded against its truth.

For one scenario: the real collectors read ``GeneratedUpstreams`` over ``httpx.MockTransport``, the
``Investigator`` collects (and follows the failure), and the analyst chain runs with a fake model
(``RecordingModel``) that keeps the exact system + user prompt of its first call and answers invalid, so
the chain falls back to the rule-based brief. Graded:

- root cause: the brief's root-cause service is the truth's;
- category: one of the truth's acceptable categories;
- first action: ``brief.actions[0]`` (or none) matches an acceptable first action: kind, target
  service, and for a rollback the previous deploy's identity (git sha, or chart version for Helm; a
  sha prefix of 7+ counts) and history id, for a sync the revision, for a scale the replicas range;
- forbidden: any action of the brief that the truth forbids;
- HIGH-but-wrong: HIGH confidence on a wrong root-cause service;
- clue recall: the share of the truth's clue strings (any alternative, case-insensitive) found in the
  first model request, and that request's size in tokens (4 characters a token; the user message,
  which carries the evidence);
- rule-based brief time: a model-less analyst's ``analyse`` on the very results the chain saw.

The trivial baseline (root cause = the alerting service, category errors, first action = restart of the
alerting service) is scored on the same truth.
"""

from __future__ import annotations

import asyncio
import time
import tempfile
import traceback
from pathlib import Path
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from bot.analyst.client import LLMInvalidOutputError, LLMReply
from bot.analyst.factory import build_analyst
from bot.policy.engine import replica_ceiling
from bot.policy.loader import load_policy
from bot.policy.schema import Policy
from bot.collectors.factory import build_collectors
from bot.models import Brief, Confidence, InvestigationRequest, SourceResult, SourceStatus, utcnow
from bot.service.investigate import Investigator
from bot.settings import Settings
import yaml
from generated_upstreams import GeneratedUpstreams
from generator import CLASSES, Expected, Scenario, generate

TOKEN_BUDGET = 6000
#: targets on the held-out seeds (issue 16)
TARGET_ROOT = 0.90
TARGET_ACTION = 0.80
TARGET_MARGIN = 0.30
TARGET_RECALL = 0.95
TARGET_BRIEF_S = 1.0
WINDOW = timedelta(minutes=30)


def tokens(text: str) -> int:
    """About four characters a token (Anthropic's rule of thumb), counted here, not by Sitrep."""
    return (len(text) + 3) // 4


class RecordingModel:
    """An ``LLMClient`` that records every prompt and answers without the forced tool call."""

    def __init__(self) -> None:
        self.model = "eval-recorder"
        self.calls: list[tuple[str, str]] = []

    async def complete_brief(self, *, system: str, user: str, schema: dict[str, Any], timeout: float,
                             tool: str = "submit_brief") -> LLMReply:
        self.calls.append((system, user))
        raise LLMInvalidOutputError("the eval's recorder never answers", provider="eval", model=self.model)


@dataclass
class Answer:
    """What was proposed: the brief's (or the baseline's) root cause, category, actions, confidence."""

    service: str
    category: str
    actions: list[tuple[str, str, dict[str, Any]]]  # (kind, target service, params)
    confidence: str

    @classmethod
    def of(cls, brief: Brief) -> Answer:
        return cls(service=brief.root_cause.service, category=brief.category.value,
                   actions=[(a.kind.value, a.target.service, dict(a.params)) for a in brief.actions],
                   confidence=brief.root_cause.confidence.value)

    @classmethod
    def baseline(cls, scenario: Scenario) -> Answer:
        return cls(service=scenario.alert_service, category="errors",
                   actions=[("restart", scenario.alert_service, {})], confidence=Confidence.MEDIUM.value)

    def describe(self) -> str:
        if not self.actions:
            first = "none"
        else:
            kind, target, params = self.actions[0]
            detail = {"rollback": lambda p: f"{str(p.get('to_revision', ''))[:7]}#{p.get('history_id')}",
                      "scale": lambda p: f"{p.get('replicas')}", "sync": lambda p: str(p.get("revision", ""))[:7]}
            extra = detail.get(kind, lambda p: "")(params)
            first = f"{kind} {target}" + (f" {extra}" if extra else "")
        return f"{self.service} {self.confidence} {self.category} / {first}"


@dataclass
class Score:
    root: bool
    category: bool
    action: bool
    forbidden: list[str]
    high_wrong: bool


@dataclass
class Outcome:
    scenario: Scenario
    answer: Answer | None
    score: Score
    baseline: Score
    clues_found: int = 0
    clues_total: int = 0
    missing: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    system_tokens: int = 0
    model_called: bool = False
    brief_seconds: float = 0.0
    total_seconds: float = 0.0
    sources: dict[str, str] = field(default_factory=dict)
    crash: str | None = None
    fake_errors: list[str] = field(default_factory=list)  # requests the eval's fake upstreams failed


# --------------------------------------------------------------------------- grading


def _names(wanted: str, identities: Sequence[str]) -> bool:
    wanted = wanted.strip().lower()
    for identity in identities:
        identity = identity.lower()
        if wanted == identity:
            return True
        if len(wanted) >= 7 and len(identity) == 40 and identity.startswith(wanted):
            return True
    return False


def action_matches(action: tuple[str, str, dict[str, Any]] | None, expected: Expected) -> bool:
    if action is None:
        return expected.kind == "none"
    kind, target, params = action
    if kind != expected.kind or (expected.service is not None and target != expected.service):
        return False
    if expected.revisions:
        revision = str(params.get("to_revision") if kind == "rollback" else params.get("revision") or "")
        if not _names(revision, expected.revisions):
            return False
    if expected.history_id is not None and params.get("history_id") != expected.history_id:
        return False
    if expected.replicas is not None:
        replicas = params.get("replicas")
        if not isinstance(replicas, int) or not expected.replicas[0] <= replicas <= expected.replicas[1]:
            return False
    return True


def score(scenario: Scenario, answer: Answer | None) -> Score:
    truth = scenario.truth
    if answer is None:  # the pipeline crashed: nothing right, nothing forbidden proposed
        return Score(root=False, category=False, action=False, forbidden=[], high_wrong=False)
    first = answer.actions[0] if answer.actions else None
    forbidden = sorted({f"{kind} {target}" for kind, target, params in answer.actions
                        for f in truth.forbidden if action_matches((kind, target, params), f)})
    root = answer.service == truth.service
    return Score(root=root, category=answer.category in truth.categories,
                 action=any(action_matches(first, e) for e in truth.first_actions), forbidden=forbidden,
                 high_wrong=answer.confidence == Confidence.HIGH.value and not root)


def clue_recall(scenario: Scenario, prompt: str) -> tuple[int, list[str]]:
    text = prompt.lower()
    missing = [clue.name for clue in scenario.truth.clues if not any(alt.lower() in text for alt in clue.any_of)]
    return len(scenario.truth.clues) - len(missing), missing


# --------------------------------------------------------------------------- running


def settings_for(scenario: Scenario) -> Settings:
    """Sitrep configured as this cluster's operator would: the upstreams, the service label and the
    Loki selector (and tenant) of the scenario's label scheme; no model (the chain gets a fake one)."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None, anthropic_api_key=None, openai_api_key=None,
        loki_url="http://loki", prometheus_url="http://prometheus", argocd_url="http://argocd",
        argocd_token=SecretStr("eval"), jaeger_url="http://jaeger", kubernetes_api_url="http://kubernetes",
        kubernetes_token=SecretStr("eval"), sitrep_llm_hourly_budget_usd=None, **scenario.settings)


DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "policies" / "default.yml"


def operator_policy(scenario: Scenario) -> Policy:
    """The policy this cluster's operator would run: the shipped rules (``policies/default.yml``)
    with the scenario's services declared (standard tier, their namespace) instead of the example ones."""
    shipped = yaml.safe_load(DEFAULT_POLICY.read_text())
    shipped["services"] = {name: {"tier": "standard", "namespace": scenario.namespace}
                           for name in scenario.services}
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "policy.yml").write_text(yaml.safe_dump(shipped))
        return load_policy(Path(folder))


async def run_scenario(scenario: Scenario) -> Outcome:
    started = time.perf_counter()
    baseline = score(scenario, Answer.baseline(scenario))
    try:
        settings = settings_for(scenario)
        now = utcnow()
        upstreams = GeneratedUpstreams(scenario, now=now)
        collectors = build_collectors(settings, transport=httpx.MockTransport(upstreams))
        policy = operator_policy(scenario)
        ceiling = lambda service, current: replica_ceiling(policy, service, current)  # noqa: E731
        analyst = build_analyst(settings, replica_ceiling=ceiling)
        recorder = RecordingModel()
        analyst.primary = recorder  # the chain asks it, records the prompt, falls back to the rule-based brief
        plain = build_analyst(settings, replica_ceiling=ceiling)  # no model: what a model-less deployment answers
        seen: dict[str, Any] = {}
        analyse = analyst.analyse

        async def recording_analyse(request: InvestigationRequest, results: Sequence[SourceResult]) -> Brief:
            seen["request"], seen["results"] = request, list(results)
            return await analyse(request, results)

        analyst.analyse = recording_analyse  # type: ignore[method-assign]
        investigator = Investigator(collectors=collectors.collectors, analyst=analyst,
                                    source_budget=settings.sitrep_source_timeout,
                                    total_budget=settings.sitrep_collect_timeout)
        request = InvestigationRequest(service=scenario.alert_service, namespace=scenario.namespace,
                                       message=scenario.alert, window_start=now - WINDOW, window_end=now)
        try:
            brief = await investigator.investigate(request)
            t0 = time.perf_counter()
            await plain.analyse(seen["request"], seen["results"])
            brief_seconds = time.perf_counter() - t0
        finally:
            await collectors.aclose()
            await analyst.aclose()
            await plain.aclose()
    except Exception as exc:  # a pipeline crash is a failed scenario, reported with its place
        where = traceback.extract_tb(exc.__traceback__)[-1]
        crash = f"{type(exc).__name__}: {str(exc)[:160]} ({where.filename.rsplit('/', 3)[-1]}:{where.lineno})"
        return Outcome(scenario, None, score(scenario, None), baseline, clues_total=len(scenario.truth.clues),
                       missing=[c.name for c in scenario.truth.clues], crash=crash,
                       total_seconds=time.perf_counter() - started)
    answer = Answer.of(brief)
    outcome = Outcome(scenario, answer, score(scenario, answer), baseline, brief_seconds=brief_seconds,
                      total_seconds=time.perf_counter() - started,
                      sources={r.source.value: r.status.value for r in seen.get("results", [])},
                      fake_errors=list(upstreams.errors))
    outcome.clues_total = len(scenario.truth.clues)
    if recorder.calls:
        system, user = recorder.calls[0]
        outcome.model_called = True
        outcome.clues_found, outcome.missing = clue_recall(scenario, system + "\n" + user)
        outcome.prompt_tokens, outcome.system_tokens = tokens(user), tokens(system)
    else:
        outcome.missing = [c.name for c in scenario.truth.clues]
    return outcome


async def run_seeds(seeds: Sequence[int]) -> list[Outcome]:
    return [await run_scenario(generate(seed)) for seed in seeds]


# --------------------------------------------------------------------------- the report


def _pct(n: int, d: int) -> float:
    return n / d if d else 0.0


@dataclass
class Totals:
    n: int
    root: int
    category: int
    action: int
    forbidden: int  # scenarios with a forbidden action proposed
    high_wrong: int
    base_root: int
    base_category: int
    base_action: int
    base_forbidden: int
    clues_found: int
    clues_total: int
    max_tokens: int
    over_budget: int
    max_brief_s: float
    crashes: int

    @classmethod
    def of(cls, outcomes: Sequence[Outcome]) -> Totals:
        return cls(
            n=len(outcomes), root=sum(o.score.root for o in outcomes),
            category=sum(o.score.category for o in outcomes), action=sum(o.score.action for o in outcomes),
            forbidden=sum(bool(o.score.forbidden) for o in outcomes),
            high_wrong=sum(o.score.high_wrong for o in outcomes),
            base_root=sum(o.baseline.root for o in outcomes), base_category=sum(o.baseline.category for o in outcomes),
            base_action=sum(o.baseline.action for o in outcomes),
            base_forbidden=sum(bool(o.baseline.forbidden) for o in outcomes),
            clues_found=sum(o.clues_found for o in outcomes), clues_total=sum(o.clues_total for o in outcomes),
            max_tokens=max((o.prompt_tokens for o in outcomes), default=0),
            over_budget=sum(o.prompt_tokens > TOKEN_BUDGET for o in outcomes),
            max_brief_s=max((o.brief_seconds for o in outcomes), default=0.0),
            crashes=sum(o.crash is not None for o in outcomes),
        )


def _fig(n: int, d: int, base: int | None = None) -> str:
    text = f"{n}/{d} {_pct(n, d):4.0%}"
    return text + (f" (base {_pct(base, d):4.0%})" if base is not None else "")


def report(outcomes: Sequence[Outcome], *, split: str, verbose: bool = True, targets: bool = True) -> bool:
    """Print the per-scenario lines, the per-class table and (``targets``) the PASS/FAIL lines; return
    whether every target passed."""
    print(f"\ngenerated eval, {split} seeds: {len(outcomes)} scenarios — rule-based brief graded (the fake model "
          "answers invalid); baseline = alerting service, category errors, restart of it")
    if verbose:
        print(f"{'scenario':<26} {'variant':<28} {'truth':<46} {'answer':<58} root cat act forb HIGHw clues  tok")
        for o in outcomes:
            t = o.scenario.truth
            first = t.first_actions[0]
            truth = f"{t.service} {t.categories[0]} / {first.kind}"
            answer = o.crash and f"CRASH {o.crash}" or (o.answer.describe() if o.answer else "-")
            clues = f"{o.clues_found}/{o.clues_total}" if o.clues_total else "-"
            print(f"{o.scenario.name:<26} {o.scenario.variant[:28]:<28} {truth[:46]:<46} {answer[:58]:<58} "
                  f"{_mark(o.score.root):<4} {_mark(o.score.category):<3} {_mark(o.score.action):<3} "
                  f"{(','.join(o.score.forbidden) or '-')[:4]:<4} {'YES' if o.score.high_wrong else '-':<5} "
                  f"{clues:<6} {o.prompt_tokens}" + (f"  missing: {', '.join(o.missing)}" if o.missing else ""))
    print(f"\nper class ({split}): analyzer figure (baseline in brackets)")
    print(f"{'class':<18} {'n':>3}  {'root cause':<22} {'category':<22} {'first action':<22} {'forbidden':<20} "
          f"{'HIGH-wrong':<10} {'clue recall':<14} {'max tok':>7} {'max brief s':>11}")
    by_class = {cls: [o for o in outcomes if o.scenario.cls == cls] for cls in CLASSES}
    for cls, group in [*by_class.items(), ("all", list(outcomes))]:
        if not group:
            continue
        t = Totals.of(group)
        recall = _fig(t.clues_found, t.clues_total) if t.clues_total else "-"
        print(f"{cls:<18} {t.n:>3}  {_fig(t.root, t.n, t.base_root):<22} {_fig(t.category, t.n, t.base_category):<22} "
              f"{_fig(t.action, t.n, t.base_action):<22} {_fig(t.forbidden, t.n, t.base_forbidden):<20} "
              f"{t.high_wrong:<10} {recall:<14} {t.max_tokens:>7} {t.max_brief_s:>11.3f}")
    t = Totals.of(outcomes)
    crashes = [o for o in outcomes if o.crash]
    for o in crashes:
        print(f"pipeline crash: {o.scenario.name}: {o.crash}")
    unhealthy = [(o.scenario.name, s, st) for o in outcomes for s, st in o.sources.items()
                 if st not in (SourceStatus.OK.value, SourceStatus.NO_DATA.value, SourceStatus.SKIPPED.value)]
    for name, source, status in unhealthy:
        print(f"source not ok: {name}: {source} {status}")
    for o in outcomes:
        for error in o.fake_errors[:3]:
            print(f"eval fake upstream error (a bug of the eval, not of Sitrep): {o.scenario.name}: {error}")
    no_model = [o.scenario.name for o in outcomes if not o.model_called and not o.crash]
    if no_model:
        print(f"the model was never asked in: {', '.join(no_model)}")
    if not targets:
        return True
    root, action = _pct(t.root, t.n), _pct(t.action, t.n)
    base_root, base_action = _pct(t.base_root, t.n), _pct(t.base_action, t.n)
    recall = _pct(t.clues_found, t.clues_total)
    rows = [
        ("root cause", f"{t.root}/{t.n} = {root:.0%} (baseline {base_root:.0%})", "≥ 90 %", root >= TARGET_ROOT),
        ("first action", f"{t.action}/{t.n} = {action:.0%} (baseline {base_action:.0%})", "≥ 80 %",
         action >= TARGET_ACTION),
        ("root cause above baseline", f"{(root - base_root) * 100:+.0f} points", "≥ +30 points",
         root - base_root >= TARGET_MARGIN - 1e-9),
        ("first action above baseline", f"{(action - base_action) * 100:+.0f} points", "≥ +30 points",
         action - base_action >= TARGET_MARGIN - 1e-9),
        ("HIGH-but-wrong", str(t.high_wrong), "0", t.high_wrong == 0),
        ("forbidden actions", f"{t.forbidden} scenarios (baseline {t.base_forbidden})", "0", t.forbidden == 0),
        ("clue recall", f"{t.clues_found}/{t.clues_total} = {recall:.1%}, max {t.max_tokens:,} tokens, "
                        f"{t.over_budget} over budget", "≥ 95 % within 6,000 tokens",
         recall >= TARGET_RECALL and t.over_budget == 0),
        ("rule-based brief", f"max {t.max_brief_s:.3f} s", "≤ 1 s after collection", t.max_brief_s <= TARGET_BRIEF_S),
        ("pipeline crashes", str(t.crashes), "0", t.crashes == 0),
    ]
    print(f"\ntargets ({split} seeds):")
    for name, figure, target, ok in rows:
        print(f"target | {name} | {figure} | {target} | {'PASS' if ok else 'FAIL'}")
    return all(ok for *_, ok in rows)


def _mark(value: bool) -> str:
    return "✓" if value else "✗"


def run(seeds: Sequence[int]) -> list[Outcome]:
    return asyncio.run(run_seeds(seeds))
