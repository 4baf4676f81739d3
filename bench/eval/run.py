"""The evaluation suite: each scenario in ``bench/eval/scenarios/`` through the whole pipeline.

For every scenario the four upstreams answer as Loki, Prometheus, ArgoCD and Jaeger would (see
``upstreams.py``); the real collectors, redaction, analyst chain and grounding produce the brief,
which is graded against the scenario's ground truth: root-cause service, first action, citations
that exist, HIGH confidence on a wrong answer, tokens, cost, latency.

    python bench/eval/run.py               # the rule-based analyzer (no model)
    python bench/eval/run.py --model       # the model configured in the environment / .env as well

Targets: the rule-based analyzer names the root-cause service on ≥ 75 % of scenarios and never
says HIGH when wrong.

The gate of issue 16 is the generated evaluation (``generator.py``, ``generated_upstreams.py``,
``grading.py``): seeded incidents the code was not written against, development and held-out seeds
reported apart, a trivial baseline beside every figure, targets on the held-out seeds:

    python bench/eval/run.py --generated                   # held-out seeds (the gate)
    python bench/eval/run.py --generated --split dev       # development seeds (tune on these only)
    python bench/eval/run.py --generated --split both
    python bench/eval/run.py --generated --seed 4711 -v    # one scenario, with its story and first prompt
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from bot.analyst.factory import build_analyst  # noqa: E402
from bot.collectors.factory import build_collectors  # noqa: E402
from bot.logs import configure_logging  # noqa: E402
from bot.models import Brief, Confidence, InvestigationRequest, SourceResult, utcnow  # noqa: E402
from bot.service.investigate import Investigator  # noqa: E402
from bot.settings import Settings  # noqa: E402
from upstreams import Scenario, ScenarioUpstreams  # noqa: E402

SCENARIOS = HERE / "scenarios"
NO_ACTION = {"none", "manual"}


@dataclass
class Grade:
    scenario: str
    analyzer: str
    service_ok: bool
    action_ok: bool
    citations_ok: bool
    secrets_ok: bool
    high_but_wrong: bool
    answer: str
    tokens: int
    cost: float
    seconds: float


def settings_for(*, model: bool) -> Settings:
    upstreams = {"loki_url": "http://loki", "prometheus_url": "http://prometheus", "argocd_url": "http://argocd",
                 "argocd_token": SecretStr("eval"), "jaeger_url": "http://jaeger"}
    if model:
        return Settings(**upstreams)  # the model settings come from the environment / .env
    return Settings(_env_file=None, anthropic_api_key=None, openai_api_key=None, **upstreams)  # type: ignore[call-arg]


async def run_one(scenario: Scenario, *, model: bool) -> tuple[Brief, float, set[str]]:
    settings = settings_for(model=model)
    now = utcnow()
    upstreams = ScenarioUpstreams(scenario, settings, now=now)
    collectors = build_collectors(settings, transport=httpx.MockTransport(upstreams))
    analyst = build_analyst(settings)
    collected: set[str] = set()

    def remember(results: list[SourceResult]) -> None:  # every id collected, to check citations
        collected.update(e.id for r in results for e in r.evidence)

    investigator = Investigator(collectors=collectors.collectors, analyst=analyst,
                                source_budget=settings.sitrep_source_timeout,
                                total_budget=settings.sitrep_collect_timeout, on_traces=remember)
    request = InvestigationRequest(service=scenario.service, namespace=scenario.namespace,
                                   message=scenario.alert, window_start=now - timedelta(minutes=30),
                                   window_end=now)
    started = time.perf_counter()
    try:
        brief = await investigator.investigate(request)
    finally:
        await collectors.aclose()
        await analyst.aclose()
    return brief, time.perf_counter() - started, collected


def grade(scenario: Scenario, brief: Brief, seconds: float, collected: set[str]) -> Grade:
    truth = scenario.truth
    first = brief.actions[0].kind.value if brief.actions else "none"
    service_ok = brief.root_cause.service == truth["service"]
    if truth["first_action"] in NO_ACTION:
        action_ok = first in NO_ACTION
    else:
        action_ok = first == truth["first_action"]
    cited = {ref.id for ref in brief.evidence}
    analysis = brief.analysis
    return Grade(
        scenario=scenario.name, analyzer=analysis.model or analysis.status.value, service_ok=service_ok,
        action_ok=action_ok, citations_ok=cited <= collected,
        secrets_ok=not any(secret in brief.model_dump_json() for secret in scenario.secrets),
        high_but_wrong=brief.root_cause.confidence is Confidence.HIGH and not service_ok,
        answer=f"{brief.root_cause.service} {brief.root_cause.confidence.value}/{first}",
        tokens=(analysis.input_tokens or 0) + (analysis.output_tokens or 0), cost=analysis.cost_usd or 0.0,
        seconds=seconds,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="store_true", help="also run the model configured in the environment")
    parser.add_argument("--generated", action="store_true", help="the generated evaluation (issue 16)")
    parser.add_argument("--split", choices=("dev", "heldout", "both"), default="heldout",
                        help="which seeds of seeds.json (default: heldout)")
    parser.add_argument("--seed", type=int, action="append", help="these seeds only (with --generated)")
    parser.add_argument("-v", "--verbose", action="store_true", help="with --seed: the story, truth and prompt")
    parser.add_argument("scenario", nargs="*", help="scenario names (default: all)")
    args = parser.parse_args()
    configure_logging(level="WARNING")
    if args.generated:
        return run_generated(split=args.split, seeds=args.seed, verbose=args.verbose)
    scenarios = [Scenario.load(p) for p in sorted(SCENARIOS.glob("*.yaml"))]
    if args.scenario:
        scenarios = [s for s in scenarios if s.name in args.scenario]
    modes = [False, True] if args.model else [False]
    ok = True
    for model in modes:
        grades = []
        for scenario in scenarios:
            brief, seconds, collected = asyncio.run(run_one(scenario, model=model))
            grades.append(grade(scenario, brief, seconds, collected))
        title = "model chain" if model else "rule-based analyzer (no model)"
        print(f"\n{title}: {len(grades)} scenarios")
        print(f"{'scenario':<28} {'truth':<30} {'answer':<34} svc act cite clean HIGH-wrong tokens cost$ s")
        for g, s in zip(grades, scenarios, strict=True):
            truth = f"{s.truth['service']}/{s.truth['first_action']}"
            print(f"{g.scenario:<28} {truth:<30} {g.answer:<34} {_mark(g.service_ok):<3} {_mark(g.action_ok):<3} "
                  f"{_mark(g.citations_ok):<4} {_mark(g.secrets_ok):<5} {'YES' if g.high_but_wrong else '-':<10} {g.tokens:<6} "
                  f"{g.cost:<5.4f} {g.seconds:.2f}")
        n = len(grades)
        service = sum(g.service_ok for g in grades)
        action = sum(g.action_ok for g in grades)
        citations = sum(g.citations_ok for g in grades)
        clean = sum(g.secrets_ok for g in grades)
        high_wrong = sum(g.high_but_wrong for g in grades)
        print(f"total: root-cause service {service}/{n} ({service / n:.0%}), first action {action}/{n} "
              f"({action / n:.0%}), citations valid {citations}/{n}, no secret leaked {clean}/{n}, "
              f"HIGH-but-wrong {high_wrong}, "
              f"tokens {sum(g.tokens for g in grades)}, cost ${sum(g.cost for g in grades):.4f}, "
              f"mean latency {sum(g.seconds for g in grades) / n:.2f} s")
        if not model:
            passed = service / n >= 0.75 and high_wrong == 0 and citations == clean == n
            print(f"target (rule-based): service ≥ 75 %, no HIGH-but-wrong, every citation real, no secret "
                  f"leaked: {'PASS' if passed else 'FAIL'}")
            ok = ok and passed
    return 0 if ok else 1


def run_generated(*, split: str, seeds: list[int] | None, verbose: bool) -> int:
    """The generated evaluation; exit 1 when a held-out target fails."""
    import grading  # noqa: PLC0415 (only this mode needs it)
    import generator  # noqa: PLC0415

    started = time.perf_counter()
    if seeds:
        outcomes = grading.run(seeds)
        grading.report(outcomes, split="chosen", targets=False)
        if verbose:
            for o in outcomes:
                print(f"\n{o.scenario.name}: {o.scenario.story}\nred herrings: {o.scenario.red_herrings}; "
                      f"label scheme {o.scenario.label_scheme}; settings {o.scenario.settings}")
                print(f"truth: {o.scenario.truth}")
                print(f"answer: {o.answer.describe() if o.answer else o.crash}")
        return 0
    ok = True
    for name in (("dev", "heldout") if split == "both" else (split,)):
        outcomes = grading.run(generator.seeds(name))
        passed = grading.report(outcomes, split=name, targets=name == "heldout")
        ok = ok and passed
    print(f"\ngenerated eval finished in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def _mark(value: bool) -> str:
    return "✓" if value else "✗"


if __name__ == "__main__":
    raise SystemExit(main())
