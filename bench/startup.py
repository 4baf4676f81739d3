"""Start-up: how soon a restarted pod, a taken-over worker or an end-to-end test can work.

Each figure is the median of several fresh processes, on SQLite in a temporary folder (a new database
each run, so the migrations run as they do for a first start or a test), with the repository's
policies and no Slack or model key:

- ``sitrep serve``: from the process start to the first ``GET /readyz`` that answers 200 (polled every
  20 ms);
- ``sitrep worker`` (no HTTP port): from the process start to its ``worker_started`` log line, when it
  starts claiming jobs;
- ``import bot.web``: the import alone, in a fresh interpreter;
- ``sitrep --help``: the whole command, interpreter start included.

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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
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


def serve_ready_s() -> float:
    """Seconds from ``sitrep serve`` starting to /readyz answering 200."""
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
                            return time.perf_counter() - started
                    except httpx.TransportError:
                        pass
                    if proc.poll() is not None or time.perf_counter() - started > GIVE_UP_S:
                        raise RuntimeError("sitrep serve did not become ready:\n"
                                           + (workdir / "serve.log").read_text(errors="replace")[-3000:])
                    time.sleep(POLL_S)
        finally:
            stop(proc)
            log.close()


def worker_ready_s() -> float:
    """Seconds from ``sitrep worker`` starting to its ``worker_started`` log line."""
    with tempfile.TemporaryDirectory(prefix="sitrep-startup-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        proc = subprocess.Popen([*sitrep_command(), "worker"], cwd=workdir, env=clean_env(workdir),
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
                    return time.perf_counter() - started
            raise RuntimeError("sitrep worker never said worker_started:\n" + "".join(seen)[-3000:])
        finally:
            timer.cancel()
            stop(proc)


def import_web_s() -> float:
    """Seconds to import bot.web in a fresh interpreter (the interpreter's own start excluded)."""
    code = "import time; t = time.perf_counter(); import bot.web; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                          check=True, timeout=GIVE_UP_S)
    return float(done.stdout.strip().splitlines()[-1])


def help_s() -> float:
    started = time.perf_counter()
    subprocess.run([*sitrep_command(), "--help"], env=subprocess_env(), stdout=subprocess.DEVNULL, check=True,
                   timeout=GIVE_UP_S)
    return time.perf_counter() - started


def heaviest_imports(count: int = 5) -> list[tuple[str, float]]:
    """The top-level packages that ``import bot.web`` spends most time in (``-X importtime``, self times)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import bot.web"], env=subprocess_env(),
                          capture_output=True, text=True, check=True, timeout=GIVE_UP_S)
    spent: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if m := re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line):
            spent[m.group(2).split(".")[0]] += int(m.group(1)) / 1e6
    return sorted(spent.items(), key=lambda item: -item[1])[:count]


def measure(what: Callable[[], float], runs: int) -> list[float]:
    what()  # a warm-up run: .pyc files written, the page cache filled, as on a pod that ran before
    return [what() for _ in range(runs)]


def row(name: str, values: list[float], target: float) -> bool:
    median = statistics.median(values)
    ok = median <= target
    spread = f"(runs {min(values):.2f}–{max(values):.2f})"
    print(f"  {name:<26}{median:.2f} s {spread:<22}target ≤ {target:g} s  {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each (after one warm-up)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"startup: median of {args.runs} runs each (after a warm-up), SQLite, no Slack or model key, "
          f"`{' '.join(Path(c).name for c in sitrep_command())}`; {os.cpu_count()} CPUs, load {load:.2f} at start")
    results = [
        row("serve /readyz 200", measure(serve_ready_s, args.runs), READY_TARGET_S),
        row("worker claiming jobs", measure(worker_ready_s, args.runs), WORKER_TARGET_S),
        row("import bot.web", measure(import_web_s, args.runs), IMPORT_TARGET_S),
        row("sitrep --help", measure(help_s, args.runs), HELP_TARGET_S),
    ]
    print("  heaviest imports of bot.web: "
          + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in heaviest_imports()))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
