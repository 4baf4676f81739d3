"""bench/report.py: the per-benchmark parsers against real captured output, the FAIL rows for a crash,
a timeout or an unparsable output, and the table / Markdown rendering. No real benchmark runs here
(they take minutes); the subprocess runner is exercised with two tiny throwaway scripts."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest

REPORT_PY = Path(__file__).resolve().parents[1] / "bench" / "report.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", REPORT_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


report = _load()
Row = report.Row
Run = report.Run

# --- real output, captured from `python bench/<name>.py` on this checkout (2 CPUs, Python 3.11) ---------------

COLLECT_OUTPUT = """\
1) all sources answering — 20 runs (after one warm-up), source delays Loki 300 ms, Prometheus 450 ms, ArgoCD 600 ms, Jaeger 800 ms
   Loki        mean   308.4 ms
   Prometheus  mean   460.3 ms
   ArgoCD      mean   606.2 ms
   Jaeger      mean   808.2 ms
   wall       mean   808.7 ms, max 812.4 ms (sum of delays 2150 ms)
   non-OK results: 0
   wall / slowest source: mean 1.001  [PASS ≤ 1.15]
   wall / slowest source: max  1.001  [PASS ≤ 1.15]
   wall / slowest delay (800 ms): mean 1.011 (info)

2) ArgoCD hanging — 3 runs, per-source budget 1.5 s (bench value; default 4 s), total budget 2.5 s
   run 1: wall  1501.7 ms — Loki ok, Prometheus ok, ArgoCD timeout, Jaeger ok
   run 2: wall  1502.0 ms — Loki ok, Prometheus ok, ArgoCD timeout, Jaeger ok
   run 3: wall  1502.0 ms — Loki ok, Prometheus ok, ArgoCD timeout, Jaeger ok
   wall max 1502.0 ms vs budget + 100 ms = 1600 ms  [PASS]

bench finished in 21.9 s
"""

DIGEST_OUTPUT = """\
digest of 50,000 lines (903 noise and 40 error templates generated, no level given): 884 templates mined, 120 kept, 764 dropped
  time: the gate is on CPU seconds (other processes on the machine stretch the wall time, not the digest's cost)
  memory: peak 45 MB resident, 2 MB more than with the corpus built
  noise templates mined  844 (generated 903)                target ≥ 500          PASS
  budget binding         764 of 884 templates dropped       target > 0 dropped    PASS
  tokens                 5,966                              target ≤ 6,000        PASS
  seconds                0.672 CPU (wall 2.126)             target < 1 CPU        PASS
  error templates mined  40/40 one each, 0 mixed            target all, 0 mixed   PASS
  error templates kept   40/40                              target all            PASS
  noise read as errors   0                                  target 0              PASS
"""

REDACT_OUTPUT = """\
corpus: 435 lines, 224 with secrets (237 secret values), 211 look-alike negatives (49%)
recall             237/237 = 100.00%  (target >= 99%)  PASS
negatives changed  0/211 = 0.00%  (target <= 2%)  PASS
throughput         37,587 lines/s corpus mix, 44,228 lines/s negatives only  (target >= 20,000)  PASS
context kept       137/137 readable substrings survived
idempotent         435/435 lines redact the same twice

PASS
"""

INTAKE_OUTPUT = """\
intake: 1000 requests at 50/s for 20 s per run (half Slack events, half Alertmanager webhooks), sitrep serve on SQLite, with its worker process investigating, then with --no-worker; Sitrep on core 0, fakes and load on core 1
  worker running: answers {'alerts 202': 500, 'slack 200': 500}; first investigation done 9.8 s after start-up
    webhooks: p50 5.5 ms, p99 28.9 ms
    Slack events: p50 5.8 ms, p99 20.9 ms
  --no-worker: answers {'alerts 202': 500, 'slack 200': 500}
    webhooks: p50 5.0 ms, p99 21.2 ms
    Slack events: p50 5.2 ms, p99 20.1 ms
  ack latency (worker running): p50 5.7 ms, p99 27.6 ms; --no-worker p50 5.1 ms, p99 21.0 ms (target p99 < 50 ms) PASS
  investigations (worker running): 41 finished during the load (target ≥ 1) PASS
  alerts stored (worker running): accepted 1000, stored 1000, 0 dead letters (target stored = accepted, 0 dead letters) PASS
  alerts stored (--no-worker): accepted 1000, stored 1000, 0 dead letters (target stored = accepted, 0 dead letters) PASS
"""

STORM_OUTPUT = """\
storm: 1000 alerts from 20 services, 3 root causes, sent in 59.8 s
  HTTP answers: {'202': 1000}
  alerts accepted 1000, stored 1000: lost 0 (target 0) PASS
  outcomes: {'duplicate': 963, 'joined': 31, 'opened': 6}
  incidents opened: 6, of which 3 merged into another when their common cause alerted
  ground truth: orders-db causes the alerts of 7 services; redis-cache causes the alerts of 7 services; auth causes the alerts of 6 services
  root incidents: 3 left, 3/3 exact, alert pairs precision 100.0% recall 100.0% (target exactly 3, each investigating its root with exactly its alerts) PASS
    incident 1: investigating orders-db; 302 alerts from checkout, frontend, inventory, orders, orders-db, payments, shipping — exact
    incident 2: investigating redis-cache; 422 alerts from basket, catalog, favorites, recommendations, redis-cache, search, session — exact
    incident 5: investigating auth; 276 alerts from accounts, auth, billing, login, notifications, profile — exact
  baseline, one incident per alert: 37 left, 0/3 exact, alert pairs precision 100.0% recall 7.9% — rejected
  baseline, everything in one incident: 1 left, 0/3 exact, alert pairs precision 34.5% recall 100.0% — rejected
  baselines rejected by the same gate: 2/2 PASS
  investigations run: 3 (call graph: 19 edges from Jaeger)
"""

EVAL_OUTPUT = """\

rule-based analyzer (no model): 13 scenarios
scenario                     truth                          answer                             svc act cite clean HIGH-wrong tokens cost$ s
bad-deploy                   checkout/rollback              checkout MEDIUM/rollback           ✓   ✓   ✓    ✓     -          0      0.0000 0.02
memory-leak                  cart/restart                   cart LOW/restart                   ✓   ✓   ✓    ✓     -          0      0.0000 0.02
downstream-database          orders-db/manual               orders-db LOW/manual               ✓   ✓   ✓    ✓     -          0      0.0000 0.02
traffic-surge                search/scale                   search LOW/restart                 ✓   ✗   ✓    ✓     -          0      0.0000 0.02
expired-certificate          payments/manual                payments LOW/restart               ✓   ✗   ✓    ✓     -          0      0.0000 0.01
config-change                recommendations/rollback       recommendations MEDIUM/rollback    ✓   ✓   ✓    ✓     -          0      0.0000 0.01
false-alarm                  catalog/none                   catalog LOW/manual                 ✓   ✓   ✓    ✓     -          0      0.0000 0.02
old-deploy-redis-timeouts    redis-cache/manual             redis-cache LOW/manual             ✓   ✓   ✓    ✓     -          0      0.0000 0.01
dependency-deploy            orders/rollback                orders LOW/manual                  ✓   ✗   ✓    ✓     -          0      0.0000 0.01
crashloop-after-deploy       inventory/rollback             inventory MEDIUM/rollback          ✓   ✓   ✓    ✓     -          0      0.0000 0.01
cpu-saturation               shipping/scale                 shipping LOW/restart               ✓   ✗   ✓    ✓     -          0      0.0000 0.01
database-connections         orders-db/manual               orders-db LOW/manual               ✓   ✓   ✓    ✓     -          0      0.0000 0.01
leaked-token-in-logs         payments/rollback              payments MEDIUM/rollback           ✓   ✓   ✓    ✓     -          0      0.0000 0.01
total: root-cause service 13/13 (100%), first action 9/13 (69%), citations valid 13/13, no secret leaked 13/13, HIGH-but-wrong 0, tokens 0, cost $0.0000, mean latency 0.01 s
target (rule-based): service ≥ 75 %, no HIGH-but-wrong, every citation real, no secret leaked: PASS
"""

# bench/eval/run.py --generated: the lines the parser reads (the per-scenario and per-class tables above them
# are skipped); the figures of a run where every target passes
GENERATED_OUTPUT = """\
generated eval, heldout seeds: 90 scenarios — rule-based brief graded (the fake model answers invalid); baseline = \
alerting service, category errors, restart of it
all                 90  86/90  96% (base  67%) 88/90  98% (base  11%) 80/90  89% (base   4%) 0/90   0% (base  56%) 0

targets (heldout seeds):
target | root cause | 86/90 = 96% (baseline 67%) | ≥ 90 % | PASS
target | first action | 80/90 = 89% (baseline 4%) | ≥ 80 % | PASS
target | root cause above baseline | +29 points | ≥ +30 points | PASS
target | first action above baseline | +85 points | ≥ +30 points | PASS
target | HIGH-but-wrong | 0 | 0 | PASS
target | forbidden actions | 0 scenarios (baseline 50) | 0 | PASS
target | clue recall | 140/142 = 98.6%, max 2,707 tokens, 0 over budget | ≥ 95 % within 6,000 tokens | PASS
target | rule-based brief | max 0.026 s | ≤ 1 s after collection | PASS
target | pipeline crashes | 0 | 0 | PASS

generated eval finished in 9.4 s
"""

# bench/startup.py
STARTUP_OUTPUT = """\
startup: median of 5 runs each (after a warm-up), SQLite, no Slack key, a model key for the worker, `sitrep` of the runtime install (README's run command with /usr/bin/python3, no test extras); 2 CPUs, load 0.77 at start
  serve /readyz 200         0.67 s CPU (wall 0.71 s; runs 0.67–0.74)        target ≤ 1.5 s CPU  PASS
  worker claiming jobs      0.66 s CPU (wall 0.70 s; runs 0.66–0.69)        target ≤ 1.5 s CPU  PASS
  import bot.web            0.84 s CPU (wall 0.84 s; runs 0.71–1.06); development install beside, not gated (Python 3.11.7 at /root/.pyenv/versions/3.11.7/bin/python, test extras): 0.89 s  target ≤ 0.8 s CPU  FAIL
  sitrep --help             0.08 s CPU (wall 0.11 s; runs 0.07–0.08)        target ≤ 0.3 s CPU  PASS
  heaviest imports of bot.web: bot 0.17 s, sqlalchemy 0.16 s, pydantic 0.03 s, pydantic_settings 0.03 s, apscheduler 0.01 s
  loaded by import bot.web in the development install only: attr, certifi, colorama, colorsys, ctypes, glob, greenlet, pygments, rich
"""

SAMPLES = {"collect": COLLECT_OUTPUT, "digest": DIGEST_OUTPUT, "redact": REDACT_OUTPUT,
           "intake": INTAKE_OUTPUT, "storm": STORM_OUTPUT, "eval": EVAL_OUTPUT, "eval-generated": GENERATED_OUTPUT,
           # the import row as a passing run prints it
           "startup": STARTUP_OUTPUT.replace("0.84 s CPU (wall 0.84 s; runs 0.71–1.06)", "0.57 s CPU (wall 0.57 s; runs 0.56–0.60)")
                                             .replace("0.89 s  target ≤ 0.8 s CPU  FAIL", "0.78 s  target ≤ 0.8 s CPU  PASS")}

TRACEBACK = """\
Traceback (most recent call last):
  File "/work/main/bench/collect.py", line 199, in <module>
    sys.exit(main())
RuntimeError: fake upstreams did not start
"""


def ok_run(stdout: str, seconds: float = 1.0) -> object:
    return Run(0, stdout, "", seconds)


# --- parsers ----------------------------------------------------------------------------------------------

def test_collect_parser_reads_the_ratio_and_hang_verdicts() -> None:
    assert report.parse_collect(COLLECT_OUTPUT) == [
        Row("wall / slowest source, mean", "1.001", "≤ 1.15", True),
        Row("wall / slowest source, max", "1.001", "≤ 1.15", True),
        Row("ArgoCD hung: wall max", "1502.0 ms", "≤ 1600 ms (budget + 100 ms)", True),
        Row("ArgoCD hung: statuses", "3/3 runs as expected", "others ok, ArgoCD timeout", True),
    ]


def test_collect_parser_reads_failures_and_unexpected_statuses() -> None:
    failing = (COLLECT_OUTPUT.replace("max  1.001  [PASS", "max  1.301  [FAIL")
               .replace("ArgoCD timeout, Jaeger ok\n   run 3",
                        "ArgoCD ok, Jaeger ok\n   unexpected statuses  [FAIL]\n   run 3")
               .replace("= 1600 ms  [PASS]", "= 1600 ms  [FAIL]"))
    rows = {r.name: r for r in report.parse_collect(failing)}
    assert rows["wall / slowest source, mean"].passed
    assert rows["wall / slowest source, max"] == Row("wall / slowest source, max", "1.301", "≤ 1.15", False)
    assert not rows["ArgoCD hung: wall max"].passed
    assert rows["ArgoCD hung: statuses"] == Row("ArgoCD hung: statuses", "2/3 runs as expected",
                                                "others ok, ArgoCD timeout", False)


def test_digest_parser() -> None:
    assert report.parse_digest(DIGEST_OUTPUT) == [
        Row("noise templates mined", "844 (generated 903)", "≥ 500", True),
        Row("budget binding", "764 of 884 templates dropped", "> 0 dropped", True),
        Row("tokens", "5,966", "≤ 6,000", True),
        Row("seconds", "0.672 CPU (wall 2.126)", "< 1 CPU", True),
        Row("error templates mined", "40/40 one each, 0 mixed", "all, 0 mixed", True),
        Row("error templates kept", "40/40", "all", True),
        Row("noise read as errors", "0", "0", True),
    ]
    lost = DIGEST_OUTPUT.replace("40/40                              target all            PASS",
                                 "39/40                              target all            FAIL")
    assert report.parse_digest(lost)[5] == Row("error templates kept", "39/40", "all", False)


def test_redact_parser() -> None:
    assert report.parse_redact(REDACT_OUTPUT) == [
        Row("recall", "237/237 = 100.00%", ">= 99%", True),
        Row("negatives changed", "0/211 = 0.00%", "<= 2%", True),
        Row("throughput", "37,587 mix, 44,228 negatives, lines/s", ">= 20,000 lines/s", True),
    ]
    missed = REDACT_OUTPUT.replace("237/237 = 100.00%  (target >= 99%)  PASS",
                                   "230/237 = 97.05%  (target >= 99%)  FAIL")
    assert report.parse_redact(missed)[0] == Row("recall", "230/237 = 97.05%", ">= 99%", False)


def test_intake_parser() -> None:
    assert report.parse_intake(INTAKE_OUTPUT) == [
        Row("ack latency (worker running)", "p50 5.7 ms, p99 27.6 ms; --no-worker p50 5.1 ms, p99 21.0 ms",
            "p99 < 50 ms", True),
        Row("investigations (worker running)", "41 finished during the load", "≥ 1", True),
        Row("alerts stored (worker running)", "accepted 1000, stored 1000, 0 dead letters",
            "stored = accepted, 0 dead letters", True),
        Row("alerts stored (--no-worker)", "accepted 1000, stored 1000, 0 dead letters",
            "stored = accepted, 0 dead letters", True),
    ]
    lost = INTAKE_OUTPUT.replace("stored 1000, 0 dead letters (target stored = accepted, 0 dead letters) PASS",
                                 "stored 999, 1 dead letters (target stored = accepted, 0 dead letters) FAIL")
    assert [r.passed for r in report.parse_intake(lost)] == [True, True, False, False]


def test_storm_parser() -> None:
    assert report.parse_storm(STORM_OUTPUT) == [
        Row("alerts lost", "0 (accepted 1000, stored 1000)", "0", True),
        Row("root incidents", "3 left, 3/3 exact, alert pairs precision 100.0% recall 100.0% (6 opened, 3 merged)",
            "exactly 3, each investigating its root with exactly its alerts", True),
        Row("do-nothing baselines rejected",
            "2/2 (one incident per alert: 37 left, 0/3 exact; everything in one incident: 1 left, 0/3 exact)",
            "all rejected", True),
    ]
    merged = STORM_OUTPUT.replace("3 left, 3/3 exact, alert pairs precision 100.0% recall 100.0% (target",
                                  "1 left, 0/3 exact, alert pairs precision 34.5% recall 100.0% (target")
    merged = merged.replace("its alerts) PASS", "its alerts) FAIL")
    assert report.parse_storm(merged)[1].passed is False


def test_eval_parser() -> None:
    assert report.parse_eval(EVAL_OUTPUT) == [
        Row("rule-based analyzer", "service 13/13 (100%), HIGH-but-wrong 0, cited 13/13, no leak 13/13",
            "service ≥ 75 %, no HIGH-but-wrong, every citation real, no secret leaked", True),
    ]


def test_generated_eval_parser() -> None:
    rows = report.parse_generated(GENERATED_OUTPUT.replace(
        "target | HIGH-but-wrong | 0 | 0 | PASS", "target | HIGH-but-wrong | 4 | 0 | FAIL"))
    assert [r.name for r in rows] == [f"held-out {n}" for n in report.GENERATED_ROWS]
    assert rows[0] == Row("held-out root cause", "86/90 = 96% (baseline 67%)", "≥ 90 %", True)
    assert rows[4] == Row("held-out HIGH-but-wrong", "4", "0", False)


def test_startup_parser() -> None:
    rows = report.parse_startup(STARTUP_OUTPUT)
    assert [r.name for r in rows] == list(report.STARTUP_ROWS)
    assert rows[0] == Row("serve /readyz 200", "0.67 s CPU (wall 0.71 s; runs 0.67–0.74)", "≤ 1.5 s CPU", True)
    # the development install's figure, printed beside on the row
    assert rows[2] == Row("import bot.web", "0.84 s CPU (wall 0.84 s; runs 0.71–1.06); development install beside, "
                          "not gated (Python 3.11.7 at /root/.pyenv/versions/3.11.7/bin/python, test extras): 0.89 s",
                          "≤ 0.8 s CPU", False)
    assert rows[3] == Row("sitrep --help", "0.08 s CPU (wall 0.11 s; runs 0.07–0.08)", "≤ 0.3 s CPU", True)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_a_complete_passing_output_gives_exactly_its_expected_rows(name: str) -> None:
    benchmark = report.BY_NAME[name]
    rows = report.rows_for(benchmark, ok_run(SAMPLES[name]))
    assert [r.name for r in rows] == [f"{name}: {n}" for n in benchmark.expected]
    assert all(r.passed for r in rows)


def test_every_benchmark_under_bench_is_in_the_report() -> None:
    scripts = {str(p.relative_to(REPORT_PY.parents[1])) for p in REPORT_PY.parent.glob("*.py")} - {"bench/report.py"}
    assert scripts | {"bench/eval/run.py"} == {b.script for b in report.BENCHMARKS}


# --- what goes wrong becomes a FAIL row -------------------------------------------------------------------

def test_a_crash_is_a_fail_row_with_the_last_stderr_line() -> None:
    partial = COLLECT_OUTPUT.split("\n2)")[0]  # died before the hang case
    rows = report.rows_for(report.BY_NAME["collect"], Run(1, partial, TRACEBACK, 3.0))
    assert rows[-1] == Row("collect: run", "exit 1: RuntimeError: fake upstreams did not start",
                           "runs to completion, exit 0", False)
    assert [r.passed for r in rows] == [True, True, False]


def test_a_crash_without_stderr_reports_the_last_stdout_line_or_no_output() -> None:
    rows = report.rows_for(report.BY_NAME["digest"], Run(-9, "", "", 0.1))
    assert rows == [Row("digest: run", "exit -9: no output", "runs to completion, exit 0", False)]


def test_exit_1_after_a_printed_fail_verdict_is_not_a_crash() -> None:
    failing = INTAKE_OUTPUT.replace("(target p99 < 50 ms) PASS", "(target p99 < 50 ms) FAIL")
    rows = report.rows_for(report.BY_NAME["intake"], Run(1, failing, "", 25.0))
    assert [(r.name, r.passed) for r in rows] == [
        ("intake: ack latency (worker running)", False), ("intake: investigations (worker running)", True),
        ("intake: alerts stored (worker running)", True), ("intake: alerts stored (--no-worker)", True)]


def test_a_nonzero_exit_with_only_passing_verdicts_still_fails() -> None:
    rows = report.rows_for(report.BY_NAME["storm"], Run(2, STORM_OUTPUT, "", 60.0))
    assert rows[-1] == Row("storm: run", "exit 2: investigations run: 3 (call graph: 19 edges from Jaeger)",
                           "runs to completion, exit 0", False)


def test_a_timeout_is_a_fail_row() -> None:
    rows = report.rows_for(report.BY_NAME["storm"], Run(None, "storm: 1000 alerts\n", "", 600.2, timeout=600))
    assert rows == [Row("storm: run", "timeout after 600 s", "runs to completion, exit 0", False)]


def test_an_unparsable_output_is_a_fail_row() -> None:
    rows = report.rows_for(report.BY_NAME["redact"], ok_run("something else entirely\nall good\n"))
    assert rows == [Row("redact: run", "no parsable verdict in output (last line: 'all good')", "PASS/FAIL lines",
                        False)]


def test_a_verdict_missing_from_the_output_is_a_fail_row() -> None:
    partial = "\n".join(line for line in DIGEST_OUTPUT.splitlines() if "seconds" not in line)
    rows = report.rows_for(report.BY_NAME["digest"], ok_run(partial))
    assert rows[-1] == Row("digest: seconds", "not found in output", "a PASS/FAIL line", False)
    assert len(rows) == len(report.BY_NAME["digest"].expected)


def test_a_parser_error_is_a_fail_row() -> None:
    def broken(stdout: str) -> list[object]:
        raise ValueError("bad figure")

    benchmark = report.Benchmark("digest", "bench/digest.py", broken, ("tokens",))
    assert report.rows_for(benchmark, ok_run(DIGEST_OUTPUT)) == [
        Row("digest: run", "parser error: ValueError: bad figure", "a parsable verdict", False)]


# --- the subprocess runner, on throwaway scripts ------------------------------------------------------------

def test_run_benchmark_captures_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('half way')\nsys.exit('boom: no upstream')\n")
    benchmark = report.Benchmark("crash", str(script), report.parse_digest, ("tokens",))
    run = report.run_benchmark(benchmark, timeout=30)
    assert (run.returncode, run.stdout, run.timed_out) == (1, "half way\n", False)
    assert report.rows_for(benchmark, run) == [
        Row("crash: run", "exit 1: boom: no upstream", "runs to completion, exit 0", False)]


def test_run_benchmark_stops_a_script_at_the_timeout(tmp_path: Path) -> None:
    script = tmp_path / "hang.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    benchmark = report.Benchmark("hang", str(script), report.parse_digest, ("tokens",))
    run = report.run_benchmark(benchmark, timeout=0.5)
    assert run.timed_out and run.returncode is None and run.stdout == "started\n"
    assert run.seconds < 10
    assert report.rows_for(benchmark, run) == [
        Row("hang: run", "timeout after 0.5 s", "runs to completion, exit 0", False)]


# --- rendering and the command line -----------------------------------------------------------------------

def test_render_table_aligns_columns_and_counts_failures() -> None:
    rows = [Row("digest: tokens", "2,611", "≤ 6,000", True),
            Row("storm: run", "timeout after 600 s", "exit 0", False)]
    lines = report.render_table(rows).splitlines()
    assert lines[0].split() == ["name", "figure", "target", "result"]
    assert lines[2].startswith("digest: tokens  2,611") and lines[2].endswith("PASS")
    assert lines[3].endswith("FAIL")
    assert lines[2].index("2,611") == lines[3].index("timeout") == lines[0].index("figure")
    assert lines[-1] == "1/2 passed, 1 FAILED"


def test_render_markdown_escapes_pipes_and_lists_wall_times() -> None:
    benchmark = report.BY_NAME["digest"]
    result = report.Result(benchmark, Run(0, "", "", 0.7), [Row("digest: a|b", "1", "≤ 2", True)])
    text = report.render_markdown([result], when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), cpus=8,
                                  python="3.11.7")
    assert "- Date: 2026-01-02T03:04:05+00:00" in text
    assert "8 CPUs" in text and "Python 3.11.7" in text
    assert "| digest: a\\|b | 1 | ≤ 2 | PASS |" in text
    assert "| digest | `bench/digest.py` | 0 | 0.7 s |" in text


def _fake_runs(monkeypatch: pytest.MonkeyPatch, runs: dict[str, object]) -> list[str]:
    called: list[str] = []

    def fake(benchmark: object, *, timeout: float) -> object:
        called.append(benchmark.name)  # type: ignore[attr-defined]
        return runs[benchmark.name]  # type: ignore[attr-defined]

    monkeypatch.setattr(report, "run_benchmark", fake)
    return called


def _table_rows(markdown: str) -> list[str]:
    body = markdown.split("| --- | --- | --- | --- |\n", 1)[1].split("\n\n", 1)[0]
    return body.splitlines()


def test_main_writes_one_markdown_row_per_result_and_exits_0_when_all_pass(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    called = _fake_runs(monkeypatch, {name: ok_run(out, seconds=2.5) for name, out in SAMPLES.items()})
    output = tmp_path / "REPORT.md"
    assert report.main(["--output", str(output)]) == 0
    assert called == ["collect", "digest", "redact", "intake", "storm", "eval", "eval-generated", "startup"]
    markdown = output.read_text(encoding="utf-8")
    rows = _table_rows(markdown)
    expected = sum(len(b.expected) for b in report.BENCHMARKS)
    assert len(rows) == expected
    assert all(row.endswith("| PASS |") for row in rows)
    assert markdown.count(" | 2.5 s |") == 8 and "| total | | | 20.0 s |" in markdown
    printed = capsys.readouterr().out
    assert printed.count("PASS") == expected and f"{expected}/{expected} passed" in printed


def test_main_exits_1_when_any_row_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _fake_runs(monkeypatch, {"digest": ok_run(DIGEST_OUTPUT), "redact": Run(1, "", TRACEBACK, 0.3)})
    output = tmp_path / "out" / "REPORT.md"
    assert report.main(["--only", "digest,redact", "--output", str(output), "--timeout", "5"]) == 1
    rows = _table_rows(output.read_text(encoding="utf-8"))
    total = len(report.BY_NAME["digest"].expected) + 1
    assert len(rows) == total
    assert rows[-1] == ("| redact: run | exit 1: RuntimeError: fake upstreams did not start | "
                        "runs to completion, exit 0 | **FAIL** |")
    assert f"{total - 1}/{total} passed, 1 FAILED" in capsys.readouterr().out


def test_only_rejects_an_unknown_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        report.parse_args(["--only", "digest,nope"])
    assert exc.value.code == 2
    assert "unknown benchmark(s) nope" in capsys.readouterr().err
