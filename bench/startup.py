"""Start-up: how soon a restarted pod, a taken-over worker or an end-to-end test can work.

Each figure is the median of several fresh processes, on SQLite in a temporary folder (a new database
each run, so the migrations run as they do for a first start or a test), with the repository's
policies and no Slack key (the worker has a model key, as deployed; serve and the rest none). The gate
is on the CPU seconds the process spent until it was ready (other processes on the machine stretch the
wall time, not Sitrep's cost; on an idle machine the wall time is that plus a few milliseconds of
waiting); the wall time is printed beside:

- ``sitrep serve``: from the process start to the first ``GET /readyz`` that answers 200 (polled every
  20 ms);
- ``sitrep worker`` (no HTTP port): from the process start to its ``worker_started`` log line, when it
  starts claiming jobs, with a model key set as in a deployment (its SDK loads beside the running worker);
- ``import bot.web``: the import alone, in a fresh interpreter;
- ``sitrep --help``: the whole command, interpreter start included.

The CPU seconds of ``serve`` are its own (not the worker process it starts, which runs beside it).

``sitrep`` is the console script installed beside this interpreter (a shell shim such as pyenv's adds
its own ~0.2 s, which is not Sitrep's), else ``python -m bot.cli``.

Targets (exit 1 when one fails): /readyz ≤ 1.5 s, worker ready ≤ 1.5 s, import ≤ 0.8 s, --help ≤ 0.3 s.
The five heaviest imports of ``bot.web`` are listed after the figures, to say where time goes.

    python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support import free_port, subprocess_env  # noqa: E402

READY_TARGET_S = 1.5
WORKER_TARGET_S = 1.5
IMPORT_TARGET_S = 0.8
HELP_TARGET_S = 0.3
#: a process that is not ready by then has failed
GIVE_UP_S = 60.0
POLL_S = 0.02


@dataclass(frozen=True)
class Took:
    cpu: float
    wall: float


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sitrep_command() -> list[str]:
    script = Path(sys.executable).with_name("sitrep")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bot.cli"]


def clean_env(workdir: Path, **extra: str) -> dict[str, str]:
    """No developer settings, no Slack or model key: what a bare start needs."""
    return subprocess_env(HOME=str(workdir), DATABASE_URL=f"sqlite:///{workdir / 'sitrep.db'}",
                          SITREP_POLICY_DIR=str(ROOT / "policies"), LOG_FORMAT="json", LOG_LEVEL="INFO", **extra)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_ready() -> Took:
    """From ``sitrep serve`` starting to /readyz answering 200."""
    with tempfile.TemporaryDirectory(prefix="sitrep-startup-") as tmp:
        workdir, port = Path(tmp), free_port()
        log = (workdir / "serve.log").open("wb")
        started = time.perf_counter()
        proc = subprocess.Popen([*sitrep_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=workdir, env=clean_env(workdir, PORT=str(port)), stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            with httpx.Client(timeout=1) as client:
                while True:
                    try:
                        if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                            return Took(cpu_of(proc.pid), time.perf_counter() - started)
                    except httpx.TransportError:
                        pass
                    if proc.poll() is not None or time.perf_counter() - started > GIVE_UP_S:
                        raise RuntimeError("sitrep serve did not become ready:\n"
                                           + (workdir / "serve.log").read_text(errors="replace")[-3000:])
                    time.sleep(POLL_S)
        finally:
            stop(proc)
            log.close()


def worker_ready() -> Took:
    """From ``sitrep worker`` starting to its ``worker_started`` log line, with a model key set."""
    with tempfile.TemporaryDirectory(prefix="sitrep-startup-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        # with a model key, as deployed: the analyst is built, its SDK must not hold the start up
        env = clean_env(workdir, ANTHROPIC_API_KEY="sk-ant-bench-FAKE", ANTHROPIC_BASE_URL="http://127.0.0.1:9")
        proc = subprocess.Popen([*sitrep_command(), "worker"], cwd=workdir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        timer = threading.Timer(GIVE_UP_S, proc.kill)
        timer.start()
        seen: list[str] = []
        try:
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.decode(errors="replace")
                seen.append(line)
                try:
                    event = json.loads(line).get("event")
                except ValueError:
                    continue
                if event == "worker_started":
                    return Took(cpu_of(proc.pid), time.perf_counter() - started)
            raise RuntimeError("sitrep worker never said worker_started:\n" + "".join(seen)[-3000:])
        finally:
            timer.cancel()
            stop(proc)


def import_web() -> Took:
    """Importing bot.web in a fresh interpreter (the interpreter's own start excluded)."""
    code = ("import resource, time\n"
            "def cpu():\n    u = resource.getrusage(resource.RUSAGE_SELF)\n    return u.ru_utime + u.ru_stime\n"
            "c, t = cpu(), time.perf_counter()\nimport bot.web\nprint(cpu() - c, time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                          check=True, timeout=GIVE_UP_S)
    cpu, wall = done.stdout.strip().splitlines()[-1].split()
    return Took(float(cpu), float(wall))


def help_command() -> Took:
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run([*sitrep_command(), "--help"], env=subprocess_env(), stdout=subprocess.DEVNULL, check=True,
                   timeout=GIVE_UP_S)
    return Took(children_cpu() - cpu, time.perf_counter() - started)


def heaviest_imports(count: int = 5) -> list[tuple[str, float]]:
    """The top-level packages that ``import bot.web`` spends most time in (``-X importtime``, self times)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import bot.web"], env=subprocess_env(),
                          capture_output=True, text=True, check=True, timeout=GIVE_UP_S)
    spent: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if m := re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line):
            spent[m.group(2).split(".")[0]] += int(m.group(1)) / 1e6
    return sorted(spent.items(), key=lambda item: -item[1])[:count]


def measure(what: Callable[[], Took], runs: int) -> list[Took]:
    what()  # a warm-up run: .pyc files written, the page cache filled, as on a pod that ran before
    return [what() for _ in range(runs)]


def row(name: str, took: list[Took], target: float) -> bool:
    cpu = statistics.median(t.cpu for t in took)
    wall = statistics.median(t.wall for t in took)
    ok = cpu <= target
    figure = f"{cpu:.2f} s CPU (wall {wall:.2f} s; runs {min(t.cpu for t in took):.2f}–{max(t.cpu for t in took):.2f})"
    print(f"  {name:<26}{figure:<48}target ≤ {target:g} s CPU  {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (after one warm-up)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"startup: median of {args.runs} runs each (after a warm-up), SQLite, no Slack key, "
          "a model key for the worker, "
          f"`{' '.join(Path(c).name for c in sitrep_command())}`; {os.cpu_count()} CPUs, load {load:.2f} at start")
    results = [
        row("serve /readyz 200", measure(serve_ready, args.runs), READY_TARGET_S),
        row("worker claiming jobs", measure(worker_ready, args.runs), WORKER_TARGET_S),
        row("import bot.web", measure(import_web, args.runs), IMPORT_TARGET_S),
        row("sitrep --help", measure(help_command, args.runs), HELP_TARGET_S),
    ]
    print("  heaviest imports of bot.web: "
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in heaviest_imports()))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
