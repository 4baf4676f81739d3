"""Block Kit builders, tested as data: valid for Slack, inside its limits, nothing injectable."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

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
from bot.slack.blocks import (
    brief_fallback_text,
    brief_metadata,
    build_brief_blocks,
    build_continuation_messages,
    build_error_blocks,
    build_progress_blocks,
    build_root_blocks,
    build_usage_blocks,
    usage_text,
)
from bot.slack.ids import BRIEF_EVENT_TYPE, ActionId

INJECTIONS = ("<!channel>", "<@U123>", "<https://evil|click>")


# --------------------------------------------------------------------------- factories


def make_actions() -> list[Action]:
    """Deliberately not in safety order."""
    return [
        Action(kind=ActionKind.RUNBOOK, target={"service": "checkout"}, params={"name": "flush-cache"},
               rationale="cache misses doubled"),
        Action(kind=ActionKind.SCALE, target={"service": "checkout", "namespace": "shop"},
               params={"replicas": 6}, rationale="CPU at 95%"),
        Action(kind=ActionKind.ROLLBACK, target={"service": "checkout", "app": "checkout-prod"},
               params={"to_revision": "v2.14.2", "history_id": 12}, rationale="errors began with v2.14.3"),
    ]


def make_brief(
    *,
    status: AnalysisStatus = AnalysisStatus.COMPLETED,
    summary: list[str] | None = None,
    evidence: list[EvidenceRef] | None = None,
    **analysis: Any,
) -> Brief:
    return Brief(
        title="checkout p99 latency 8.2 s after deploy v2.14.3",
        summary=summary
        if summary is not None
        else ["p99 200 ms → 8.2 s at 03:41 UTC", "5xx ratio 0.1% → 12%", "v2.14.3 deployed 03:39 UTC"],
        category=Category.DEPLOY_REGRESSION,
        root_cause=RootCause(
            statement="v2.14.3 exhausts the payments connection pool",
            service="checkout",
            confidence=Confidence.HIGH,
            confidence_score=85,
        ),
        evidence=evidence
        if evidence is not None
        else [
            EvidenceRef(id="deploys-1", source=EvidenceSource.DEPLOYS, detail="v2.14.3 synced at 03:39 UTC",
                        link="https://argocd.example/applications/checkout?rev=v2.14.3&view=tree"),
            EvidenceRef(id="logs-1", source=EvidenceSource.LOGS, detail="pool exhausted (x412)"),
            EvidenceRef(id="metrics-1", source=EvidenceSource.METRICS, detail="p99 8.2 s",
                        link="javascript:alert(1)"),
        ],
        actions=make_actions(),
        affected_services=["checkout", "payments"],
        unknowns=["payments-db metrics were not available"],
        next_checks=["check payments pool size"],
        analysis=Analysis(status=status, **analysis),
    )


def ai_brief(**kw: Any) -> Brief:
    return make_brief(
        model="claude-haiku-4-5", latency_ms=1840, input_tokens=4210, output_tokens=388, cost_usd=0.0061,
        sources={"loki": SourceStatus.OK, "prometheus": SourceStatus.OK, "argocd": SourceStatus.OK,
                 "jaeger": SourceStatus.OK},
        **kw,
    )


def rule_based_brief(**kw: Any) -> Brief:
    return make_brief(
        status=AnalysisStatus.DETERMINISTIC,
        latency_ms=12,
        fallback_reason="model timeout after 10 s",
        sources={"loki": SourceStatus.ERROR, "prometheus": SourceStatus.OK, "argocd": SourceStatus.OK,
                 "jaeger": SourceStatus.TIMEOUT, "extra": SourceStatus.NO_DATA},
        source_notes=["Loki: error HTTP 500", "Jaeger: timeout"],
        **kw,
    )


# --------------------------------------------------------------------------- helpers


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every text a person reads, one entry per text object."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"mrkdwn", "plain_text"} and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def shown(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(texts(blocks))


def assert_valid(blocks: list[dict[str, Any]]) -> None:
    """Round-trips through slack_sdk's models, which raise on any limit Slack enforces."""
    assert 0 < len(blocks) <= 50
    for raw in blocks:
        parsed = Block.parse(raw)
        assert parsed is not None
        parsed.validate_json()
        assert parsed.to_dict() == raw
        if raw["type"] == "header":
            assert len(raw["text"]["text"]) <= 150
        if raw["type"] == "section":
            assert "text" not in raw or len(raw["text"]["text"]) <= 3000
            assert len(raw.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in raw.get("fields", []))
        if raw["type"] == "context":
            assert 0 < len(raw["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in raw["elements"])


def assert_no_raw_control(blocks: list[dict[str, Any]]) -> None:
    """No untrusted ``<…>`` survived: the only ``<…>`` left are links we built and user mentions."""
    for text in texts(blocks):
        for match in re.finditer(r"<([^>]*)>", text):
            inner = match.group(1)
            assert re.fullmatch(r"https?://[^|\s]+\|[^|]+", inner) or re.fullmatch(r"@[UW][A-Z0-9]+", inner), inner


# --------------------------------------------------------------------------- ids


def test_action_ids_are_fixed_by_design() -> None:
    assert ActionId.APPROVE == "sitrep_approve"
    assert ActionId.REJECT == "sitrep_reject"
    assert BRIEF_EVENT_TYPE == "sitrep_brief"


# --------------------------------------------------------------------------- brief


@pytest.mark.parametrize("brief", [ai_brief(), rule_based_brief()], ids=["ai", "rule-based"])
def test_brief_blocks_are_valid_slack(brief: Brief) -> None:
    blocks = build_brief_blocks(brief, incident_id=42, severity="critical")
    assert_valid(blocks)
    assert_no_raw_control(blocks)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"].startswith("🔴 ")
    assert "checkout" in blocks[0]["text"]["text"]


def test_ai_brief_content() -> None:
    blocks = build_brief_blocks(ai_brief(), incident_id=42)
    text = shown(blocks)
    assert RULE_BASED_BANNER not in text
    assert "*Root cause* (HIGH, 85/100) — v2.14.3 exhausts the payments connection pool" in text
    assert "Service: `checkout`" in text
    for bullet in ai_brief().summary:
        assert f"• {bullet}" in text
    # evidence: label, id, detail; the link only when http(s), with & escaped inside the URL
    assert "• *Deploys* `deploys-1` v2.14.3 synced at 03:39 UTC" in text
    assert "<https://argocd.example/applications/checkout?rev=v2.14.3&amp;view=tree|open>" in text
    assert "• *Logs* `logs-1` pool exhausted (x412)" in text
    assert "javascript" not in text
    assert "payments-db metrics were not available" in text
    assert "check payments pool size" in text
    # footer: model, latency, tokens, cost, every source, the incident
    footer = " ".join(e["text"] for e in blocks[-1]["elements"])
    for part in ("claude-haiku-4-5", "1.8 s", "4,598 tokens", "$0.0061", "Loki: ok", "Jaeger: ok", "Incident #42"):
        assert part in footer
    assert "⚠️ Loki" not in text  # no source problems to name


def test_actions_are_listed_safest_first_and_readably() -> None:
    text = shown(build_brief_blocks(ai_brief()))
    rollback = text.index("1. Roll back *checkout* to `v2.14.2` (history 12) via Argo CD app `checkout-prod` — errors began")
    scale = text.index("2. Scale *checkout* to 6 replicas in `shop` — CPU at 95%")
    runbook = text.index("3. Run runbook `flush-cache` for *checkout* — cache misses doubled")
    assert rollback < scale < runbook


def test_rule_based_brief_says_so_and_names_missing_sources() -> None:
    brief = rule_based_brief()
    blocks = build_brief_blocks(brief)
    text = shown(blocks)
    assert text.count(RULE_BASED_BANNER) == 1
    assert "model timeout after 10 s" in text
    assert "Loki: error HTTP 500 · Jaeger: timeout · extra: no data" in text
    footer = " ".join(e["text"] for e in blocks[-1]["elements"])
    assert "rule-based" in footer
    assert "Jaeger: timeout" in footer


@pytest.mark.parametrize("where", ["summary", "detail", "title", "statement", "rationale", "note"])
def test_model_written_mentions_and_links_are_neutralised(where: str) -> None:
    payload = " ".join(INJECTIONS) + " & @channel @here"
    brief = rule_based_brief()
    if where == "summary":
        brief = rule_based_brief(summary=[payload])
    elif where == "detail":
        brief = rule_based_brief(
            evidence=[EvidenceRef(id="logs-1", source=EvidenceSource.LOGS, detail=payload, link="https://ok.example/x")]
        )
    elif where == "title":
        brief = brief.model_copy(update={"title": payload})
    elif where == "statement":
        brief = brief.model_copy(update={"root_cause": brief.root_cause.model_copy(update={"statement": payload})})
    elif where == "rationale":
        action = brief.actions[0].model_copy(update={"rationale": payload})
        brief = brief.model_copy(update={"actions": [action]})
    else:
        brief.analysis.source_notes.append(f"Loki: error {payload}")
    blocks = build_brief_blocks(brief)
    assert_valid(blocks)
    assert_no_raw_control(blocks)
    dumped = json.dumps(blocks, ensure_ascii=False)
    for injection in INJECTIONS:
        assert injection not in dumped
    assert "&lt;!channel&gt;" in dumped
    assert "&lt;@U123&gt;" in dumped
    assert "&lt;https://evil|click&gt;" in dumped
    assert "@channel" not in dumped and "@here" not in dumped  # broken with a word joiner
    assert all(t["verbatim"] for t in _mrkdwn_objects(blocks))  # no auto-linking of plain text
    fallback = brief_fallback_text(brief)
    if where in {"title", "statement", "note"}:
        assert "&lt;!channel&gt;" in fallback
    for injection in INJECTIONS:
        assert injection not in fallback


def _mrkdwn_objects(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


def test_a_huge_brief_is_truncated_within_limits_and_says_so() -> None:
    evidence = [
        EvidenceRef(id=f"logs-{i}", source=EvidenceSource.LOGS, detail=f"line {i} " + "&<x>" * 1250,
                    link=f"https://grafana.example/explore?q={i}&" + "a" * 300)
        for i in range(200)
    ]
    brief = rule_based_brief(evidence=evidence, summary=["s" * 5000, "t" * 5000, "u" * 5000])
    many_actions = [
        Action(kind=ActionKind.MANUAL, target={"service": "checkout"}, params={"text": "x" * 5000},
               rationale="r" * 5000)
        for _ in range(12)
    ]
    brief = brief.model_copy(
        update={
            "title": "T" * 400,
            "actions": many_actions,
            "unknowns": ["u" * 5000] * 40,
            "next_checks": ["n" * 5000] * 40,
            "affected_services": [f"svc-{i}" for i in range(100)],
        }
    )
    brief.analysis.source_notes.extend(["Prometheus: error " + "e" * 5000] * 3)
    blocks = build_brief_blocks(brief, incident_id="x" * 500)
    assert_valid(blocks)
    assert_no_raw_control(blocks)
    assert len(blocks) <= 45  # room left for the approval rows of a later issue
    text = shown(blocks)
    assert "(truncated" in text
    assert "more evidence items)" in text
    assert "more actions)" in text
    assert RULE_BASED_BANNER in text
    assert len(brief_fallback_text(brief)) <= 3000


def test_two_hundred_evidence_items_continue_in_the_thread_within_limits() -> None:
    evidence = [
        EvidenceRef(id=f"logs-{i}", source=EvidenceSource.LOGS, detail=f"line {i} " + "&<x>" * 100,
                    link=f"https://grafana.example/explore?q={i}")
        for i in range(200)
    ]
    brief = rule_based_brief(evidence=evidence)
    blocks = build_brief_blocks(brief, incident_id=3)
    assert_valid(blocks)
    assert "(continued in the thread: " in shown(blocks)
    messages = build_continuation_messages(brief)
    assert messages
    ids: list[str] = re.findall(r"`(logs-\d+)`", shown(blocks))
    for message in messages:
        assert_valid(message)
        assert len(message) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in message if b["type"] == "section")
        ids += re.findall(r"`(logs-\d+)`", shown(message))
    assert ids == [f"logs-{i}" for i in range(200)]  # every item once, in order
    assert "Evidence (continued)" in shown(messages[0]) and "of 200" in shown(messages[-1])


def test_a_brief_that_fits_has_no_continuation() -> None:
    assert build_continuation_messages(rule_based_brief()) == []


def test_evidence_that_needs_several_sections_stays_in_order() -> None:
    evidence = [
        EvidenceRef(id=f"metrics-{i}", source=EvidenceSource.METRICS, detail="d" * 280) for i in range(20)
    ]
    blocks = build_brief_blocks(ai_brief(evidence=evidence))
    assert_valid(blocks)
    text = shown(blocks)
    positions = [text.index(f"`metrics-{i}`") for i in range(20)]
    assert positions == sorted(positions)
    assert "(truncated" not in text


# --------------------------------------------------------------------------- fallback text, metadata


def test_fallback_text() -> None:
    ai = brief_fallback_text(ai_brief())
    assert "checkout p99 latency 8.2 s after deploy v2.14.3" in ai
    assert "Root cause (HIGH, 85/100): v2.14.3 exhausts the payments connection pool" in ai
    assert RULE_BASED_BANNER not in ai
    rb = brief_fallback_text(rule_based_brief())
    assert f"{RULE_BASED_BANNER} (model timeout after 10 s)" in rb
    assert "Loki: error HTTP 500 · Jaeger: timeout" in rb


def test_metadata_payload_shape() -> None:
    assert brief_metadata(rule_based_brief(), incident_id=7) == {
        "event_type": "sitrep_brief",
        "event_payload": {
            "incident_id": 7,
            "status": "DETERMINISTIC",
            "root_cause_service": "checkout",
            "confidence": "HIGH",
            "category": "deploy_regression",
        },
    }
    assert brief_metadata(ai_brief(), incident_id="inc-1")["event_payload"]["status"] == "COMPLETED"


# --------------------------------------------------------------------------- other messages


def test_root_blocks() -> None:
    blocks = build_root_blocks(service="checkout", message="p99 is 8s <!channel>", requested_by="U0123ABCD")
    assert_valid(blocks)
    assert_no_raw_control(blocks)
    text = shown(blocks)
    assert text == '🔎 Investigating *checkout* — "p99 is 8s &lt;!channel&gt;" (requested by <@U0123ABCD>)'


def test_root_blocks_do_not_mention_what_is_not_a_user_id() -> None:
    blocks = build_root_blocks(service="<!here>", message=None, requested_by="!channel")
    assert_no_raw_control(blocks)
    assert shown(blocks) == "🔎 Investigating *&lt;!here&gt;* (requested by !channel)"


def test_progress_blocks() -> None:
    plain = build_progress_blocks(service="checkout")
    assert_valid(plain)
    assert "Collecting context for *checkout* from Loki, Prometheus, ArgoCD, Jaeger, Kubernetes…" in shown(plain)
    assert "fields" not in plain[0]

    blocks = build_progress_blocks(
        service="checkout",
        statuses={"jaeger": "timeout", "loki": "error HTTP 500", "prometheus": "ok", "argocd": "pending"},
    )
    assert_valid(blocks)
    fields = [f["text"] for f in blocks[0]["fields"]]
    assert fields == ["*Loki*\n❌ error HTTP 500", "*Prometheus*\n✅ ok", "*ArgoCD*\n⏳ pending", "*Jaeger*\n⏱️ timeout"]

    crowded = build_progress_blocks(service="x", statuses={f"s{i}": "<@U1> " + "y" * 3000 for i in range(15)})
    assert_valid(crowded)
    assert_no_raw_control(crowded)


def test_usage_lists_only_what_works_today() -> None:
    blocks = build_usage_blocks()
    assert_valid(blocks)
    text = shown(blocks) + usage_text()
    assert "/incident <service> [what you see]" in text
    assert "/incident help" in text
    assert "/incident postmortem <id>" in text
    assert "/incident stats" in text
    for command in ("list", "status <id>", "resolve <id> [note]", "reopen <id>"):
        assert f"/incident {command}" in text


def test_error_blocks() -> None:
    blocks = build_error_blocks(service="checkout", reason="store unavailable <!channel>\n" + "z" * 5000)
    assert_valid(blocks)
    assert_no_raw_control(blocks)
    text = shown(blocks)
    assert text.startswith("⚠️ Could not investigate *checkout*: store unavailable &lt;!channel&gt;")
    assert text.endswith("… (truncated)")
