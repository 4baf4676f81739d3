"""Every common log format read as an on-call engineer reads it: its level, the message without the
line's timestamp, thread or pid, and the fields that matter; stack traces folded into one event
whose headline is the innermost exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.digest.logformat import describe, fold_events, headline, is_config, parse_line, summary
from bot.digest.logs import LogEntry, mine_templates
from tests.collectors.support import fixture_json

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("line", "fmt", "level", "message", "fields"), [
    ('{"ts":"2025-11-25T03:41:12Z","level":"error","msg":"timeout acquiring connection","pool":"orders-db","max":10}',
     "json", "error", "timeout acquiring connection", {"pool": "orders-db", "max": "10"}),
    ('{"level":50,"time":1764042069118,"msg":"db down","err":{"type":"Error","message":"ECONNREFUSED"}}',
     "json", "error", "db down", {"err.type": "Error", "err.message": "ECONNREFUSED"}),
    ('{"severity":"WARNING","message":"slow query","log.logger":"db"}', "json", "warn", "slow query", {"log.logger": "db"}),
    ('{"log":"E1125 03:41:02.117312       7 a.go:1] boom\\n","stream":"stderr","time":"2025-11-25T03:41:02Z"}',
     "klog", "error", "boom", {"caller": "a.go:1"}),
    ('ts=2025-11-25T03:41:08.230518Z level=error caller=queue/worker.go:97 msg="delivery failed" attempt=3 '
     'err="GET http://invoices:8000/pdf: 503 Service Unavailable"',
     "logfmt", "error", "delivery failed",
     {"caller": "queue/worker.go:97", "attempt": "3", "err": "GET http://invoices:8000/pdf: 503 Service Unavailable"}),
    ('time="2025-11-25T03:41:08Z" level=warning msg="retrying" backoff=1.6s', "logfmt", "warn", "retrying",
     {"backoff": "1.6s"}),
    ("2025-11-25 03:41:06.480  WARN 1 --- [nio-8080-exec-2] c.e.b.client.InvoicesClient              : "
     "CircuitBreaker 'invoices' is OPEN", "spring", "warn", "CircuitBreaker 'invoices' is OPEN",
     {"logger": "c.e.b.client.InvoicesClient"}),
    ("2025-11-25T03:41:06.480Z ERROR 1 --- [billing] [nio-8080-exec-7] c.e.b.api.InvoiceController : lookup failed",
     "spring", "error", "lookup failed", {"logger": "c.e.b.api.InvoiceController"}),
    ("03:41:06.480 [main] INFO  c.e.App - Started App in 3.2 seconds", "logback", "info",
     "Started App in 3.2 seconds", {"logger": "c.e.App"}),
    ("2025-11-25 03:41:06,480 ERROR [http-nio-8080-exec-1] com.example.Api - request failed", "logback", "error",
     "request failed", {"logger": "com.example.Api"}),
    ("ERROR:orders.api:payment authorization failed", "python", "error", "payment authorization failed",
     {"logger": "orders.api"}),
    ("2025-11-25 03:41:02,117 - orders.api - WARNING - retrying charge", "python", "warn", "retrying charge",
     {"logger": "orders.api"}),
    ("[2025-11-25 03:41:02,117] ERROR in app: Exception on /v1/invoices/INV-1 [GET]", "python", "error",
     "Exception on /v1/invoices/INV-1 [GET]", {"logger": "app"}),
    ("2025-11-25 03:41:02,117 INFO [orders.db] pool ready size=5", "python", "info", "pool ready",
     {"logger": "orders.db", "size": "5"}),
    ("[2025-11-25 03:41:07 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:42)", "gunicorn", "critical",
     "WORKER TIMEOUT (pid:42)", {}),
    ("E1125 03:41:02.117312       7 reflector.go:147] Failed to watch *v1.EndpointSlice", "klog", "error",
     "Failed to watch *v1.EndpointSlice", {"caller": "reflector.go:147"}),
    ('I1125 03:41:02.117312       1 scheduler.go:9] "Successfully bound pod" pod="shop/cart-1" node="n1"', "klog",
     "info", "Successfully bound pod", {"caller": "scheduler.go:9", "pod": "shop/cart-1", "node": "n1"}),
    ('2025-11-25T03:41:02.117Z\tERROR\tlookup/resolver.go:118\tupstream lookup failed\t{"provider": "maxmind"}',
     "zap", "error", "upstream lookup failed", {"provider": "maxmind"}),
    ("2025-11-25T03:41:02Z ERR upstream lookup failed error=\"context deadline exceeded\" provider=maxmind",
     "zerolog", "error", "upstream lookup failed", {"error": "context deadline exceeded", "provider": "maxmind"}),
    ("\x1b[90m3:41AM\x1b[0m \x1b[31mWRN\x1b[0m cache miss key=a", "zerolog", "warn", "cache miss", {"key": "a"}),
    ('10.20.4.77 - - [25/Nov/2025:03:41:09 +0000] "GET /api/profile/u_1/billing HTTP/1.1" 504 167 "-" "curl/8"',
     "access", "error", "GET /api/profile/u_1/billing 504",
     {"status": "504", "method": "GET", "path": "/api/profile/u_1/billing", "client": "10.20.4.77", "agent": "curl/8"}),
    ('203.0.113.5 - bob [25/Nov/2025:03:41:09 +0000] "POST /login HTTP/2.0" 429 0 "-" "app/1"', "access", "warn",
     "POST /login 429", {"status": "429", "method": "POST", "path": "/login", "client": "203.0.113.5", "agent": "app/1"}),
    ('2025/11/25 03:41:09 [error] 29#29: *18231 upstream timed out (110: Connection timed out) while reading '
     'response header from upstream, client: 10.20.4.77, server: _, upstream: "http://10.100.88.12:3000/x"',
     "nginx_error", "error", "upstream timed out (110: Connection timed out) while reading response header from upstream",
     {"client": "10.20.4.77", "server": "_", "upstream": "http://10.100.88.12:3000/x"}),
    ("[Tue Nov 25 03:41:09.123456 2025] [proxy:error] [pid 12:tid 34] [client 10.0.0.1:5] AH01114: HTTP: failed",
     "apache_error", "error", "HTTP: failed", {"module": "proxy", "client": "10.0.0.1:5", "code": "AH01114"}),
    ("<11>Nov 25 03:41:09 node-3 kubelet[812]: Failed to pull image", "syslog", "error", "Failed to pull image",
     {"hostname": "node-3", "app": "kubelet"}),
    ("Nov 25 03:41:09 node-3 sshd[77]: Accepted publickey", "syslog", None, "Accepted publickey",
     {"hostname": "node-3", "app": "sshd"}),
    ("<165>1 2025-11-25T03:41:09.003Z db-1 postgres 99 - - disk almost full", "syslog", "info", "disk almost full",
     {"hostname": "db-1", "app": "postgres"}),
    ("2025-11-25T03:41:09Z WARN disk usage at 91%", "text", "warn", "disk usage at 91%", {}),
    ("panic: runtime error: invalid memory address", "plain", None, "panic: runtime error: invalid memory address", {}),
])
def test_each_format_gives_level_message_and_fields(line: str, fmt: str, level: str | None, message: str,
                                                    fields: dict[str, str]) -> None:
    parsed = parse_line(line)
    assert (parsed.fmt, parsed.level, parsed.message) == (fmt, level, message)
    assert parsed.fields == fields


def mixed_events() -> list[Any]:
    body = fixture_json("loki/query_range_streams_mixed_formats.json")
    entries = [(EPOCH + timedelta(microseconds=int(ns) // 1000), line, stream["stream"])
               for stream in body["data"]["result"] for ns, line in stream["values"]]
    return fold_events(entries)


def test_the_flask_traceback_split_across_streams_folds_into_its_exception() -> None:
    events = mixed_events()
    (flask,) = [e for e in events if e.labels["pod"].startswith("invoices") and e.folded > 1]
    assert flask.message.startswith("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 0 reached")
    assert flask.level == "error" and flask.fmt == "python"
    assert flask.fields["logged"] == "Exception on /v1/invoices/INV-2025-118734 [GET]"
    assert flask.lines[0].startswith("[2025-11-25 03:41:02,117] ERROR in app")  # oldest first
    assert flask.lines[1] == "Traceback (most recent call last):"
    assert flask.folded == 56  # the record, the traceback and its exception: nothing left over
    assert not [e for e in events if e.message.lstrip().startswith(("File ", "^", "Traceback"))]


def test_the_java_stack_is_headed_by_its_exception() -> None:
    events = mixed_events()
    (spring,) = [e for e in events if e.labels["pod"].startswith("billing-api") and e.folded > 1]
    assert spring.message == ("org.springframework.web.client.HttpServerErrorException$ServiceUnavailable: "
                              "503 Service Unavailable: [no body]")
    assert spring.fields["logged"] == "Invoice lookup failed"
    assert spring.fields["invoiceId"] == "INV-2025-118734"
    assert spring.folded == 13
    assert not [e for e in events if e.message.startswith("at ")]


def test_access_5xx_are_errors_and_klog_e_is_an_error() -> None:
    events = mixed_events()
    access = [e for e in events if e.fmt == "access"]
    assert len(access) == 5 and {e.level for e in access} == {"error"}
    assert {e.message for e in access} >= {"GET /api/profile/u_50412/billing 504",
                                          "POST /api/v2/invoices/INV-2025-118741/send 504"}
    klog = {e.message.split(":")[-1].strip(): e.level for e in events if e.fmt == "klog"}
    assert klog == {"i/o timeout": "error", 'Service "billing/invoices" does not have any active Endpoint.': "warn"}
    # the Spring WARN line Loki guessed as "info" keeps its own level
    (breaker,) = [e for e in events if "CircuitBreaker" in e.message]
    assert breaker.level == "warn"


def test_java_caused_by_the_deepest_cause_is_the_headline() -> None:
    stack = "\n".join([
        "2025-11-25 03:41:02.151 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed",
        "org.springframework.beans.factory.BeanCreationException: Error creating bean 'dataSource'",
        "\tat org.springframework.beans.factory.support.AbstractBeanFactory.getBean(AbstractBeanFactory.java:208)",
        "Caused by: com.zaxxer.hikari.pool.HikariPool$PoolInitializationException: Failed to initialize pool",
        "\t... 12 more",
        "Caused by: java.net.UnknownHostException: orders-db.shop.svc",
        "\tat java.base/java.net.InetAddress.getAllByName0(InetAddress.java:1305)",
        "\t... 20 more",
    ])
    t0 = datetime(2025, 11, 25, 3, 41, 2, tzinfo=UTC)
    (event,) = fold_events((t0 + timedelta(microseconds=i), line, {"pod": "p", "container": "c"})
                           for i, line in enumerate(stack.splitlines()))
    assert event.message == "java.net.UnknownHostException: orders-db.shop.svc"
    assert event.fields["logged"] == "Application run failed" and event.folded == 8
    assert describe(" ".join(stack.split())).message == "java.net.UnknownHostException: orders-db.shop.svc"


def test_go_panic_and_chained_python_tracebacks() -> None:
    t0 = datetime(2025, 11, 25, 3, 41, 2, tzinfo=UTC)
    panic = ["panic: runtime error: invalid memory address or nil pointer dereference",
             "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1f2b]", "",
             "goroutine 1 [running]:", "main.(*Server).handle(0x0, {0x7ffd})", "\t/app/server.go:42 +0x1b",
             "created by net/http.(*Server).Serve", "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
             "exit status 2"]
    (go,) = fold_events((t0 + timedelta(microseconds=i), line, {"app": "geo"}) for i, line in enumerate(panic))
    assert go.level == "panic" and go.folded == 9
    assert go.message == "panic: runtime error: invalid memory address or nil pointer dereference"
    chained = ["Traceback (most recent call last):", '  File "/app/db.py", line 3, in get', "    conn.execute(q)",
               "ConnectionResetError: [Errno 104] Connection reset by peer", "",
               "During handling of the above exception, another exception occurred:", "",
               "Traceback (most recent call last):", '  File "/app/api.py", line 9, in view', "    db.get()",
               "orders.db.DatabaseUnavailable: orders-db unreachable after 3 attempts"]
    (py,) = fold_events((t0 + timedelta(microseconds=i), line, {"detected_level": "error" if i in (0, 10) else
                                                                "unknown", "app": "orders"})
                        for i, line in enumerate(chained))
    assert py.message == "orders.db.DatabaseUnavailable: orders-db unreachable after 3 attempts"
    assert py.level == "error" and py.folded == len(chained)
    assert headline("\n".join(chained)) == py.message


def test_lines_far_apart_or_from_other_pods_do_not_fold() -> None:
    t0 = datetime(2025, 11, 25, 3, 41, 2, tzinfo=UTC)
    events = fold_events([
        (t0, "ERROR:app:charge failed", {"pod": "a", "container": "app"}),
        (t0 + timedelta(milliseconds=1), "Traceback (most recent call last):", {"pod": "b", "container": "app"}),
        (t0 + timedelta(seconds=30), "    indented but much later", {"pod": "a", "container": "app"}),
    ])
    assert [e.folded for e in events] == [1, 1, 1]


def test_the_same_message_in_any_format_pod_or_request_is_one_template() -> None:
    t0 = datetime(2025, 11, 25, 3, 41, tzinfo=UTC)
    lines = []
    for i in range(12):
        rid, pod = f"{i:08x}-1c2d-4f3e-8a6b-9d0c1e2f3a{i:02d}", f"geo-84c9d7b5f6-{i:05x}q"
        lines += [
            f'{{"level":"error","ts":"2025-11-25T03:41:{i:02d}Z","msg":"upstream lookup failed","request_id":"{rid}",'
            f'"pod":"{pod}","error":"context deadline exceeded"}}',
            f'ts=2025-11-25T03:41:{i:02d}Z level=error msg="upstream lookup failed" request_id={rid} '
            f'error="context deadline exceeded"',
            f"2025-11-25 03:41:{i:02d}.{i}51 ERROR 1 --- [nio-8080-exec-{i}] c.e.Geo : upstream lookup failed "
            f'error="context deadline exceeded"',
            f"E1125 03:41:{i:02d}.117312       {i} resolver.go:118] upstream lookup failed "
            f'error="context deadline exceeded"',
        ]
        lines.append(f"2025-11-25 03:41:{i:02d}.480  INFO 1 --- [exec-{i}] c.e.Geo : served request {rid} "
                     f"for 10.0.{i}.7 in {i * 13}ms")
    entries = [LogEntry(at=t0 + timedelta(seconds=i), line=line, level="info" if "INFO" in line else "error",
                        evidence_id=f"logs-{i}") for i, line in enumerate(lines)]
    templates = mine_templates(entries)
    assert len(templates) == 2
    failed, served = templates
    assert failed.count == 48 and failed.is_error and "upstream lookup failed" in failed.template
    assert "2025" not in failed.template and "exec" not in failed.template
    assert served.count == 12 and served.template.startswith("served request")


@pytest.mark.parametrize(("line", "config"), [
    ('level=info msg="payments client configured" timeout=250ms pool_size=4', True),
    ('{"level":"info","msg":"starting checkout","version":"v2.14.3","pool_max":10}', True),
    ("2025-11-25 03:41:06.480  WARN 1 --- [main] o.h.e.j.e.i.JdbcEnvironmentInitiator : HHH000342: "
     "property hibernate.dialect is deprecated", True),
    ("level=warn msg=\"setting max_conns is ignored, using default 10\"", True),
    ("INFO:orders:feature flag new-checkout enabled for 10%", True),
    ("level=info msg=\"starting orders version 3.4.1\"", True),
    ("2025-11-25 03:41:02,117 INFO [orders.http] HTTP client timeout=5s retries=3", True),
    ('level=info msg="GET /api/cart 200" duration_ms=12', False),
    ('level=warn msg="retrying delivery" attempt=2 backoff=1.6s', False),
    ('level=error msg="pool timeout: 30s exceeded"', False),  # an error is an error, not a change line
    ('10.0.0.1 - - [25/Nov/2025:03:41:09 +0000] "GET /config HTTP/1.1" 200 1 "-" "-"', False),
])
def test_change_lines_are_non_error_lines_that_set_or_report_configuration(line: str, config: bool) -> None:
    parsed = parse_line(line)
    assert is_config(parsed, parsed.level) is config


def test_summary_shows_errors_first_and_no_ids_times_or_threads() -> None:
    parsed = parse_line('{"ts":"2025-11-25T03:41:12Z","level":"error","msg":"charge failed","request_id":"r-1",'
                        '"thread":"exec-1","caller":"a.go:1","status":503,"error":"connection refused"}')
    assert summary(parsed.message, parsed.fields) == 'charge failed (error="connection refused" status=503)'
