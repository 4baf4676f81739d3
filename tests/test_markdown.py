"""The brief as Markdown for ``sitrep investigate``."""

from __future__ import annotations

from typing import Any

import pytest

from bot.markdown import clip, one_line, render_brief_markdown, safe_url
from bot.models import (
    RULE_BASED_BANNER,
    Action,
    ActionKind,
    Analysis,
    AnalysisStatus,
    Brief,
    Category,
    Confidence,
    EvidenceRef,
    EvidenceSource,
    RootCause,
    SourceStatus,
)


def make_brief(*, analysis: Analysis, **update: Any) -> Brief:
    brief = Brief(
        title="checkout p99 latency 8.2 s after deploy v2.14.3",
        summary=["p99 200 ms → 8.2 s at 03:41 UTC", "5xx ratio 0.1% → 12%"],
        category=Category.DEPLOY_REGRESSION,
        root_cause=RootCause(
            statement="v2.14.3 exhausts the payments connection pool",
            service="checkout",
            confidence=Confidence.MEDIUM,
            confidence_score=62,
        ),
        evidence=[
            EvidenceRef(id="deploys-1", source=EvidenceSource.DEPLOYS, detail="v2.14.3 synced at 03:39 UTC",
                        link="https://argocd.example/applications/checkout"),
            EvidenceRef(id="traces-1", source=EvidenceSource.TRACES, detail="payments span 7.9 s",
                        link="file:///etc/passwd"),
        ],
        actions=[
            Action(kind=ActionKind.MANUAL, target={"service": "checkout"}, params={"text": "page payments team"},
                   rationale="dependency suspected"),
            Action(kind=ActionKind.RESTART, target={"service": "checkout", "namespace": "shop"},
                   rationale="pool may recover"),
            Action(kind=ActionKind.ROLLBACK, target={"service": "checkout"},
                   params={"to_revision": "v2.14.2", "history_id": 12}, rationale="errors began with v2.14.3"),
        ],
        unknowns=["payments-db metrics were not available"],
        next_checks=["check payments pool size"],
        analysis=analysis,
    )
    return brief.model_copy(update=update)


AI = Analysis(
    status=AnalysisStatus.COMPLETED, model="claude-haiku-4-5", latency_ms=1840, input_tokens=4210,
    output_tokens=388, cost_usd=0.0061,
    sources={"loki": SourceStatus.OK, "prometheus": SourceStatus.OK, "argocd": SourceStatus.OK,
             "jaeger": SourceStatus.OK},
)
RULE_BASED = Analysis(
    status=AnalysisStatus.DETERMINISTIC, latency_ms=9, fallback_reason="no API key configured",
    sources={"loki": SourceStatus.ERROR, "prometheus": SourceStatus.OK, "argocd": SourceStatus.OK,
             "jaeger": SourceStatus.SKIPPED},
    source_notes=["Loki: error HTTP 500", "Jaeger: not configured"],
)


def test_ai_brief_as_markdown() -> None:
    md = render_brief_markdown(make_brief(analysis=AI))
    assert md.startswith("# checkout p99 latency 8.2 s after deploy v2.14.3\n")
    assert RULE_BASED_BANNER not in md
    assert "- p99 200 ms → 8.2 s at 03:41 UTC" in md
    assert "**MEDIUM, 62/100**: v2.14.3 exhausts the payments connection pool" in md
    assert "- Service: `checkout`" in md
    assert "- `deploys-1` Deploys: v2.14.3 synced at 03:39 UTC ([link](https://argocd.example/applications/checkout))" in md
    assert "- `traces-1` Traces: payments span 7.9 s\n" in md  # a non-http link is dropped
    assert "## What I could not check\n- payments-db metrics were not available" in md
    assert "## Next checks\n- check payments pool size" in md
    footer = md.strip().splitlines()[-1]
    for part in ("model claude-haiku-4-5", "1.8 s", "4,598 tokens", "$0.0061", "Loki: ok", "Jaeger: ok"):
        assert part in footer
    assert "**Sources:**" not in md
    # no Slack mrkdwn
    assert "&lt;" not in md and "<http" not in md


def test_actions_safest_first() -> None:
    md = render_brief_markdown(make_brief(analysis=AI))
    first = md.index("1. Roll back **checkout** to `v2.14.2` (history 12) — errors began with v2.14.3")
    second = md.index("2. Restart **checkout** in `shop` — pool may recover")
    third = md.index("3. Manual step for **checkout**: page payments team — dependency suspected")
    assert first < second < third


def test_rule_based_brief_as_markdown() -> None:
    md = render_brief_markdown(make_brief(analysis=RULE_BASED))
    assert f"> **{RULE_BASED_BANNER}** (no API key configured)" in md
    assert "**Sources:** Loki: error HTTP 500 · Jaeger: not configured" in md
    assert "rule-based" in md.strip().splitlines()[-1]


def test_untrusted_text_cannot_form_html_or_links() -> None:
    brief = make_brief(analysis=AI, summary=["<script>x</script> [click](https://evil) \x1b[31mred"])
    md = render_brief_markdown(brief)
    assert "<script>" not in md
    assert "[click](https://evil)" not in md
    assert "\x1b" not in md
    assert r"\<script\>x\</script\> \[click\](https://evil)" in md


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://grafana.example/d/x?a=1&b=2", "https://grafana.example/d/x?a=1&b=2"),
        ("http://h/a b|c<d>", "http://h/a%20b%7Cc%3Cd%3E"),
        ("javascript:alert(1)", None),
        ("file:///etc/passwd", None),
        ("https://", None),
        ("//evil.example/x", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_clip_and_one_line() -> None:
    assert clip("abc", 3) == "abc"
    clipped = clip("a" * 100, 20)
    assert len(clipped) == 20 and clipped.endswith("… (truncated)")
    assert one_line(" a\n\tb\x00  c ", limit=50) == "a b c"
