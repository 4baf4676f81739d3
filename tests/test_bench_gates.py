"""The gates of bench/storm.py and bench/digest.py fail a result that does nothing useful: a storm
merged into one incident, a digest that drops an error template. Fast: no server, a small corpus."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


digest = _load("digest")


# --- bench/digest.py --------------------------------------------------------------------------------------

def _digest_checks(*, drop_error: bool) -> dict[str, bool]:
    from bot.digest.logs import LogDigest, mine_templates, render_templates

    corpus = digest.build_corpus(3_000, seed=3)
    templates = mine_templates(corpus.entries, since=digest.START + timedelta(minutes=1))
    result = render_templates(templates, token_budget=digest.TOKEN_BUDGET)
    if drop_error:  # the digest a budget cut too hard, or a ranking that put noise first, would give
        kept = list(result.kept)
        lost = next(i for i, t in enumerate(kept) if t.is_error)
        result = LogDigest(lines=result.lines[:lost] + result.lines[lost + 1:], kept=kept[:lost] + kept[lost + 1:],
                           dropped=result.dropped + 1, tokens=result.tokens)
    checks = digest.score(corpus, templates, result, budget=digest.TOKEN_BUDGET, seconds=0.1, min_noise=100)
    return {c.name: c.ok for c in checks}


def test_the_digest_gate_passes_the_real_digest_of_a_small_corpus() -> None:
    checks = _digest_checks(drop_error=False)
    assert checks == {name: True for name in checks}, checks


def test_the_digest_gate_fails_when_one_error_template_is_dropped() -> None:
    checks = _digest_checks(drop_error=True)
    assert checks["error templates kept"] is False
    assert checks["error templates mined"] and checks["tokens"]


def test_the_digest_corpus_gives_no_level_and_hides_errors_in_noise() -> None:
    corpus = digest.build_corpus(2_000, seed=1)
    assert all(e.level is None for e in corpus.entries)
    errors = sum(1 for s in corpus.truth.values() if s.error)
    assert corpus.errors == 40 and 80 <= errors <= 0.05 * len(corpus.entries)
    assert corpus.noise >= 500
    shapes = {e.line[:1] for e in corpus.entries}
    assert {"{", "t", "<", "I", "["} <= shapes  # JSON, logfmt, syslog, klog, gunicorn at least


def test_a_noise_template_read_as_an_error_fails_the_gate() -> None:
    from bot.digest.logs import mine_templates, render_templates

    corpus = digest.build_corpus(3_000, seed=3)
    templates = mine_templates(corpus.entries)
    noise = next(t for t in templates if not t.is_error)
    templates[templates.index(noise)] = dataclasses.replace(noise, level="error")
    result = render_templates(templates, token_budget=digest.TOKEN_BUDGET)
    checks = {c.name: c.ok for c in digest.score(corpus, templates, result, budget=digest.TOKEN_BUDGET,
                                                   seconds=0.1, min_noise=100)}
    assert checks["noise read as errors"] is False
