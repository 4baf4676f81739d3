"""Alert storm: 1,000 alerts in 60 s from 20 services, caused by 3 root causes.

A real ``sitrep serve`` (SQLite, in-process worker) behind the fake cloud; the three outages are a
database, a cache and an auth service, each taking down the services that call it (Jaeger's
dependency graph says who calls whom). Alertmanager-style webhooks arrive with re-sends, several
alert names per service and staggered onsets. Prints incidents opened (target ≤ 5), investigations
run, and alerts lost (accepted but not stored; target 0).

    python bench/storm.py [--alerts 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.sandbox.server import FakeCloud  # noqa: E402
from tests.support import run_sitrep, wait_for  # noqa: E402

TOKEN = "storm-webhook-token"
#: three outages: (root, [(caller, callee), ...])
OUTAGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("orders-db", [("orders", "orders-db"), ("payments", "orders-db"), ("inventory", "orders-db"),
                   ("shipping", "orders"), ("checkout", "payments"), ("frontend", "checkout")]),
    ("redis-cache", [("basket", "redis-cache"), ("session", "redis-cache"), ("catalog", "redis-cache"),
                     ("search", "catalog"), ("recommendations", "catalog"), ("favorites", "basket")]),
    ("auth", [("login", "auth"), ("accounts", "auth"), ("profile", "accounts"), ("billing", "accounts"),
              ("notifications", "profile")]),
]
ALERT_NAMES = ["HighErrorRate", "HighLatencyP99", "PodRestarting"]


def schedule(total: int, seconds: float, *, seed: int = 7) -> list[tuple[float, str, str, datetime]]:
    """(send at, service, alert name, startsAt): each outage starts a few seconds after the last;
    callers alert a little after their dependency, roots sometimes last; then re-sends."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    firing: list[tuple[float, str, str, datetime]] = []
    for index, (root, edges) in enumerate(OUTAGES):
        start = index * seconds / 8
        services = [root, *dict.fromkeys(caller for caller, _ in edges)]
        for position, service in enumerate(services):
            onset = start + rng.uniform(0, 4) + (0 if position else rng.choice([0, 3]))
            for name in rng.sample(ALERT_NAMES, k=rng.randint(1, 3)):
                firing.append((onset + rng.uniform(0, 2), service, name, now + timedelta(seconds=onset)))
    sends = list(firing)
    while len(sends) < total:  # Alertmanager re-sending what still fires
        at, service, name, starts = rng.choice(firing)
        sends.append((rng.uniform(at, seconds), service, name, starts))
    return sorted(sends[:total])


def webhook_body(service: str, name: str, starts_at: datetime) -> bytes:
    labels = {"alertname": name, "service": service, "namespace": "shop", "severity": "critical",
              "cluster": "prod-eu1"}
    return json.dumps({
        "version": "4", "status": "firing", "receiver": "sitrep", "groupKey": f"{{}}:{{alertname=\"{name}\"}}",
        "groupLabels": {"alertname": name}, "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"{name} on {service}"},
                    "startsAt": starts_at.isoformat(), "endsAt": "0001-01-01T00:00:00Z",
                    "fingerprint": f"{abs(hash((service, name))):016x}"[:16]}],
    }).encode()


async def fire(url: str, plan: list[tuple[float, str, str, datetime]]) -> dict[str, int]:
    statuses: dict[str, int] = {}
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
        async def one(at: float, service: str, name: str, starts: datetime) -> None:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
            try:
                response = await client.post(f"{url}/alerts/alertmanager", content=webhook_body(service, name, starts),
                                             headers={"Authorization": f"Bearer {TOKEN}",
                                                      "Content-Type": "application/json"})
                key = str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one(*item) for item in plan))
    return statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    services = {s for root, edges in OUTAGES for edge in edges for s in edge} | {r for r, _ in OUTAGES}
    plan = schedule(args.alerts, args.seconds)
    with tempfile.TemporaryDirectory() as tmp, FakeCloud() as cloud:
        workdir = Path(tmp)
        cloud.jaeger_dependencies([edge for _, edges in OUTAGES for edge in edges])
        env = {**cloud.env(), "SITREP_WEBHOOK_TOKEN": TOKEN, "SITREP_ALERT_CHANNELS": "C0ALERTS",
               "LOG_LEVEL": "WARNING"}
        with run_sitrep(env, workdir=workdir) as sitrep:
            wait_for(lambda: cloud.upstream_calls("jaeger"), timeout=15, what="the call graph from Jaeger")
            started = time.monotonic()
            statuses = asyncio.run(fire(sitrep.url, plan))
            sent_for = time.monotonic() - started

            def rows(query: str) -> list[tuple[Any, ...]]:
                with sqlite3.connect(workdir / "sitrep.db") as db:
                    return db.execute(query).fetchall()

            wait_for(lambda: rows("select count(*) from jobs where kind='investigate' and state in "
                                  "('queued','running')") == [(0,)], timeout=120, what="investigations to finish")
            incidents = rows("select id, service from incidents order by id")
            merged = {i for (i,) in rows("select incident_id from timeline_events where type='INCIDENT_MERGED' "
                                         "and data like '%\"into\"%'")}
            members = {i: sorted({s for (s,) in rows(f"select distinct service from alerts where incident_id={i}")})
                       for i, _ in incidents}
            edges = rows("select count(*) from service_edges")[0][0]
            outcomes = dict(rows("select outcome, count(*) from alerts group by outcome"))
            stored = rows("select count(*) from alerts")[0][0]
            investigations = rows("select count(*) from jobs where kind='investigate' and state='done'")[0][0]
    accepted = statuses.get("202", 0)
    print(f"storm: {len(plan)} alerts from {len(services)} services, 3 root causes, sent in {sent_for:.1f} s")
    print(f"  HTTP answers: {statuses}")
    print(f"  alerts accepted {accepted}, stored {stored}: lost {accepted - stored} (target 0) "
          f"{'PASS' if accepted == stored == len(plan) else 'FAIL'}")
    print(f"  outcomes: {outcomes}")
    remaining = [(i, service) for i, service in incidents if i not in merged]
    print(f"  incidents opened: {len(incidents)}, of which {len(merged)} merged into another when their "
          f"common cause alerted")
    print(f"  incidents left for the on-call: {len(remaining)} (target ≤ 5) "
          f"{'PASS' if len(remaining) <= 5 else 'FAIL'}")
    for incident_id, service in remaining:
        print(f"    incident {incident_id}: investigating {service}; alerting {', '.join(members[incident_id])}")
    print(f"  investigations run: {investigations} (call graph: {edges} edges from Jaeger)")
    return 0 if accepted == stored == len(plan) and len(remaining) <= 5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
