"""The gates of bench/storm.py and bench/digest.py fail a result that does nothing useful: a storm
merged into one incident, a digest that drops an error template. Fast: no server, a small corpus."""

from __future__ import annotations

import dataclasses
import functools
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

@functools.cache
def _mined() -> tuple[object, tuple[object, ...]]:
    """A small corpus (3,000 lines, every template of the full one) and its templates, mined once."""
    from bot.digest.logs import mine_templates

    corpus = digest.build_corpus(3_000, seed=3)
    return corpus, tuple(mine_templates(corpus.entries, since=digest.START + timedelta(minutes=1)))


def _digest_checks(*, drop_error: bool) -> dict[str, bool]:
    from bot.digest.logs import LogDigest, render_templates

    corpus, templates = _mined()
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
    from bot.digest.logs import render_templates

    corpus, mined = _mined()
    templates = list(mined)
    noise = next(t for t in templates if not t.is_error)
    templates[templates.index(noise)] = dataclasses.replace(noise, level="error")
    result = render_templates(templates, token_budget=digest.TOKEN_BUDGET)
    checks = {c.name: c.ok for c in digest.score(corpus, templates, result, budget=digest.TOKEN_BUDGET,
                                                   seconds=0.1, min_noise=100)}
    assert checks["noise read as errors"] is False


# --- bench/storm.py ---------------------------------------------------------------------------------------

storm = _load("storm")


def _storm_alerts() -> list[tuple[str, str]]:
    """The storm's alerts (service, alert name), re-sends included, as the bench sends them."""
    return [(service, name) for _, service, name, _ in storm.schedule(1000, 60.0)]


def _grouped(alerts: list[tuple[str, str]], *, root_of: dict[str, str]) -> list[object]:
    roots = dict.fromkeys(root_of[s] for s, _ in alerts)
    return [storm.StormIncident(root, tuple(s for s, _ in alerts if root_of[s] == root)) for root in roots]


def test_the_storm_scorer_passes_exactly_the_true_root_incidents() -> None:
    alerts = _storm_alerts()
    score = storm.score_storm(_grouped(alerts, root_of=storm.ROOT_OF))
    assert score.passed and score.exact == ("orders-db", "redis-cache", "auth")
    assert (score.precision, score.recall) == (1.0, 1.0)


def test_the_storm_scorer_fails_one_incident_for_everything() -> None:
    score = storm.score_storm(storm.all_in_one(_storm_alerts()))
    assert not score.passed and score.incidents == 1 and score.exact == ()
    assert score.recall == 1.0 and score.precision < 0.5


def test_the_storm_scorer_fails_one_incident_per_alert() -> None:
    score = storm.score_storm(storm.one_per_alert(_storm_alerts()))
    assert not score.passed and score.incidents > 30 and score.exact == ()
    assert score.precision == 1.0 and score.recall < 0.2


def test_the_storm_scorer_fails_a_near_miss() -> None:
    """Three incidents are not enough: each must investigate its root and hold exactly its alerts."""
    alerts = _storm_alerts()
    moved = {**storm.ROOT_OF, "frontend": "auth"}  # one caller's alerts in the wrong incident
    score = storm.score_storm(_grouped(alerts, root_of=moved))
    assert score.incidents == 3 and not score.passed and score.exact == ("redis-cache",)
    wrong_root = [storm.StormIncident("checkout" if i.investigates == "orders-db" else i.investigates, i.alerts)
                  for i in _grouped(alerts, root_of=storm.ROOT_OF)]
    assert not storm.score_storm(wrong_root).passed
    assert not storm.score_storm(_grouped(alerts, root_of=storm.ROOT_OF), unplaced=1).passed


def test_the_storm_truth_covers_every_alerting_service() -> None:
    assert {s for s, _ in _storm_alerts()} == set(storm.ROOT_OF)
