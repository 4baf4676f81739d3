"""Intake under load: ack latency and nothing lost.

A real ``sitrep serve`` on SQLite (its worker investigating the incidents the alerts open, the fake
cloud behind it, in a process and on a core of its own with the load generator, as real upstreams
would be elsewhere) receives 50 requests/s for 20 s, mixed:
signed Slack Events API deliveries of alert messages in an alert channel, and Alertmanager
webhooks, over many services. Prints the ack latency p50/p99 (target p99 < 100 ms) and the alerts
accepted (2xx) vs stored (rows in ``alerts`` + unreadable messages kept; target: equal).

    python bench/intake.py [--rate 50] [--seconds 20]
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
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.sandbox.server import FakeCloud  # noqa: E402
from bot.sandbox.signer import SlackSigner  # noqa: E402
from tests.support import run_sitrep  # noqa: E402

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


by_kind: dict[str, list[float]] = {}


def p99_of(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def load(url: str, signer: SlackSigner, *, rate: float, seconds: float) -> tuple[list[float], dict[str, int]]:
    rng = random.Random(11)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    by_kind.clear()
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
    return latencies, statuses


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-worker", action="store_true",
                        help="intake only (by default the in-process worker investigates meanwhile)")
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    fakes = multiprocessing.get_context("spawn").Process(target=fake_cloud_process, args=(theirs,), daemon=True)
    fakes.start()
    cloud_env: dict[str, str] = ours.recv()
    signer = SlackSigner(SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {**cloud_env, "SITREP_WEBHOOK_TOKEN": TOKEN,
               "SITREP_ALERT_CHANNELS": CHANNEL, "LOG_LEVEL": "WARNING",
               **({"PYTHONASYNCIODEBUG": "1"} if os.environ.get("ASYNCIO_DEBUG") else {})}
        _pin(0)  # inherited by the sitrep process started next
        with run_sitrep(env, workdir=workdir, args=("--no-worker",) if args.no_worker else ()) as sitrep:
            _pin(1)
            latencies, statuses = asyncio.run(load(sitrep.url, signer, rate=args.rate, seconds=args.seconds))
            if os.environ.get("ASYNCIO_DEBUG"):
                Path("/tmp/intake-serve.log").write_text(sitrep.logs())
            with sqlite3.connect(workdir / "sitrep.db") as db:
                stored = db.execute("select count(*) from alerts").fetchone()[0]
                kept = db.execute("select count(*) from dead_letters").fetchone()[0]
    ours.send("stop")
    fakes.join(timeout=10)
    accepted = sum(n for key, n in statuses.items() if key.endswith((" 200", " 202")))
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"intake: {len(ordered)} requests at {args.rate:g}/s for {args.seconds:g} s "
          f"(half Slack events, half Alertmanager webhooks), sitrep serve on SQLite"
          f"{' without' if args.no_worker else ' with'} its worker investigating meanwhile"
          f"{'; Sitrep on core 0, fakes and load on core 1' if (os.cpu_count() or 1) >= 2 else ''}")
    print(f"  answers: {dict(sorted(statuses.items()))}")
    print(f"  ack latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 100 ms) "
          f"{'PASS' if p99 < 100 else 'FAIL'}")
    for kind, values in sorted(by_kind.items()):
        print(f"    {'Slack events' if kind == 'slack' else 'webhooks'}: p50 {statistics.median(values):.1f} ms, "
              f"p99 {p99_of(values):.1f} ms")
    print(f"  accepted {accepted}, stored {stored + kept} ({stored} alerts, {kept} kept unreadable) "
          f"{'PASS' if accepted == stored + kept else 'FAIL'}")
    return 0 if p99 < 100 and accepted == stored + kept else 1


if __name__ == "__main__":
    raise SystemExit(main())
