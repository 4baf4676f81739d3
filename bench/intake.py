"""Intake under load: ack latency and nothing lost.

A real ``sitrep serve`` on SQLite (fake cloud behind it) receives 50 requests/s for 20 s, mixed:
signed Slack Events API deliveries of alert messages in an alert channel, and Alertmanager
webhooks, over many services. Prints the ack latency p50/p99 (target p99 < 100 ms) and the alerts
accepted (2xx) vs stored (rows in ``alerts`` + unreadable messages kept; target: equal).

    python bench/intake.py [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.sandbox.server import FakeCloud  # noqa: E402
from tests.support import run_sitrep  # noqa: E402

TOKEN = "intake-webhook-token"
SECRET = "intake-signing-secret-0123456789"
CHANNEL = "C0ALERTS"
SERVICES = [f"svc-{n:02d}" for n in range(40)]
NAMES = ["HighErrorRate", "HighLatencyP99", "PodRestarting", "DiskFilling"]


def slack_request(cloud: FakeCloud, rng: random.Random, n: int) -> tuple[str, bytes, dict[str, str]]:
    signer = cloud.signer(SECRET)
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


async def load(url: str, cloud: FakeCloud, *, rate: float, seconds: float) -> tuple[list[float], dict[str, int]]:
    rng = random.Random(11)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=64)) as client:
        async def one(n: int) -> None:
            await asyncio.sleep(max(0.0, n / rate - (time.monotonic() - started)))
            path, body, headers = slack_request(cloud, rng, n) if n % 2 else webhook_request(rng)
            sent = time.perf_counter()
            try:
                response = await client.post(path, content=body, headers=headers)
                key = f"{path.split('/')[1]} {response.status_code}"
            except httpx.HTTPError as exc:
                key = f"{path.split('/')[1]} {type(exc).__name__}"
            latencies.append((time.perf_counter() - sent) * 1000)
            statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one(n) for n in range(int(rate * seconds))))
    return latencies, statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--no-worker", action="store_true",
                        help="intake only (by default the in-process worker investigates meanwhile)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeCloud() as cloud:
        workdir = Path(tmp)
        env = {**cloud.env(SLACK_SIGNING_SECRET=SECRET), "SITREP_WEBHOOK_TOKEN": TOKEN,
               "SITREP_ALERT_CHANNELS": CHANNEL, "LOG_LEVEL": "WARNING"}
        with run_sitrep(env, workdir=workdir, args=("--no-worker",) if args.no_worker else ()) as sitrep:
            latencies, statuses = asyncio.run(load(sitrep.url, cloud, rate=args.rate, seconds=args.seconds))
            with sqlite3.connect(workdir / "sitrep.db") as db:
                stored = db.execute("select count(*) from alerts").fetchone()[0]
                kept = db.execute("select count(*) from dead_letters").fetchone()[0]
    accepted = sum(n for key, n in statuses.items() if key.endswith((" 200", " 202")))
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"intake: {len(ordered)} requests at {args.rate:g}/s for {args.seconds:g} s "
          f"(half Slack events, half Alertmanager webhooks), sitrep serve on SQLite"
          f"{' without' if args.no_worker else ' with'} its worker")
    print(f"  answers: {dict(sorted(statuses.items()))}")
    print(f"  ack latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (target p99 < 100 ms) "
          f"{'PASS' if p99 < 100 else 'FAIL'}")
    print(f"  accepted {accepted}, stored {stored + kept} ({stored} alerts, {kept} kept unreadable) "
          f"{'PASS' if accepted == stored + kept else 'FAIL'}")
    return 0 if p99 < 100 and accepted == stored + kept else 1


if __name__ == "__main__":
    raise SystemExit(main())
