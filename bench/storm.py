"""Alert storm: 1,000 alerts in 60 s from 20 services, caused by 3 root causes.

A real ``sitrep serve`` (SQLite, in-process worker) behind the fake cloud; the three outages are a
database, a cache and an auth service, each taking down the services that call it (Jaeger's
dependency graph says who calls whom). Alertmanager-style webhooks arrive with re-sends, several
alert names per service and staggered onsets.

The ground truth is written out below (``TRUTH``: each root and the services whose alerts it causes).
Gates, exit 1 on a miss:

- alerts lost (accepted but not stored): 0;
- root incidents: the incidents left for the on-call are exactly one per true root, each
  investigating that root and holding exactly that root's alerts (no more, no fewer).

The same scorer rates two correlators that do nothing, from the same stored alerts, printed beside
the figure: one incident per alert (deduplicated, never grouped) and everything in one incident;
both must be rejected, or the gate itself is broken (exit 1 as well). Alert-pair precision and
recall (two alerts of one incident that share a root / two alerts of one root that share an
incident) say how far each is from the truth.

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
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

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

#: the ground truth: each root cause and every service whose alerts it causes (itself included). An
#: on-call should see exactly these incidents, each investigating its root.
TRUTH: dict[str, frozenset[str]] = {
    "orders-db": frozenset({"orders-db", "orders", "payments", "inventory", "shipping", "checkout", "frontend"}),
    "redis-cache": frozenset({"redis-cache", "basket", "session", "catalog", "search", "recommendations",
                              "favorites"}),
    "auth": frozenset({"auth", "login", "accounts", "profile", "billing", "notifications"}),
}
#: which root each alerting service's alerts belong to
ROOT_OF: dict[str, str] = {service: root for root, services in TRUTH.items() for service in services}
assert len(ROOT_OF) == sum(len(s) for s in TRUTH.values()), "a service in two outages"
assert {root: frozenset({root, *(c for c, _ in edges)}) for root, edges in OUTAGES} == TRUTH, "TRUTH ≠ OUTAGES"


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class StormIncident:
    """An incident as the on-call sees it: the service it investigates and its alerts' services."""

    investigates: str
    alerts: tuple[str, ...]  # the service of each alert in it (re-sends included)


@dataclass(frozen=True, slots=True)
class StormScore:
    incidents: int
    exact: tuple[str, ...]  # roots with exactly one incident, investigating the root, holding exactly its alerts
    roots: int
    precision: float  # of alert pairs in one incident, the share with one root
    recall: float  # of alert pairs with one root, the share in one incident
    stray: int  # alerts of services outside the truth, or not in any incident left

    @property
    def passed(self) -> bool:
        return self.incidents == self.roots == len(self.exact) and self.stray == 0

    def figure(self) -> str:
        return (f"{self.incidents} left, {len(self.exact)}/{self.roots} exact, alert pairs precision "
                f"{self.precision:.1%} recall {self.recall:.1%}")


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score_storm(incidents: Sequence[StormIncident], *, truth: Mapping[str, frozenset[str]] = TRUTH,
                unplaced: int = 0) -> StormScore:
    """``incidents``: those left open for the on-call; ``unplaced``: stored alerts in none of them."""
    root_of = {service: root for root, services in truth.items() for service in services}
    stray = unplaced + sum(1 for i in incidents for s in i.alerts if s not in root_of)
    exact = []
    for root, services in truth.items():
        for_root = [i for i in incidents if i.investigates == root]
        if len(for_root) == 1 and set(for_root[0].alerts) == services and \
                not any(set(i.alerts) & services for i in incidents if i is not for_root[0]):
            exact.append(root)
    together = sum(_pairs(n) for i in incidents
                   for n in Counter(root_of.get(s, f"?{s}") for s in i.alerts).values())
    in_incident = sum(_pairs(len(i.alerts)) for i in incidents)
    per_root = Counter(root_of[s] for i in incidents for s in i.alerts if s in root_of)
    same_root = sum(_pairs(n) for n in per_root.values())
    return StormScore(incidents=len(incidents), exact=tuple(exact), roots=len(truth),
                      precision=together / in_incident if in_incident else 1.0,
                      recall=together / same_root if same_root else 1.0, stray=stray)


def one_per_alert(alerts: Sequence[tuple[str, str]]) -> list[StormIncident]:
    """A correlator that deduplicates and never groups: one incident per (service, alert name)."""
    by_identity: dict[tuple[str, str], list[str]] = {}
    for service, name in alerts:
        by_identity.setdefault((service, name), []).append(service)
    return [StormIncident(service, tuple(members)) for (service, _), members in by_identity.items()]


def all_in_one(alerts: Sequence[tuple[str, str]]) -> list[StormIncident]:
    """A correlator that groups everything: one incident, investigating the first alert's service."""
    return [StormIncident(alerts[0][0], tuple(s for s, _ in alerts))] if alerts else []


# --------------------------------------------------------------------------- the storm


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
    from bot.sandbox.server import FakeCloud
    from tests.support import run_sitrep, wait_for

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
            alerts = rows("select service, name, incident_id from alerts order by id")
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
    remaining = {i: service for i, service in incidents if i not in merged}
    left = [StormIncident(service, tuple(s for s, _, at in alerts if at == i)) for i, service in remaining.items()]
    result = score_storm(left, unplaced=sum(1 for *_, at in alerts if at not in remaining))
    identities = [(s, name) for s, name, _ in alerts]
    baselines = {"one incident per alert": score_storm(one_per_alert(identities)),
                 "everything in one incident": score_storm(all_in_one(identities))}
    print(f"  incidents opened: {len(incidents)}, of which {len(merged)} merged into another when their "
          f"common cause alerted")
    print("  ground truth: " + "; ".join(f"{root} causes the alerts of {len(services)} services"
                                         for root, services in TRUTH.items()))
    print(f"  root incidents: {result.figure()} (target exactly {len(TRUTH)}, each investigating its root "
          f"with exactly its alerts) {'PASS' if result.passed else 'FAIL'}")
    for (incident_id, service), incident in zip(remaining.items(), left, strict=True):
        members = sorted(set(incident.alerts))
        verdict = "exact" if service in result.exact else \
            f"expected {', '.join(sorted(TRUTH.get(service, frozenset()))) or 'no incident'}"
        print(f"    incident {incident_id}: investigating {service}; {len(incident.alerts)} alerts from "
              f"{', '.join(members)} — {verdict}")
    for name, baseline in baselines.items():
        print(f"  baseline, {name}: {baseline.figure()} — "
              f"{'rejected' if not baseline.passed else 'ACCEPTED: the gate is broken'}")
    rejected = not any(b.passed for b in baselines.values())
    print(f"  baselines rejected by the same gate: {sum(not b.passed for b in baselines.values())}/{len(baselines)} "
          f"{'PASS' if rejected else 'FAIL'}")
    print(f"  investigations run: {investigations} (call graph: {edges} edges from Jaeger)")
    return 0 if accepted == stored == len(plan) and result.passed and rejected else 1


if __name__ == "__main__":
    raise SystemExit(main())
