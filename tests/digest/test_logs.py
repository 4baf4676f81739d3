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


# --- levels read from the text (no level given by a collector) ---------------------------------------------

def _unlabelled(lines: list[str]) -> list[LogEntry]:
    return [LogEntry(at=T0 + timedelta(seconds=i), line=line, evidence_id=f"logs-{i}") for i, line in enumerate(lines)]


def test_a_level_hidden_in_a_token_with_digits_is_read_line_by_line() -> None:
    """klog's letter, an HTTP status and pino's numeric level sit in tokens the rough shape masks: a
    503 after a hundred 200s of the same path, an E line after I lines, still make an error."""
    access = '10.0.0.{i} - - [25/Nov/2026:03:00:{s:02d} +0000] "GET /api/cart/{i} HTTP/1.1" {status} 12 "-" "curl/8"'
    ok = [access.format(i=i, s=i % 60, status=200) for i in range(100)]
    klog = [f"I1125 03:00:{i:02d}.000001       7 sync.go:42] synced {i} objects" for i in range(20)]
    pino = [f'{{"level":30,"time":{1764042069000 + i},"msg":"cached {i} rows"}}' for i in range(20)]
    templates = mine_templates(_unlabelled(ok + klog + pino))
    assert [t.level for t in templates] == ["info", "info", "info"]
    failing = [access.format(i=7, s=1, status=503), "E1125 03:00:59.000001       7 sync.go:42] synced 9 objects",
               '{"level":50,"time":1764042069999,"msg":"cached 3 rows"}']
    templates = mine_templates(_unlabelled(ok + klog + pino + failing))
    assert sorted(t.level for t in templates) == ["error", "error", "error"]


def test_a_stack_without_a_level_word_is_an_error_and_a_warning_with_a_stack_is_not() -> None:
    panic = "\n".join(["panic: send on closed channel", "", "goroutine 7 [running]:", "main.run(0xc0001)",
                       "\t/src/main.go:12 +0x1d", "exit status 2"])
    uncaught = "\n".join(['Exception in thread "main" java.lang.IllegalStateException: cart is closed',
                          "\tat com.example.Cart.add(Cart.java:12)"])
    warned = "\n".join(["2026-11-25 03:00:00.001  WARN 1 --- [main] c.e.Client : serving cache",
                        "java.net.SocketTimeoutException: Read timed out", "\tat com.example.Client.get(Client.java:9)"])
    levels = {t.example.split(":")[0]: t.level for t in mine_templates(_unlabelled([panic, uncaught, warned]))}
    assert levels == {"panic": "panic", "java.lang.IllegalStateException": "error",
                      "java.net.SocketTimeoutException": "warn"}


def test_an_error_never_merges_into_a_template_of_routine_lines() -> None:
    """Drain would fold these into one template (one word of five differs); the error stays apart."""
    routine = [f"ts=2026-11-25T03:00:{i:02d}Z level=info msg=\"{word} job finished in {i}ms\""
               for i, word in enumerate(["reindex", "compact", "vacuum", "snapshot"] * 5)]
    failed = 'ts=2026-11-25T03:01:00Z level=error msg="backup job finished in 9ms"'
    templates = mine_templates(_unlabelled([*routine, failed]))
    assert templates[0].is_error and templates[0].count == 1 and templates[0].evidence_ids == ["logs-20"]
    assert all(not t.is_error for t in templates[1:]) and sum(t.count for t in templates[1:]) == 20


def test_one_message_with_and_without_a_trace_id_is_one_template() -> None:
    lines = ['{"level":"error","msg":"payment declined","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736"}',
             'ts=2026-11-25T03:00:00Z level=error msg="payment declined" request_id=abc123def456',
             "<11>1 2026-11-25T03:00:01Z node-3 shopd 812 - - payment declined",
             '{"@timestamp":"2026-11-25T03:00:02Z","log.level":"ERROR","message":"payment declined",'
             '"ecs.version":"1.6.0"}']
    (template,) = mine_templates(_unlabelled(lines))
    assert template.template == "payment declined" and template.count == 4 and template.is_error
