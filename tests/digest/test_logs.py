from datetime import UTC, datetime, timedelta

from bot.digest.logs import LogEntry, mask, mine_templates, render_templates

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def entries() -> list[LogEntry]:
    out = []
    for i in range(200):
        out.append(LogEntry(at=T0 + timedelta(seconds=i), line=f"GET /api/cart/{i} 200 {i % 90}ms", level="info",
                            evidence_id=f"logs-{i}"))
    for i in range(30):
        out.append(LogEntry(at=T0 + timedelta(minutes=10, seconds=i), level="error", evidence_id=f"logs-e{i}",
                            line=f"timeout acquiring connection from pool orders-db after {5000 + i}ms"))
    out.append(LogEntry(at=T0 + timedelta(seconds=5), line="starting checkout version v2.14.3", level="info",
                        evidence_id="logs-start"))
    return out


def test_variants_collapse_into_templates_with_counts_errors_first() -> None:
    templates = mine_templates(entries(), since=T0 + timedelta(minutes=5))
    first = templates[0]
    assert first.is_error and first.new and first.count == 30
    assert "timeout acquiring connection from pool orders-db" in first.template
    assert first.evidence_ids == ["logs-e0", "logs-e1", "logs-e2"]
    assert first.first_seen == T0 + timedelta(minutes=10)
    cart = next(t for t in templates if "/api/cart" in t.template)
    assert cart.count == 200 and not cart.new and cart.level == "info"


def test_the_budget_drops_info_before_errors_and_says_so() -> None:
    templates = mine_templates(entries(), since=T0 + timedelta(minutes=5))
    tight = render_templates(templates, token_budget=40)
    assert [t.is_error for t in tight.kept] == [True]
    assert tight.dropped == len(templates) - 1 and tight.note() and "dropped" in tight.note()
    assert tight.tokens <= 40
    roomy = render_templates(templates, token_budget=6000)
    assert roomy.dropped == 0 and roomy.lines[0].startswith("[logs-e0, logs-e1, logs-e2] ×30 error NEW")


def test_masking_keeps_words_and_hides_values() -> None:
    assert mask("user 42 from 10.0.3.17:5432 trace 4bf92f3577b34da6 took 8.2s") == \
        "user <NUM> from <IP> trace <HEX> took <NUM>"
