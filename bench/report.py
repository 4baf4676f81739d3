"""Run every benchmark under ``bench/`` and report them in one table.

    python bench/report.py                           # all of them, about two minutes
    python bench/report.py --only digest,redact      # a subset (names below)
    python bench/report.py --timeout 300 --output /tmp/REPORT.md

Benchmarks, in the order they run (one at a time, so the timing ones have the machine to themselves):
``collect`` (bench/collect.py), ``digest``, ``redact``, ``intake``, ``storm``, ``eval``
(bench/eval/run.py, the rule-based analyzer on the hand-written scenarios) and ``eval-generated``
(bench/eval/run.py --generated: the seeded scenarios' held-out seeds, issue 16's targets) and ``startup``
(bench/startup.py: /readyz of a fresh ``sitrep serve``, a ``sitrep worker`` claiming, ``import bot.web``, ``--help``).

Each runs as a subprocess (this interpreter, cwd = the repository root, its own process group so that
a timeout ends the servers it started as well). Its stdout is read by a parser written for that
script's own format, turning each PASS/FAIL line into a row: name, figure, target, verdict. A
benchmark that crashes, times out, or prints no verdict the parser recognises becomes a FAIL row that
says why; none is dropped.

Prints the table on stdout (progress goes to stderr) and writes it as Markdown to ``--output``
(default ``bench/REPORT.md``) with the date, the CPU count, the Python version and each benchmark's
wall time. Exits 0 when every row passes, 1 otherwise. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "bench" / "REPORT.md"
DEFAULT_TIMEOUT = 600.0
KILL_GRACE = 5.0  # seconds between SIGTERM and SIGKILL for a benchmark that timed out


@dataclass(frozen=True)
class Row:
    """One line of the report: a figure measured against its target."""

    name: str
    figure: str
    target: str
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


@dataclass(frozen=True)
class Run:
    """What one benchmark subprocess did. ``returncode`` is None when it was stopped at the timeout."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timeout: float | None = None  # set when it timed out

    @property
    def timed_out(self) -> bool:
        return self.timeout is not None


Parser = Callable[[str], list[Row]]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark script, its parser and the row names that parser must find in a complete output."""

    name: str
    script: str  # relative to the repository root (or absolute)
    parse: Parser
    expected: tuple[str, ...]
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    benchmark: Benchmark
    run: Run
    rows: list[Row]

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)


# --- parsers: one per script, each against that script's actual output -----------------------------------

_VERDICT = r"(PASS|FAIL)"


def _ok(word: str) -> bool:
    return word == "PASS"


# bench/collect.py, e.g.:
#    wall / slowest source: mean 1.001  [PASS ≤ 1.15]
#    wall / slowest source: max  1.001  [PASS ≤ 1.15]
#    wall / slowest delay (800 ms): mean 1.011 (info)
#
# 2) ArgoCD hanging — 3 runs, per-source budget 1.5 s (bench value; default 4 s), total budget 2.5 s
#    run 1: wall  1501.7 ms — Loki ok, Prometheus ok, ArgoCD timeout, Jaeger ok
#    run 2: wall  1502.0 ms — Loki ok, Prometheus ok, ArgoCD timeout, Jaeger ok
#    run 3: wall  1502.0 ms — Loki ok, Prometheus ok, ArgoCD timeout, Jaeger ok
#    wall max 1502.0 ms vs budget + 100 ms = 1600 ms  [PASS]
# (a run whose statuses are not "others ok, hung source timeout" is followed by "   unexpected statuses  [FAIL]")
_COLLECT_RATIO = re.compile(r"^\s*wall / slowest source: (mean|max)\s+([\d.]+)\s+\[" + _VERDICT + r"\s+(.+?)\]\s*$")
_COLLECT_HANG_HEADER = re.compile(r"^\d+\)\s+(\S+) hanging")
_COLLECT_HANG_RUN = re.compile(r"^\s*run \d+: wall ")
_COLLECT_UNEXPECTED = re.compile(r"^\s*unexpected statuses\s+\[FAIL\]\s*$")
_COLLECT_HANG_WALL = re.compile(
    r"^\s*wall max ([\d.]+ ms) vs (budget \+ \d+ ms) = ([\d.]+ ms)\s+\[" + _VERDICT + r"\]\s*$")


def parse_collect(stdout: str) -> list[Row]:
    rows: list[Row] = []
    hung, runs, unexpected = "hung source", 0, 0
    for line in stdout.splitlines():
        if m := _COLLECT_RATIO.match(line):
            kind, figure, verdict, target = m.groups()
            rows.append(Row(f"wall / slowest source, {kind}", figure, target, _ok(verdict)))
        elif m := _COLLECT_HANG_HEADER.match(line):
            hung = m.group(1)
        elif _COLLECT_HANG_RUN.match(line):
            runs += 1
        elif _COLLECT_UNEXPECTED.match(line):
            unexpected += 1
        elif m := _COLLECT_HANG_WALL.match(line):
            figure, budget, limit, verdict = m.groups()
            rows.append(Row(f"{hung} hung: wall max", figure, f"≤ {limit} ({budget})", _ok(verdict)))
    if runs:
        rows.append(Row(f"{hung} hung: statuses", f"{runs - unexpected}/{runs} runs as expected",
                        f"others ok, {hung} timeout", unexpected == 0))
    return rows


# bench/digest.py, e.g.:
# digest of 50,000 lines (903 noise and 40 error templates generated, no level given): 884 templates mined, ...
#   time: the gate is on CPU seconds (other processes on the machine stretch the wall time, not the digest's cost)
#   memory: peak 45 MB resident, 2 MB more than with the corpus built
#   noise templates mined  844 (generated 903)                target ≥ 500          PASS
#   budget binding         764 of 884 templates dropped       target > 0 dropped    PASS
#   tokens                 5,966                              target ≤ 6,000        PASS
#   seconds                0.672 CPU (wall 2.126)             target < 1 CPU        PASS
#   error templates mined  40/40 one each, 0 mixed            target all, 0 mixed   PASS
#   error templates kept   40/40                              target all            PASS
#   noise read as errors   0                                  target 0              PASS
_DIGEST_ROW = re.compile(r"^\s+(\S.*?)\s{2,}(\S.*?)\s+target\s+(\S.*?)\s+" + _VERDICT + r"\s*$")


def parse_digest(stdout: str) -> list[Row]:
    return [Row(name, figure, target, _ok(verdict))
            for line in stdout.splitlines() if (m := _DIGEST_ROW.match(line))
            for name, figure, target, verdict in [m.groups()]]


# bench/redact.py, e.g. (the verdict lines are the held-out half's; dev figures and per-kind tables come first):
# recall             237/237 = 100.00%  (target >= 99%)  PASS
# worst kind recall  us_ssn 96.15%  (target >= 95%)  PASS
# negatives changed  0/211 = 0.00%  (target <= 1%)  PASS
# throughput         37,587 lines/s corpus mix, 44,228 lines/s negatives only  (target >= 20,000)  PASS
# context kept       137/137 readable substrings survived
# idempotent         435/435 lines redact the same twice
#
# PASS
# (the last line is the conjunction of the four)
_REDACT_ROW = re.compile(r"^(recall|worst kind recall|negatives changed|throughput)\s+(\S.*?)\s+\(target (.+?)\)\s+"
                         + _VERDICT + r"\s*$")


def parse_redact(stdout: str) -> list[Row]:
    rows = []
    for line in stdout.splitlines():
        if m := _REDACT_ROW.match(line):
            name, figure, target, verdict = m.groups()
            if name == "throughput":  # "37,587 lines/s corpus mix, 44,228 lines/s negatives only"
                figure = figure.replace(" lines/s corpus mix", " mix").replace(" lines/s negatives only",
                                                                               " negatives, lines/s")
                target += " lines/s"
            rows.append(Row(name, figure, target, _ok(verdict)))
    return rows


# bench/intake.py, e.g.:
# intake: 1000 requests at 50/s for 20 s per run (half Slack events, half Alertmanager webhooks), sitrep serve ...
#   worker running: answers {'alerts 202': 500, 'slack 200': 500}; first investigation done 9.8 s after start-up
#     webhooks: p50 5.5 ms, p99 28.9 ms
#   ...
#   ack latency (worker running): p50 5.7 ms, p99 27.6 ms; --no-worker p50 5.1 ms, p99 21.0 ms (target p99 < 50 ms) PASS
#   investigations (worker running): 41 finished during the load (target ≥ 1) PASS
#   alerts stored (worker running): accepted 1000, stored 1000, 0 dead letters (target stored = accepted, ...) PASS
#   alerts stored (--no-worker): accepted 1000, stored 1000, 0 dead letters (target stored = accepted, ...) PASS
_INTAKE_TARGET = re.compile(r"^\s*((?:ack latency|investigations|alerts stored) \([^)]*\)): (.+?) \(target (.+?)\)\s+"
                            + _VERDICT + r"\s*$")
INTAKE_ROWS = ("ack latency (worker running)", "investigations (worker running)", "alerts stored (worker running)",
               "alerts stored (--no-worker)")


def parse_intake(stdout: str) -> list[Row]:
    rows = []
    for line in stdout.splitlines():
        if m := _INTAKE_TARGET.match(line):
            name, figure, target, verdict = m.groups()
            rows.append(Row(name, figure, target, _ok(verdict)))
    return rows


# bench/storm.py, e.g.:
# storm: 1000 alerts from 20 services, 3 root causes, sent in 59.8 s
#   HTTP answers: {'202': 1000}
#   alerts accepted 1000, stored 1000: lost 0 (target 0) PASS
#   outcomes: {'duplicate': 963, 'joined': 31, 'opened': 6}
#   incidents opened: 6, of which 3 merged into another when their common cause alerted
#   ground truth: orders-db causes the alerts of 7 services; redis-cache causes ...; auth causes ...
#   root incidents: 3 left, 3/3 exact, alert pairs precision 100.0% recall 100.0% (target exactly 3, each \
# investigating its root with exactly its alerts) PASS
#     incident 1: investigating orders-db; 302 alerts from checkout, frontend, ... — exact
#   baseline, one incident per alert: 37 left, 0/3 exact, alert pairs precision 100.0% recall 7.9% — rejected
#   baseline, everything in one incident: 1 left, 0/3 exact, alert pairs precision 34.5% recall 100.0% — rejected
#   baselines rejected by the same gate: 2/2 PASS
#   investigations run: 3 (call graph: 19 edges from Jaeger)
_STORM_LOST = re.compile(r"^\s*alerts accepted (\d+), stored (\d+): lost (-?\d+) \(target (.+?)\)\s+" + _VERDICT
                         + r"\s*$")
_STORM_OPENED = re.compile(r"^\s*incidents opened: (\d+), of which (\d+) merged")
_STORM_ROOTS = re.compile(r"^\s*root incidents: (.+?) \(target (.+?)\)\s+" + _VERDICT + r"\s*$")
_STORM_BASELINE = re.compile(r"^\s*baseline, (.+?): (\d+) left, (\d+/\d+) exact, .* — (rejected|ACCEPTED.*)$")
_STORM_REJECTED = re.compile(r"^\s*baselines rejected by the same gate: (\d+/\d+)\s+" + _VERDICT + r"\s*$")


def parse_storm(stdout: str) -> list[Row]:
    rows = []
    opened = ""
    baselines: list[str] = []
    for line in stdout.splitlines():
        if m := _STORM_LOST.match(line):
            accepted, stored, lost, target, verdict = m.groups()
            rows.append(Row("alerts lost", f"{lost} (accepted {accepted}, stored {stored})", target, _ok(verdict)))
        elif m := _STORM_OPENED.match(line):
            opened = f" ({m.group(1)} opened, {m.group(2)} merged)"
        elif m := _STORM_ROOTS.match(line):
            figure, target, verdict = m.groups()
            rows.append(Row("root incidents", figure + opened, target, _ok(verdict)))
        elif m := _STORM_BASELINE.match(line):
            name, left, exact, _ = m.groups()
            baselines.append(f"{name}: {left} left, {exact} exact")
        elif m := _STORM_REJECTED.match(line):
            figure, verdict = m.groups()
            rows.append(Row("do-nothing baselines rejected", f"{figure} ({'; '.join(baselines)})", "all rejected",
                            _ok(verdict)))
    return rows


# bench/eval/run.py (no --model), e.g.:
# rule-based analyzer (no model): 13 scenarios
# scenario                     truth                          answer                             svc act cite ...
# bad-deploy                   checkout/rollback              checkout MEDIUM/rollback           ✓   ✓   ✓    ...
# ...
# total: root-cause service 13/13 (100%), first action 9/13 (69%), citations valid 13/13, no secret leaked 13/13, \
# HIGH-but-wrong 0, tokens 0, cost $0.0000, mean latency 0.01 s
# target (rule-based): service ≥ 75 %, no HIGH-but-wrong, every citation real, no secret leaked: PASS
_EVAL_TOTAL = re.compile(r"^total: root-cause service (\d+/\d+ \(\d+%\)), first action \d+/\d+ \(\d+%\), "
                         r"citations valid (\d+/\d+), no secret leaked (\d+/\d+), HIGH-but-wrong (\d+)")
_EVAL_TARGET = re.compile(r"^target \(rule-based\): (.+):\s+" + _VERDICT + r"\s*$")


def parse_eval(stdout: str) -> list[Row]:
    rows = []
    total = "see output"
    for line in stdout.splitlines():
        if m := _EVAL_TOTAL.match(line):
            service, citations, clean, high_wrong = m.groups()
            total = f"service {service}, HIGH-but-wrong {high_wrong}, cited {citations}, no leak {clean}"
        elif m := _EVAL_TARGET.match(line):
            target, verdict = m.groups()
            rows.append(Row("rule-based analyzer", total, target, _ok(verdict)))
    return rows


# bench/eval/run.py --generated (held-out seeds), e.g.:
# targets (heldout seeds):
# target | root cause | 78/90 = 87% (baseline 67%) | ≥ 90 % | FAIL
# target | first action | 67/90 = 74% (baseline 4%) | ≥ 80 % | FAIL
# ...
_GENERATED_TARGET = re.compile(r"^target \| ([^|]+) \| ([^|]+) \| ([^|]+) \| " + _VERDICT + r"\s*$")
GENERATED_ROWS = ("root cause", "first action", "root cause above baseline", "first action above baseline",
                  "HIGH-but-wrong", "forbidden actions", "clue recall", "rule-based brief", "pipeline crashes")


def parse_generated(stdout: str) -> list[Row]:
    rows = []
    for line in stdout.splitlines():
        if m := _GENERATED_TARGET.match(line):
            name, figure, target, verdict = (part.strip() for part in m.groups())
            rows.append(Row(f"held-out {name}", figure, target, _ok(verdict)))
    return rows


# bench/startup.py, e.g.:
# startup: median of 5 runs each (after a warm-up), SQLite, no Slack key, a model key for the worker, `sitrep` of the runtime install (README's run command with /usr/bin/python3, no test extras); 2 CPUs, load 0.77 at start
#   serve /readyz 200         0.67 s CPU (wall 0.71 s; runs 0.67–0.74)        target ≤ 1.5 s CPU  PASS
#   worker claiming jobs      0.66 s CPU (wall 0.70 s; runs 0.66–0.69)        target ≤ 1.5 s CPU  PASS
#   import bot.web            0.57 s CPU (wall 0.57 s; runs 0.56–0.60); development install beside, not gated (…): 0.78 s  target ≤ 0.8 s CPU  PASS
#   sitrep --help             0.08 s CPU (wall 0.11 s; runs 0.07–0.08)        target ≤ 0.3 s CPU  PASS
#   heaviest imports of bot.web: bot 0.17 s, sqlalchemy 0.16 s, pydantic 0.03 s, pydantic_settings 0.03 s, apscheduler 0.01 s
_STARTUP_ROW = re.compile(r"^\s+(serve /readyz 200|worker claiming jobs|import bot\.web|sitrep --help)\s+(\S.*?)\s+"
                          r"target (\S.*?)\s+" + _VERDICT + r"\s*$")
STARTUP_ROWS = ("serve /readyz 200", "worker claiming jobs", "import bot.web", "sitrep --help")


def parse_startup(stdout: str) -> list[Row]:
    return [Row(name, figure, target, _ok(verdict))
            for line in stdout.splitlines() if (m := _STARTUP_ROW.match(line))
            for name, figure, target, verdict in [m.groups()]]


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("collect", "bench/collect.py", parse_collect,
              ("wall / slowest source, mean", "wall / slowest source, max", "ArgoCD hung: wall max",
               "ArgoCD hung: statuses")),
    Benchmark("digest", "bench/digest.py", parse_digest,
              ("noise templates mined", "budget binding", "tokens", "seconds", "error templates mined",
               "error templates kept", "noise read as errors")),
    Benchmark("redact", "bench/redact.py", parse_redact, ("recall", "negatives changed", "throughput")),
    Benchmark("intake", "bench/intake.py", parse_intake, INTAKE_ROWS),
    Benchmark("storm", "bench/storm.py", parse_storm,
              ("alerts lost", "root incidents", "do-nothing baselines rejected")),
    Benchmark("eval", "bench/eval/run.py", parse_eval, ("rule-based analyzer",)),
    Benchmark("eval-generated", "bench/eval/run.py", parse_generated, tuple(f"held-out {n}" for n in GENERATED_ROWS),
              args=("--generated", "--split", "heldout")),
    Benchmark("startup", "bench/startup.py", parse_startup, STARTUP_ROWS),
)
BY_NAME = {b.name: b for b in BENCHMARKS}


# --- running ----------------------------------------------------------------------------------------------

def run_benchmark(benchmark: Benchmark, *, timeout: float = DEFAULT_TIMEOUT, root: Path = ROOT) -> Run:
    """Run one benchmark script to completion or to ``timeout`` seconds, capturing its output."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}  # partial output survives a kill
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(root / benchmark.script), *benchmark.args], cwd=root, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8", errors="replace", start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        stdout, stderr = proc.communicate()
        return Run(None, stdout, stderr, time.perf_counter() - started, timeout=timeout)
    except BaseException:  # Ctrl-C: the benchmark is in a session of its own, so it did not get the SIGINT
        _stop(proc)
        raise
    return Run(proc.returncode, stdout, stderr, time.perf_counter() - started)


def _stop(proc: subprocess.Popen[str]) -> None:
    """End the benchmark and every process it started (its process group): SIGTERM, then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except OSError:  # no process groups on this platform
        proc.kill()
        return
    try:
        proc.wait(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left in the group
    except OSError:
        pass


def rows_for(benchmark: Benchmark, run: Run) -> list[Row]:
    """The report rows for one run: the parsed verdicts, plus a FAIL row for whatever went wrong."""
    try:
        parsed = benchmark.parse(run.stdout)
    except Exception as exc:  # a parser bug must not lose the other benchmarks
        parsed = []
        problem: str | None = f"parser error: {type(exc).__name__}: {exc}"
    else:
        problem = None
    rows = [Row(f"{benchmark.name}: {r.name}", r.figure, r.target, r.passed) for r in parsed]

    def fail(figure: str, target: str = "runs to completion, exit 0") -> None:
        rows.append(Row(f"{benchmark.name}: run", figure, target, False))

    if run.timed_out:
        fail(f"timeout after {run.timeout:g} s")
    elif run.returncode != 0:
        # intake, storm and eval exit 1 when one of their targets fails: that is not a crash when the
        # failing verdict was printed and there is no traceback
        explained = any(not r.passed for r in parsed) and "Traceback" not in run.stderr
        if not explained:
            fail(f"exit {run.returncode}: {_last_line(run.stderr) or _last_line(run.stdout) or 'no output'}")
    elif not parsed and problem is None:
        fail(f"no parsable verdict in output (last line: {_last_line(run.stdout) or 'none'!r})", "PASS/FAIL lines")
    elif problem is None:
        found = {r.name for r in parsed}
        for name in benchmark.expected:
            if name not in found:
                rows.append(Row(f"{benchmark.name}: {name}", "not found in output", "a PASS/FAIL line", False))
    if problem:
        fail(problem, "a parsable verdict")
    return rows


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- rendering --------------------------------------------------------------------------------------------

HEADER = ("name", "figure", "target", "result")


def render_table(rows: Sequence[Row]) -> str:
    """A plain-text table, columns aligned, with a summary line."""
    cells = [HEADER, *((r.name, r.figure, r.target, r.verdict) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = sum(not r.passed for r in rows)
    lines.append("")
    lines.append(f"{len(rows) - failed}/{len(rows)} passed" + (f", {failed} FAILED" if failed else ""))
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(results: Sequence[Result], *, when: datetime, cpus: int | None, python: str,
                    command: str = "python bench/report.py") -> str:
    rows = [row for result in results for row in result.rows]
    failed = sum(not r.passed for r in rows)
    total = sum(r.run.seconds for r in results)
    out = [
        "# Benchmark report",
        "",
        f"- Date: {when.isoformat(timespec='seconds')}",
        f"- Machine: {cpus or '?'} CPUs ({platform.system()} {platform.machine()}), Python {python}",
        f"- Command: `{command}`",
        f"- Result: {'PASS' if not failed else 'FAIL'} — {len(rows) - failed}/{len(rows)} rows passed",
        "",
        "| Name | Figure | Target | Result |",
        "| --- | --- | --- | --- |",
        *(f"| {_md(r.name)} | {_md(r.figure)} | {_md(r.target)} | {'PASS' if r.passed else '**FAIL**'} |"
          for r in rows),
        "",
        "## Wall time",
        "",
        "| Benchmark | Script | Exit | Wall time |",
        "| --- | --- | --- | --- |",
        *(f"| {r.benchmark.name} | `{r.benchmark.script}` | {_exit_text(r.run)} | {r.run.seconds:.1f} s |"
          for r in results),
        f"| total | | | {total:.1f} s |",
        "",
    ]
    return "\n".join(out)


def _exit_text(run: Run) -> str:
    return f"timeout ({run.timeout:g} s)" if run.timed_out else str(run.returncode)


def write_report(path: Path, results: Sequence[Result], *, when: datetime | None = None,
                 command: str = "python bench/report.py") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_markdown(results, when=when or datetime.now().astimezone(), cpus=os.cpu_count(),
                           python=platform.python_version(), command=command)
    path.write_text(text, encoding="utf-8")


def exit_status(results: Sequence[Result]) -> int:
    return 0 if all(result.passed for result in results) else 1


# --- command line -----------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"run only these benchmarks ({', '.join(BY_NAME)})")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"per-benchmark timeout (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="PATH",
                        help="the Markdown report (default bench/REPORT.md)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown or not names:
            parser.error(f"unknown benchmark(s) {', '.join(unknown) or '(none given)'}; "
                         f"choose from {', '.join(BY_NAME)}")
        args.benchmarks = [b for b in BENCHMARKS if b.name in names]
    else:
        args.benchmarks = list(BENCHMARKS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    started = time.perf_counter()
    results: list[Result] = []
    for benchmark in args.benchmarks:
        print(f"running {benchmark.name} ({benchmark.script}) ...", file=sys.stderr, flush=True)
        run = run_benchmark(benchmark, timeout=args.timeout)
        result = Result(benchmark, run, rows_for(benchmark, run))
        print(f"  {'PASS' if result.passed else 'FAIL'} in {run.seconds:.1f} s", file=sys.stderr, flush=True)
        results.append(result)
    print(render_table([row for result in results for row in result.rows]))
    write_report(args.output, results, command=" ".join(["python bench/report.py", *argv]))
    print(f"\nwrote {args.output} — {len(results)} benchmarks in {time.perf_counter() - started:.1f} s")
    return exit_status(results)


if __name__ == "__main__":
    sys.exit(main())
