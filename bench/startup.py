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

The gated figures are those of Sitrep as deployed: the package and its runtime dependencies only, made
by README's run command (``python3 -m bot.bootstrap``, into ``.bench/runtime-venv``: once, and again when
``pyproject.toml`` changes) with the system Python (``/usr/bin/python3``, which README's commands are
written for; the container image's ``python:3.11-slim`` is built the same way, with PGO and LTO), or
this interpreter when the system has no Python 3.11+; ``--python`` measures another install instead.
``import bot.web`` in this interpreter, as it is (a development install: here pyenv's build without
PGO/LTO, about a third slower, and the test extras, whose rich makes structlog load rich's tracebacks
and httpx its command line), is printed beside, not gated.

``sitrep`` is the console script beside the measured interpreter (a shell shim such as pyenv's adds
its own ~0.2 s, which is not Sitrep's), else ``python -m bot.cli``.

Targets (exit 1 when one fails): /readyz ≤ 1.5 s, worker ready ≤ 1.5 s, import ≤ 0.8 s, --help ≤ 0.3 s.
The five heaviest imports of ``bot.web`` are listed after the figures, to say where time goes.

    python bench/startup.py [--runs 5] [--python .venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import resource
import shutil
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
#: Sitrep as deployed: README's run command, without the test extras
RUNTIME_VENV = ROOT / ".bench" / "runtime-venv"
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


def system_python() -> Path:
    """``/usr/bin/python3`` when it is 3.11 or newer (what README's commands run with), else this one."""
    system = Path("/usr/bin/python3")
    if system.exists() and subprocess.run([str(system), "-c", "import sys; sys.exit(sys.version_info < (3, 11))"],
                                          check=False, timeout=60).returncode == 0:
        return system
    return Path(sys.executable)


def runtime_python(base: Path) -> Path:
    """The interpreter of a Sitrep install as deployed, made by ``base -m bot.bootstrap --venv …`` (the
    first time; after that a no-op unless ``pyproject.toml`` or the base interpreter changed)."""
    config = RUNTIME_VENV / "pyvenv.cfg"
    made_by = next((line.split("=", 1)[1].strip() for line in config.read_text().splitlines()
                    if line.startswith("executable")), None) if config.exists() else None
    if made_by is not None and Path(made_by).resolve() != base.resolve():
        shutil.rmtree(RUNTIME_VENV)
    subprocess.run([str(base), "-m", "bot.bootstrap", "--venv", str(RUNTIME_VENV)], cwd=ROOT, check=True,
                   stdout=sys.stderr, timeout=600)
    return RUNTIME_VENV / "bin" / "python"


def top_level_modules(python: Path) -> set[str]:
    """The top-level packages ``import bot.web`` leaves loaded (failed optional imports not counted)."""
    done = subprocess.run([str(python), "-c", "import sys, bot.web\nprint(*sorted({m.split('.')[0] for m in sys.modules}))"],
                          env=subprocess_env(), capture_output=True, text=True, check=True, timeout=GIVE_UP_S)
    return set(done.stdout.split())


def sitrep_command(python: Path) -> list[str]:
    script = python.with_name("sitrep")
    return [str(script)] if script.is_file() else [str(python), "-m", "bot.cli"]


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


def serve_ready(python: Path) -> Took:
    """From ``sitrep serve`` starting to /readyz answering 200."""
    with tempfile.TemporaryDirectory(prefix="sitrep-startup-") as tmp:
        workdir, port = Path(tmp), free_port()
        log = (workdir / "serve.log").open("wb")
        started = time.perf_counter()
        proc = subprocess.Popen([*sitrep_command(python), "serve", "--host", "127.0.0.1", "--port", str(port)],
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


def worker_ready(python: Path) -> Took:
    """From ``sitrep worker`` starting to its ``worker_started`` log line, with a model key set."""
    with tempfile.TemporaryDirectory(prefix="sitrep-startup-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        # with a model key, as deployed: the analyst is built, its SDK must not hold the start up
        env = clean_env(workdir, ANTHROPIC_API_KEY="sk-ant-bench-FAKE", ANTHROPIC_BASE_URL="http://127.0.0.1:9")
        proc = subprocess.Popen([*sitrep_command(python), "worker"], cwd=workdir, env=env,
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


def import_web(python: Path) -> Took:
    """Importing bot.web in a fresh interpreter (the interpreter's own start excluded)."""
    code = ("import resource, time\n"
            "def cpu():\n    u = resource.getrusage(resource.RUSAGE_SELF)\n    return u.ru_utime + u.ru_stime\n"
            "c, t = cpu(), time.perf_counter()\nimport bot.web\nprint(cpu() - c, time.perf_counter() - t)")
    done = subprocess.run([str(python), "-c", code], env=subprocess_env(), capture_output=True, text=True,
                          check=True, timeout=GIVE_UP_S)
    cpu, wall = done.stdout.strip().splitlines()[-1].split()
    return Took(float(cpu), float(wall))


def help_command(python: Path) -> Took:
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run([*sitrep_command(python), "--help"], env=subprocess_env(), stdout=subprocess.DEVNULL, check=True,
                   timeout=GIVE_UP_S)
    return Took(children_cpu() - cpu, time.perf_counter() - started)


def import_times(python: Path) -> dict[str, float]:
    """Seconds ``import bot.web`` spends in each top-level package (``-X importtime``, self times)."""
    done = subprocess.run([str(python), "-X", "importtime", "-c", "import bot.web"], env=subprocess_env(),
                          capture_output=True, text=True, check=True, timeout=GIVE_UP_S)
    spent: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if m := re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line):
            spent[m.group(2).split(".")[0]] += int(m.group(1)) / 1e6
    return spent


def measure(what: Callable[[Path], Took], python: Path, runs: int) -> list[Took]:
    what(python)  # a warm-up run: .pyc files written, the page cache filled, as on a pod that ran before
    return [what(python) for _ in range(runs)]


def row(name: str, took: list[Took], target: float, *, beside: str = "") -> bool:
    cpu = statistics.median(t.cpu for t in took)
    wall = statistics.median(t.wall for t in took)
    ok = cpu <= target
    figure = f"{cpu:.2f} s CPU (wall {wall:.2f} s; runs {min(t.cpu for t in took):.2f}–{max(t.cpu for t in took):.2f})"
    print(f"  {name:<26}{figure + beside:<46}  target ≤ {target:g} s CPU  {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (after one warm-up)")
    parser.add_argument("--python", type=Path, help="measure the Sitrep installed for this interpreter "
                        "(default: a runtime install made by README's command in .bench/runtime-venv)")
    args = parser.parse_args()
    if args.python is None:
        base = system_python()
        python, where = runtime_python(base), f"runtime install (README's run command with {base}, no test extras)"
    else:
        python, where = args.python, str(args.python)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"startup: median of {args.runs} runs each (after a warm-up), SQLite, no Slack key, "
          "a model key for the worker, "
          f"`{' '.join(Path(c).name for c in sitrep_command(python))}` of the {where}; "
          f"{os.cpu_count()} CPUs, load {load:.2f} at start")
    this = Path(sys.executable)
    beside = ""
    if this.resolve() != python.resolve():  # a development install, measured between the runtime's rows
        took = measure(import_web, this, args.runs)
        beside = (f"; development install beside, not gated (Python {sys.version.split()[0]} at {this}, "
                  f"test extras): {statistics.median(t.cpu for t in took):.2f} s")
    results = [
        row("serve /readyz 200", measure(serve_ready, python, args.runs), READY_TARGET_S),
        row("worker claiming jobs", measure(worker_ready, python, args.runs), WORKER_TARGET_S),
        row("import bot.web", measure(import_web, python, args.runs), IMPORT_TARGET_S, beside=beside),
        row("sitrep --help", measure(help_command, python, args.runs), HELP_TARGET_S),
    ]
    spent = import_times(python)
    print("  heaviest imports of bot.web: " + ", ".join(
        f"{name} {seconds:.2f} s" for name, seconds in sorted(spent.items(), key=lambda item: -item[1])[:5]))
    if beside:
        extra = sorted(name for name in top_level_modules(this) - top_level_modules(python) if not name.startswith("_"))
        print(f"  loaded by import bot.web in the development install only: {', '.join(extra) or 'none'}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
