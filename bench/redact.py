"""Bench: the redactor on labelled corpora, development and held-out halves reported apart.

    python bench/redact.py [--strict] [--misses]

Corpora, in ``tests/fixtures/redaction/`` (rows ``{"id", "kind", "source", "text", "secrets": [...], "keep": [...]}``:
a positive row lists the exact secret substrings that must be gone after redaction and, optionally, substrings
that must survive; a negative row has no secrets and must come out unchanged):

- ``dev.jsonl``: the development half of issue 18's corpus. Tune on it; ``--misses`` lists its misses.
- ``heldout.jsonl``: the held-out half. The targets are read on it, and only totals and a per-kind table are
  ever printed for it, never its individual misses.
- ``corpus.jsonl``: the corpus of issue 6, written with the first redactor (a regression check, no target).

Targets (issue 18), on the held-out half:
1. recall: share of labelled secret values no longer present in the output, >= 99 %;
2. worst kind: the lowest recall of any kind, >= 95 %;
3. negatives changed: share of negative rows whose text changed, <= 1 %;
4. throughput on the held-out lines, repeated, >= 20,000 lines/s (mix and negatives only; CPU time of this
   process, best of 3 runs, so that other processes on the machine do not decide the figure).

Beside every accuracy figure the bench prints two trivial redactors, so that a gate that cannot fail shows:
``nothing`` (redacts nothing: recall 0 %, no negative changed) and ``long tokens`` (replaces every token longer
than 16 characters: high recall, and most negatives changed). Exits 0 unless it crashes (or, with
``--strict``, when a target fails).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.digest.redact import Redactor  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "redaction"
CORPUS = FIXTURES / "corpus.jsonl"
DEV = FIXTURES / "dev.jsonl"
HELDOUT = FIXTURES / "heldout.jsonl"
RECALL_TARGET = 0.99
KIND_RECALL_TARGET = 0.95
NEGATIVES_CHANGED_TARGET = 0.01
LINES_PER_SECOND_TARGET = 20_000


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------------------------------ trivial baselines

_LONG_TOKEN = re.compile(r"[^\s\"'=:,;&?{}\[\]()<>|]{17,}")


def redact_nothing(text: str) -> str:
    return text


def redact_long_tokens(text: str) -> str:
    """Every token longer than 16 characters replaced: the 'redact anything that looks random' strawman."""
    return _LONG_TOKEN.sub("<x>", text)


# ----------------------------------------------------------------------------------------------- score


@dataclass
class KindScore:
    secrets: int = 0
    removed: int = 0
    negatives: int = 0
    negatives_changed: int = 0

    @property
    def recall(self) -> float:
        return self.removed / self.secrets if self.secrets else 1.0

    @property
    def changed_share(self) -> float:
        return self.negatives_changed / self.negatives if self.negatives else 0.0


@dataclass
class Score:
    secrets: int = 0
    removed: int = 0
    negatives: int = 0
    negatives_changed: int = 0
    keep: int = 0
    keep_lost: int = 0
    not_idempotent: int = 0
    kinds: dict[str, KindScore] = field(default_factory=lambda: defaultdict(KindScore))
    misses: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.removed / self.secrets if self.secrets else 1.0

    @property
    def negatives_changed_share(self) -> float:
        return self.negatives_changed / self.negatives if self.negatives else 0.0

    def worst_kind(self) -> tuple[str, float]:
        positives = [(k.recall, name) for name, k in self.kinds.items() if k.secrets]
        if not positives:
            return "-", 1.0
        recall, name = min(positives)
        return name, recall


def score(rows: list[dict[str, Any]], redact: Callable[[str], str]) -> Score:
    s = Score()
    for row in rows:
        text: str = row["text"]
        out = redact(text)
        if redact(out) != out:
            s.not_idempotent += 1
        kind = s.kinds[row["kind"]]
        secrets: list[str] = row.get("secrets", [])
        if secrets:
            for secret in secrets:
                s.secrets += 1
                kind.secrets += 1
                if secret in out:
                    s.misses.append(f"#{row['id']} {row['kind']}: {secret!r} still in {_short(out)}")
                else:
                    s.removed += 1
                    kind.removed += 1
            for kept in row.get("keep", []):
                s.keep += 1
                if kept not in out:
                    s.keep_lost += 1
                    s.lost.append(f"#{row['id']} {row['kind']}: {kept!r} lost in {_short(out)}")
        else:
            s.negatives += 1
            kind.negatives += 1
            if out != text:
                s.negatives_changed += 1
                kind.negatives_changed += 1
                s.changed.append(f"#{row['id']} {row['kind']}: {_short(text)}\n      -> {_short(out)}")
    return s


def throughput(rows: list[dict[str, Any]], redactor: Redactor, *, lines: int = 20_000,
               runs: int = 3) -> tuple[float, float]:
    """lines/s over the whole corpus and over its negatives only (most real lines hold no secret).

    Timed as this process's CPU time, the best of ``runs`` (as ``timeit`` does): other engineers' test runs
    share this 2-core machine, and wall-clock time would measure their load rather than the redactor.
    """

    def run(texts: list[str]) -> float:
        batch = (texts * (lines // len(texts) + 1))[:lines]
        redact = redactor.redact
        best = float("inf")
        for _ in range(runs):
            start = time.process_time()
            for t in batch:
                redact(t)
            best = min(best, time.process_time() - start)
        return lines / best

    everything = [r["text"] for r in rows]
    negatives = [r["text"] for r in rows if not r.get("secrets")]
    run(everything[:200])  # warm the regex caches
    return run(everything), run(negatives)


def _short(text: str, limit: int = 160) -> str:
    one = text.replace("\n", "\\n")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _kind_table(dev: Score, held: Score, held_long: Score) -> list[str]:
    """Per kind: dev and held-out figures, and the held-out figure of the long-token strawman."""
    out = ["| kind | dev | held-out | held-out, long tokens |", "| --- | --- | --- | --- |"]
    names = sorted(set(dev.kinds) | set(held.kinds),
                   key=lambda n: (not (held.kinds[n].secrets or dev.kinds[n].secrets), n))
    for name in names:
        d, h, b = dev.kinds[name], held.kinds[name], held_long.kinds[name]
        if h.secrets or d.secrets:
            cells = [f"{k.removed}/{k.secrets} {_pct(k.recall)}" for k in (d, h, b)]
            flag = "" if h.recall >= KIND_RECALL_TARGET else "  <"
            out.append(f"| {name} (recall) | {cells[0]} | {cells[1]}{flag} | {cells[2]} |")
        else:
            cells = [f"{k.negatives_changed}/{k.negatives} changed" for k in (d, h, b)]
            out.append(f"| {name} (negative) | {cells[0]} | {cells[1]} | {cells[2]} |")
    return out


def main(argv: list[str]) -> int:
    dev_rows, held_rows, old_rows = load_corpus(DEV), load_corpus(HELDOUT), load_corpus(CORPUS)
    redactor = Redactor()
    scores: dict[str, dict[str, Score]] = {}
    for name, rows in (("dev", dev_rows), ("held-out", held_rows), ("issue 6", old_rows)):
        scores[name] = {
            "sitrep": score(rows, redactor.redact_text),
            "nothing": score(rows, redact_nothing),
            "long tokens": score(rows, redact_long_tokens),
        }

    print("corpora (tests/fixtures/redaction):")
    for name, rows in (("dev", dev_rows), ("held-out", held_rows), ("issue 6", old_rows)):
        s = scores[name]["sitrep"]
        print(f"  {name:<9} {len(rows)} lines, {len(rows) - s.negatives} with secrets ({s.secrets} values, "
              f"{sum(1 for k in s.kinds.values() if k.secrets)} kinds), {s.negatives} look-alike negatives")

    print("\nrecall / negatives changed, beside two trivial redactors:")
    print(f"  {'corpus':<9} {'sitrep':>26} {'nothing':>22} {'long tokens (>16 chars)':>26}")
    for name in scores:
        cells = [f"{_pct(s.recall)} / {_pct(s.negatives_changed_share)}" for s in scores[name].values()]
        print(f"  {name:<9} {cells[0]:>26} {cells[1]:>22} {cells[2]:>26}")

    dev, held = scores["dev"]["sitrep"], scores["held-out"]["sitrep"]
    print("\nper kind (recall of secret values; negatives: rows changed):\n")
    for row in _kind_table(dev, held, scores["held-out"]["long tokens"]):
        print(row)

    dev_kind, dev_kind_recall = dev.worst_kind()
    dev_kind = "every kind" if dev_kind_recall == 1.0 else dev_kind
    print(f"\ndev: recall {dev.removed}/{dev.secrets} = {dev.recall:.2%}, worst kind {dev_kind} "
          f"{dev_kind_recall:.2%}, negatives changed {dev.negatives_changed}/{dev.negatives} = "
          f"{dev.negatives_changed_share:.2%}, context kept {dev.keep - dev.keep_lost}/{dev.keep}")
    old = scores["issue 6"]["sitrep"]
    print(f"issue 6 corpus: recall {old.removed}/{old.secrets} = {old.recall:.2%}, negatives changed "
          f"{old.negatives_changed}/{old.negatives} = {old.negatives_changed_share:.2%}")

    all_lps, neg_lps = throughput(held_rows, redactor)
    kind, kind_recall = held.worst_kind()
    base = scores["held-out"]
    recall_ok = held.recall >= RECALL_TARGET
    kind_ok = kind_recall >= KIND_RECALL_TARGET
    neg_ok = held.negatives_changed_share <= NEGATIVES_CHANGED_TARGET
    speed_ok = min(all_lps, neg_lps) >= LINES_PER_SECOND_TARGET
    print(f"\nheld-out (targets; trivial baselines: nothing {_pct(base['nothing'].recall)} recall / "
          f"{_pct(base['nothing'].negatives_changed_share)} changed, long tokens "
          f"{_pct(base['long tokens'].recall)} / {_pct(base['long tokens'].negatives_changed_share)}):")
    print(f"recall             {held.removed}/{held.secrets} = {held.recall:.2%}  (target >= {RECALL_TARGET:.0%})  "
          f"{_verdict(recall_ok)}")
    worst = "every kind" if kind_recall == 1.0 else kind
    print(f"worst kind recall  {worst} {kind_recall:.2%}  (target >= {KIND_RECALL_TARGET:.0%})  {_verdict(kind_ok)}")
    print(f"negatives changed  {held.negatives_changed}/{held.negatives} = {held.negatives_changed_share:.2%}  "
          f"(target <= {NEGATIVES_CHANGED_TARGET:.0%})  {_verdict(neg_ok)}")
    print(f"throughput         {all_lps:,.0f} lines/s corpus mix, {neg_lps:,.0f} lines/s negatives only (CPU)  "
          f"(target >= {LINES_PER_SECOND_TARGET:,})  {_verdict(speed_ok)}")
    print(f"context kept       {held.keep - held.keep_lost}/{held.keep} readable substrings survived")
    print(f"idempotent         {len(held_rows) - held.not_idempotent}/{len(held_rows)} lines redact the same twice")

    if "--misses" in argv:  # development half only: the held-out half is never read line by line
        for title, items in (("dev misses", dev.misses), ("dev negatives changed", dev.changed),
                             ("dev context lost", dev.lost)):
            if items:
                print(f"\n{title}:")
                for item in items:
                    print(f"  {item}")
    passed = recall_ok and kind_ok and neg_ok and speed_ok
    print(f"\n{_verdict(passed)}")
    return 1 if "--strict" in argv and not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
