"""Intake under load: ack latency and nothing lost, with the worker investigating meanwhile.

A real ``sitrep serve`` on SQLite (its worker process investigating the incidents the alerts open,
the fake cloud behind it, in a process and on a core of its own with the load generator, as real
upstreams would be elsewhere) receives 50 requests/s for 20 s, mixed: signed Slack Events API
deliveries of alert messages in an alert channel, and Alertmanager webhooks, over many services.
Then the same load again on a fresh ``sitrep serve --no-worker``, whose figure is printed beside.

Targets (exit 1 when one fails): ack p99 < 50 ms with the worker running (its first investigation
done before the load starts, and investigations finishing during it); in each run every accepted
(2xx) alert stored and no dead letter.

    python bench/intake.py [--rate 50] [--seconds 20] [--no-worker]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import multiprocessing
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.sandbox.server import FakeCloud  # noqa: E402
from bot.sandbox.signer import SlackSigner  # noqa: E402
from tests.support import run_sitrep, wait_for  # noqa: E402

#: the ack target with the worker running
P99_TARGET_MS = 50.0
TOKEN = "intake-webhook-token"
SECRET = "intake-signing-secret-0123456789"
CHANNEL = "C0ALERTS"
SERVICES = [f"svc-{n:02d}" for n in range(40)]
NAMES = ["HighErrorRate", "HighLatencyP99", "PodRestarting", "DiskFilling"]


def slack_request(signer: SlackSigner, rng: random.Random, n: int) -> tuple[str, bytes, dict[str, str]]:
    service, name = rng.choice(SERVICES), rng.choice(NAMES)
    title = f"[FIRING:1] {name} (prod-eu1 shop {service} critical)"
    event = signer.message_event(channel=CHANNEL, bot_id="B0ALERTMGR", ts=f"{time.time():.6f}",
                                 attachments=[{"title": title, "title_link": "http://am:9093/#/alerts",
                                               "text": "", "fallback": title}])
    event["username"] = "Alertmanager"
    body = signer.event_body(event, event_id=f"EvBENCH{n:06d}")
    return "/slack/events", body.encode(), signer.headers(body)


def webhook_request(rng: random.Random) -> tuple[str, bytes, dict[str, str]]:
    service, name = rng.choice(SERVICES), rng.choice(NAMES)
    labels = {"alertname": name, "service": service, "namespace": "shop", "severity": "critical"}
    body = json.dumps({"version": "4", "status": "firing", "receiver": "sitrep", "groupLabels": labels,
                       "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am:9093",
                       "alerts": [{"status": "firing", "labels": labels, "annotations": {},
                                   "startsAt": datetime.now(UTC).isoformat(),
                                   "endsAt": "0001-01-01T00:00:00Z",
                                   "fingerprint": f"{rng.getrandbits(64):016x}"}]}).encode()
    return "/alerts/alertmanager", body, {"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"}


def p99_of(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass
class Phase:
    """One run of the load against one ``sitrep serve``."""

    worker: bool
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    stored: int = 0
    dead_letters: int = 0
    warm_up_s: float = 0.0
    investigations: int = 0  # finished during the load

    @property
    def accepted(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.endswith((" 200", " 202")))

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        return p99_of(self.latencies)

    @property
    def nothing_lost(self) -> bool:
        return self.accepted == self.stored and self.dead_letters == 0 and self.accepted > 0


async def load(url: str, signer: SlackSigner, phase: Phase, *, rate: float, seconds: float) -> None:
    rng = random.Random(11)
    latencies, statuses, by_kind = phase.latencies, phase.statuses, phase.by_kind
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=64)) as client:
        async def one(n: int) -> None:
            await asyncio.sleep(max(0.0, n / rate - (time.monotonic() - started)))
            path, body, headers = slack_request(signer, rng, n) if n % 2 else webhook_request(rng)
            sent = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers=headers)
                key = f"{path.split('/')[1]} {response.status_code}"
            except httpx.HTTPError as exc:
                key = f"{path.split('/')[1]} {type(exc).__name__}"
            latencies.append((time.perf_counter() - sent) * 1000)
            by_kind.setdefault(path.split("/")[1], []).append(latencies[-1])
            statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one(n) for n in range(int(rate * seconds))))


def _pin(cpu: int) -> None:
    """Keep Sitrep on a core of its own and the fakes + load generator on the other (when there
    are two or more), so the figures are Sitrep's and not the test rig's."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def fake_cloud_process(conn: Connection) -> None:
    """The upstream fakes in a process of their own, as real upstreams are: the load generator's
    timings then do not wait on the fakes answering the worker."""
    _pin(1)
    with FakeCloud() as cloud:
        conn.send(cloud.env(SLACK_SIGNING_SECRET=SECRET))
        conn.recv()  # stop


def _count(db: Path, query: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(query).fetchone()[0])


DONE_INVESTIGATIONS = "select count(*) from jobs where kind in ('investigate', 'delta') and state = 'done'"


def run_phase(cloud_env: dict[str, str], signer: SlackSigner, *, worker: bool, rate: float,
              seconds: float) -> Phase:
    phase = Phase(worker=worker)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db = workdir / "sitrep.db"
        env = {**cloud_env, "SITREP_WEBHOOK_TOKEN": TOKEN,
               "SITREP_ALERT_CHANNELS": CHANNEL, "LOG_LEVEL": "WARNING",
               **({"PYTHONASYNCIODEBUG": "1"} if os.environ.get("ASYNCIO_DEBUG") else {})}
        _pin(0)  # inherited by the sitrep process started next (and by its worker process)
        with run_sitrep(env, workdir=workdir, args=() if worker else ("--no-worker",)) as sitrep:
            _pin(1)
            if worker:  # the worker process is up and investigating before the load starts
                started = time.monotonic()
                path, body, headers = webhook_request(random.Random(7))
                httpx.post(f"{sitrep.url}{path}", content=body, headers=headers, timeout=10).raise_for_status()
                try:
                    wait_for(lambda: _count(db, DONE_INVESTIGATIONS) >= 1, timeout=60,
                             what="the worker process to finish a first investigation")
                except AssertionError as exc:
                    raise RuntimeError(f"{exc}; sitrep serve's log:\n{sitrep.logs()[-4000:]}") from None
                phase.warm_up_s = time.monotonic() - started
            before = _count(db, DONE_INVESTIGATIONS)
            alerts_before = _count(db, "select count(*) from alerts")
            asyncio.run(load(sitrep.url, signer, phase, rate=rate, seconds=seconds))
            phase.investigations = _count(db, DONE_INVESTIGATIONS) - before
            if os.environ.get("ASYNCIO_DEBUG"):
                Path(f"/tmp/intake-serve{'' if worker else '-no-worker'}.log").write_text(sitrep.logs())
            phase.stored = _count(db, "select count(*) from alerts") - alerts_before
            phase.dead_letters = _count(db, "select count(*) from dead_letters")
    return phase


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(phases: list[Phase], *, rate: float, seconds: float) -> bool:
    """Print the figures; True when every target is met."""
    with_worker = next((p for p in phases if p.worker), None)
    intake_only = next((p for p in phases if not p.worker), None)
    print(f"intake: {int(rate * seconds)} requests at {rate:g}/s for {seconds:g} s per run "
          f"(half Slack events, half Alertmanager webhooks), sitrep serve on SQLite, "
          f"{'with its worker process investigating, then ' if with_worker else ''}with --no-worker"
          f"{'; Sitrep on core 0, fakes and load on core 1' if (os.cpu_count() or 1) >= 2 else ''}")
    ok = True
    for phase in phases:
        name = "worker running" if phase.worker else "--no-worker"
        print(f"  {name}: answers {dict(sorted(phase.statuses.items()))}"
              + (f"; first investigation done {phase.warm_up_s:.1f} s after start-up" if phase.worker else ""))
        for kind, values in sorted(phase.by_kind.items()):
            print(f"    {'Slack events' if kind == 'slack' else 'webhooks'}: p50 {statistics.median(values):.1f} ms, "
                  f"p99 {p99_of(values):.1f} ms")
    if with_worker is not None:
        beside = f"; --no-worker p50 {intake_only.p50:.1f} ms, p99 {intake_only.p99:.1f} ms" if intake_only else ""
        passed = with_worker.p99 < P99_TARGET_MS
        ok &= passed
        print(f"  ack latency (worker running): p50 {with_worker.p50:.1f} ms, p99 {with_worker.p99:.1f} ms{beside} "
              f"(target p99 < {P99_TARGET_MS:g} ms) {_verdict(passed)}")
        passed = with_worker.investigations >= 1
        ok &= passed
        print(f"  investigations (worker running): {with_worker.investigations} finished during the load "
              f"(target ≥ 1) {_verdict(passed)}")
    elif intake_only is not None:
        print(f"  ack latency (--no-worker): p50 {intake_only.p50:.1f} ms, p99 {intake_only.p99:.1f} ms")
    for phase in phases:
        name = "worker running" if phase.worker else "--no-worker"
        ok &= phase.nothing_lost
        print(f"  alerts stored ({name}): accepted {phase.accepted}, stored {phase.stored}, "
              f"{phase.dead_letters} dead letters (target stored = accepted, 0 dead letters) "
              f"{_verdict(phase.nothing_lost)}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-worker", action="store_true",
                        help="only the intake-only run (by default: with the worker process, then without)")
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    fakes = multiprocessing.get_context("spawn").Process(target=fake_cloud_process, args=(theirs,), daemon=True)
    fakes.start()
    cloud_env: dict[str, str] = ours.recv()
    signer = SlackSigner(SECRET)
    try:
        phases = [run_phase(cloud_env, signer, worker=worker, rate=args.rate, seconds=args.seconds)
                  for worker in ((False,) if args.no_worker else (True, False))]
    finally:
        ours.send("stop")
        fakes.join(timeout=10)
    return 0 if report(phases, rate=args.rate, seconds=args.seconds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
