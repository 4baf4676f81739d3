"""Bench: the redactor on the labelled corpus ``tests/fixtures/redaction/corpus.jsonl``.

    python bench/redact.py [--strict]

Each corpus row is ``{"id", "kind", "source", "text", "secrets": [...], "keep": [...]}``: a positive row lists
the exact secret substrings that must be gone after redaction and, optionally, substrings that must survive
(the user and host around a URL password, the status code after a token); a negative row has no secrets
and must come out unchanged (git SHAs, digests, UUIDs, trace ids, pod names, versions, private IPs, ...).

Targets (issue 6):
1. recall: share of labelled secret values no longer present in the output, ≥ 99 %;
2. negatives changed: share of negative rows whose text changed, ≤ 2 %;
3. throughput on typical log lines (the corpus lines, repeated), ≥ 20,000 lines/s.
Also printed, not targets: readable context lost (``keep`` substrings removed), idempotence failures.

Prints figures, PASS/FAIL per target and every miss; exits 0 unless it crashes (or, with ``--strict``,
when a target fails).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.digest.redact import Redactor  # noqa: E402

CORPUS = ROOT / "tests" / "fixtures" / "redaction" / "corpus.jsonl"
RECALL_TARGET = 0.99
NEGATIVES_CHANGED_TARGET = 0.02
LINES_PER_SECOND_TARGET = 20_000


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Score:
    secrets: int = 0
    removed: int = 0
    negatives: int = 0
    negatives_changed: int = 0
    keep: int = 0
    keep_lost: int = 0
    not_idempotent: int = 0
    misses: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.removed / self.secrets if self.secrets else 1.0

    @property
    def negatives_changed_share(self) -> float:
        return self.negatives_changed / self.negatives if self.negatives else 0.0


def score(rows: list[dict[str, Any]], redactor: Redactor) -> Score:
    s = Score()
    for row in rows:
        text: str = row["text"]
        out = redactor.redact_text(text)
        if redactor.redact_text(out) != out:
            s.not_idempotent += 1
        secrets: list[str] = row.get("secrets", [])
        if secrets:
            for secret in secrets:
                s.secrets += 1
                if secret in out:
                    s.misses.append(f"#{row['id']} {row['kind']}: {secret!r} still in {_short(out)}")
                else:
                    s.removed += 1
            for kept in row.get("keep", []):
                s.keep += 1
                if kept not in out:
                    s.keep_lost += 1
                    s.lost.append(f"#{row['id']} {row['kind']}: {kept!r} lost in {_short(out)}")
        else:
            s.negatives += 1
            if out != text:
                s.negatives_changed += 1
                s.changed.append(f"#{row['id']} {row['kind']}: {_short(text)}\n      -> {_short(out)}")
    return s


def throughput(rows: list[dict[str, Any]], redactor: Redactor, *, lines: int = 50_000) -> tuple[float, float]:
    """lines/s over the whole corpus and over its negatives only (most real lines hold no secret)."""

    def run(texts: list[str]) -> float:
        batch = (texts * (lines // len(texts) + 1))[:lines]
        redact = redactor.redact
        start = time.perf_counter()
        for t in batch:
            redact(t)
        return lines / (time.perf_counter() - start)

    everything = [r["text"] for r in rows]
    negatives = [r["text"] for r in rows if not r.get("secrets")]
    run(everything[:200])  # warm the regex caches
    return run(everything), run(negatives)


def _short(text: str, limit: int = 160) -> str:
    one = text.replace("\n", "\\n")
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str]) -> int:
    rows = load_corpus()
    redactor = Redactor()
    s = score(rows, redactor)
    all_lps, neg_lps = throughput(rows, redactor)
    positives = len(rows) - s.negatives

    print(f"corpus: {len(rows)} lines, {positives} with secrets ({s.secrets} secret values), "
          f"{s.negatives} look-alike negatives ({s.negatives / len(rows):.0%})")
    recall_ok = s.recall >= RECALL_TARGET
    neg_ok = s.negatives_changed_share <= NEGATIVES_CHANGED_TARGET
    speed_ok = min(all_lps, neg_lps) >= LINES_PER_SECOND_TARGET
    print(f"recall             {s.removed}/{s.secrets} = {s.recall:.2%}  (target >= {RECALL_TARGET:.0%})  "
          f"{_verdict(recall_ok)}")
    print(f"negatives changed  {s.negatives_changed}/{s.negatives} = {s.negatives_changed_share:.2%}  "
          f"(target <= {NEGATIVES_CHANGED_TARGET:.0%})  {_verdict(neg_ok)}")
    print(f"throughput         {all_lps:,.0f} lines/s corpus mix, {neg_lps:,.0f} lines/s negatives only  "
          f"(target >= {LINES_PER_SECOND_TARGET:,})  {_verdict(speed_ok)}")
    print(f"context kept       {s.keep - s.keep_lost}/{s.keep} readable substrings survived")
    print(f"idempotent         {len(rows) - s.not_idempotent}/{len(rows)} lines redact the same twice")
    for title, items in (("misses", s.misses), ("negatives changed", s.changed), ("context lost", s.lost)):
        if items:
            print(f"\n{title}:")
            for item in items:
                print(f"  {item}")
    passed = recall_ok and neg_ok and speed_ok
    print(f"\n{_verdict(passed)}")
    return 1 if "--strict" in argv and not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
