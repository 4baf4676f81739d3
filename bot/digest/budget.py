"""The token budget of the evidence a model sees (default 6,000, design.md "Budgets").

Every source is digested into parts (one line each, with the evidence ids it lets the model cite
and a score for how informative it is). ``fit`` drops the least informative parts first until the
rest fits, and says what it dropped; the parts it keeps stay in their original order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.digest.logs import estimate_tokens

DEFAULT_BUDGET = 6000


@dataclass(frozen=True, slots=True)
class Part:
    source: str  # logs | metrics | deploys | traces
    kind: str  # what it is, for the "dropped" note: "log template", "flat metric", ...
    text: str
    score: float  # higher = more informative = kept longer
    ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.text) + 1


@dataclass(frozen=True, slots=True)
class Budgeted:
    kept: list[Part]
    dropped: Counter[str]
    tokens: int
    budget: int

    def note(self) -> str | None:
        if not self.dropped:
            return None
        what = ", ".join(f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in self.dropped.most_common())
        return f"dropped to fit the {self.budget:,}-token budget: {what}"

    def for_source(self, source: str) -> list[Part]:
        return [p for p in self.kept if p.source == source]


def fit(parts: Sequence[Part], *, budget: int = DEFAULT_BUDGET) -> Budgeted:
    total = sum(p.tokens for p in parts)
    dropped: Counter[str] = Counter()
    gone: set[int] = set()
    for index in sorted(range(len(parts)), key=lambda i: (parts[i].score, -i)):
        if total <= budget:
            break
        gone.add(index)
        total -= parts[index].tokens
        dropped[parts[index].kind] += 1
    kept = [p for i, p in enumerate(parts) if i not in gone]
    return Budgeted(kept=kept, dropped=dropped, tokens=total, budget=budget)
