"""A seeded incident generator: one seed → one scenario, the same on every machine.

A scenario is raw upstream data (log records in the service's own format, metric curves, ArgoCD
applications with their history and manifests, traces, Kubernetes events, blackbox probes, node
filesystems) plus its truth: the root-cause service, the acceptable categories, the acceptable first
actions, the forbidden actions and the decisive clue strings that must reach the model. ``upstreams``
(``GeneratedUpstreams``) serves it to the real collectors as Loki, Prometheus, ArgoCD, Jaeger and the
Kubernetes API answer.

    scenario = generate(4711)                  # the class is CLASSES[seed % len(CLASSES)]
    scenario.truth.service, scenario.settings  # what Sitrep should find; how the operator configured it

Classes: bad_deploy, config_deploy, dependency_deploy, dependency_outage (disk full, database down),
expired_cert, traffic_surge, memory_leak, false_alarm, alert_storm. Each varies service names, the
label scheme (``service``, ``app``, ``app_kubernetes_io_name``, ``container`` with the matching
``SITREP_SERVICE_LABEL`` / ``SITREP_LOKI_SELECTOR``), log formats (JSON, logfmt, Spring Boot/Logback
with Java stacks, Python logging with tracebacks one Loki entry per line, klog, zap console, nginx),
ArgoCD shapes (tag-pinned, branch-tracking, Helm chart, multi-source), timings and red herrings (an
unrelated older deploy, a noisy warning, a rolling-deploy memory doubling, another service's errors).

Clue strings are substrings of the raw upstream data (a log message, an exception's text, a ConfigMap
key, an event message); a clue may list alternatives (any one found counts). Times are minutes
relative to "now" (negative = in the past).

Seeds: ``seeds.json`` holds the development seeds and the held-out seeds (never tuned on).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

SEEDS_FILE = Path(__file__).resolve().parent / "seeds.json"

CLASSES: tuple[str, ...] = (
    "bad_deploy", "config_deploy", "dependency_deploy", "dependency_outage", "expired_cert",
    "traffic_surge", "memory_leak", "false_alarm", "alert_storm",
)
CATEGORIES = ("deploy_regression", "latency", "errors", "connectivity", "resource_exhaustion", "dependency",
              "config", "unknown")
EXECUTABLE = ("rollback", "restart", "scale", "sync", "runbook")
#: policies/default.yml: a scale is at most 20 replicas and at most twice what runs now
POLICY_MAX_REPLICAS = 20
POLICY_MAX_SCALE_FACTOR = 2

# --------------------------------------------------------------------------- vocabulary

DOMAINS = (
    "billing", "ledger", "invoices", "orders", "checkout", "basket", "catalog", "search", "inventory", "shipping",
    "payments", "accounts", "identity", "profile", "notifications", "mailer", "media", "thumbnailer", "pricing",
    "quotes", "fraud", "risk", "geo", "routing", "booking", "tickets", "loyalty", "rewards", "reviews", "ratings",
    "recommender", "feed", "timeline", "chat", "presence", "uploads", "reports", "analytics", "exports", "imports",
    "webhooks", "scheduler", "dispatch", "fleet", "telemetry", "claims", "underwriting", "kyc", "onboarding",
    "subscriptions", "coupons", "wallet", "transfers", "fx", "settlement", "payouts", "tax", "listings", "offers",
)
SUFFIXES = ("", "", "-api", "-svc", "-service", "-worker", "-backend", "-core", "-server")
NAMESPACES = ("shop", "billing", "payments", "core", "platform", "web", "media", "risk", "logistics", "apps",
              "prod", "commerce", "travel", "fintech")
PARTNER_HOSTS = ("api.partner-bank.com", "sso.idp-vendor.net", "geo.mapsvc.io", "api.smsgate.eu",
                 "tax.rates-provider.com", "fx.quotes-feed.net", "auth.payfac.example.org", "hooks.crm-cloud.io",
                 "edge.cdn-origin.net", "kyc.verify-partner.com")
FIRST = ("Priya", "Sam", "Alex", "Mina", "Jon", "Lea", "Omar", "Ines", "Kenji", "Ada", "Noor", "Tomas")
LAST = ("Raman", "Ortiz", "Kim", "Haddad", "Berg", "Rossi", "Nowak", "Silva", "Mori", "Okafor", "Weber")

#: label schemes: (Prometheus label, Loki label, selector template). ``{ns}`` is the namespace.
LABEL_SCHEMES: dict[str, tuple[str, str, str]] = {
    "service": ("service", "service", '{service="{service}"}'),
    "app": ("app", "app", '{app="{service}"}'),
    "k8s": ("app_kubernetes_io_name", "app_kubernetes_io_name",
            '{app_kubernetes_io_name="{service}", namespace="{ns}"}'),
    "container": ("container", "container", '{namespace="{ns}", container="{service}"}'),
}
#: log formats by runtime
RUNTIME_FORMATS: dict[str, tuple[str, ...]] = {
    "java": ("logback",),
    "python": ("python",),
    "go": ("json", "logfmt", "zap", "klog"),
    "node": ("json",),
}


# --------------------------------------------------------------------------- data model


@dataclass
class Curve:
    """A value over time (minutes relative to now): ``base`` before ``onset``, ``peak`` after.

    kind: ``step`` (base → peak at onset), ``ramp`` (base at ``start`` rising linearly to peak at
    onset, peak after), ``spike`` (peak between onset and ``end``, base otherwise), ``flat``.
    ``bump_at``/``bump_len``/``bump_factor``: a transient multiplier (a rolling update's doubling)."""

    base: float
    peak: float | None = None
    onset: float = 0.0
    kind: str = "flat"
    start: float | None = None
    end: float | None = None
    noise: float = 0.03
    bump_at: float | None = None
    bump_len: float = 2.0
    bump_factor: float = 1.0

    def value(self, minute: float, *, bump: bool = True) -> float:
        """The value at ``minute``; ``bump=False``: without the transient multiplier (what one pod
        sees during a rolling update, where the sum over pods doubles)."""
        peak = self.base if self.peak is None else self.peak
        if self.kind == "step":
            value = peak if minute >= self.onset else self.base
        elif self.kind == "ramp":
            start = self.start if self.start is not None else self.onset - 30
            if minute <= start:
                value = self.base
            elif minute >= self.onset:
                value = peak
            else:
                value = self.base + (peak - self.base) * (minute - start) / max(self.onset - start, 1e-6)
        elif self.kind == "spike":
            end = self.end if self.end is not None else self.onset + 2
            value = peak if self.onset <= minute < end else self.base
        else:
            value = self.base
        if bump and self.bump_at is not None and self.bump_at <= minute < self.bump_at + self.bump_len:
            value *= self.bump_factor
        return value * (1 + self.noise * math.sin(minute * 1.7 + self.base))


@dataclass
class LogRecord:
    """One event a service logs; ``exc`` lines follow the headline as separate Loki entries (Java
    stacks, Python tracebacks) or inside the one line (JSON/logfmt ``stack``/``err``)."""

    at: float  # minutes
    level: str  # debug, info, warn, error, fatal
    message: str
    logger: str = "app"
    fields: dict[str, str] = field(default_factory=dict)
    exc: list[str] = field(default_factory=list)
    http: dict[str, Any] | None = None  # nginx access: method, path, status, upstream


@dataclass
class ServiceSpec:
    name: str
    runtime: str  # java, python, go, node, nginx
    log_format: str  # json, logfmt, logback, python, klog, zap, nginx
    pods: list[str]
    kind: str = "service"  # service, database, gateway
    logs: list[LogRecord] = field(default_factory=list)
    #: signal → curve: rps, err, p99, cpu, cpu_limit, throttle, mem, mem_limit, restarts, replicas
    signals: dict[str, Curve] = field(default_factory=dict)
    oomkilled_since: float | None = None  # minutes: last_terminated_reason OOMKilled from then on
    hpa: tuple[int, int] | None = None  # (min, max)
    node: str = ""
    port: int = 8080


@dataclass
class Revision:
    """One ArgoCD history entry and what it renders."""

    id: int
    at: float  # minutes
    sha: str  # git sha (branch/tag source, or the values repo of a multi-source app); "" for Helm
    chart_version: str = ""  # Helm and multi-source
    tag: str = ""  # a git tag (tag-pinned source), also in the revision metadata
    image_tag: str = ""
    config: dict[str, str] = field(default_factory=dict)
    author: str = ""
    message: str = ""
    automated: bool = True

    def identities(self, shape: str) -> list[str]:
        """What names this entry as a rollback target: its git sha, or its chart version (Helm), or any
        revision of a multi-source entry."""
        if shape == "helm":
            return [self.chart_version]
        if shape == "multi":
            return [self.chart_version, self.sha]
        return [self.sha]


@dataclass
class AppSpec:
    name: str
    service: str
    namespace: str
    shape: str  # tag, branch, helm, multi
    history: list[Revision]
    health: str = "Healthy"
    auto_sync: bool = True
    image_repo: str = ""
    hpa: tuple[int, int] = (2, 6)
    memory_limit: str = "512Mi"


@dataclass
class TraceSpec:
    at: float  # minutes of the first copy
    count: int
    spans: list[dict[str, Any]]  # service, op, ms, error, status, parent, kind, tags


@dataclass
class EventSpec:
    """A Kubernetes Event: ``shape`` "core" (kubelet: count/firstTimestamp) or "events.k8s.io"
    (scheduler: eventTime/series)."""

    namespace: str
    kind: str  # Pod, Node, HorizontalPodAutoscaler, Deployment
    name: str
    reason: str
    message: str
    type: str
    first: float
    last: float
    count: int
    component: str
    host: str = ""
    shape: str = "core"
    field_path: str = ""


@dataclass
class ProbeSpec:
    instance: str
    module: str
    success: Curve
    ssl_expiry_min: float | None = None  # minutes relative to now of the cert's notAfter (TLS probes)


@dataclass
class NodeSpec:
    name: str
    mountpoint: str
    device: str
    size: float
    avail: Curve


@dataclass
class Expected:
    """An action the truth accepts or forbids. ``kind`` "none" (accepted only) = no action at all.
    ``service`` None = any service; ``revisions``/``history_id`` (rollback) and ``replicas`` (scale)
    narrow it when set."""

    kind: str
    service: str | None = None
    revisions: list[str] = field(default_factory=list)
    history_id: int | None = None
    replicas: tuple[int, int] | None = None
    why: str = ""


@dataclass
class Clue:
    name: str
    any_of: list[str]


@dataclass
class Truth:
    service: str
    categories: list[str]  # acceptable; the first is the best
    first_actions: list[Expected]
    forbidden: list[Expected]
    clues: list[Clue]


@dataclass
class Scenario:
    seed: int
    cls: str
    variant: str
    name: str
    story: str
    namespace: str
    alert_service: str
    alert: str
    onset: float
    label_scheme: str
    loki3: bool
    loki_tenant: str | None
    services: dict[str, ServiceSpec]
    apps: dict[str, AppSpec]
    traces: list[TraceSpec]
    events: list[EventSpec]
    probes: list[ProbeSpec]
    nodes: list[NodeSpec]
    red_herrings: list[str]
    truth: Truth

    # ------------------------------------------------------------------ configuration

    @property
    def prom_label(self) -> str:
        return LABEL_SCHEMES[self.label_scheme][0]

    @property
    def loki_label(self) -> str:
        return LABEL_SCHEMES[self.label_scheme][1]

    @property
    def settings(self) -> dict[str, Any]:
        """What the operator of this cluster sets (``Settings`` field names)."""
        selector = LABEL_SCHEMES[self.label_scheme][2].replace("{ns}", self.namespace)
        values: dict[str, Any] = {"sitrep_service_label": self.prom_label, "sitrep_loki_selector": selector}
        if self.loki_tenant:
            values["loki_tenant"] = self.loki_tenant
        return values

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)


# --------------------------------------------------------------------------- seeds


def seeds(split: str) -> list[int]:
    """The seeds of ``split`` ("dev" or "heldout"), class by class."""
    data = json.loads(SEEDS_FILE.read_text())
    return [seed for cls in CLASSES for seed in data[split][cls]]


def make_seeds(*, per_class: int = 10) -> dict[str, dict[str, list[int]]]:
    """How ``seeds.json`` was made: dev seeds count up from 0; held-out seeds are drawn at random from
    a range the dev seeds never reach."""
    dev: dict[str, list[int]] = {cls: [] for cls in CLASSES}
    for seed in range(per_class * len(CLASSES)):
        dev[CLASSES[seed % len(CLASSES)]].append(seed)
    rng = random.Random("sitrep issue 16 held-out")
    held: dict[str, list[int]] = {cls: [] for cls in CLASSES}
    while any(len(v) < per_class for v in held.values()):
        seed = rng.randrange(1_000_000, 10_000_000)
        cls = CLASSES[seed % len(CLASSES)]
        if len(held[cls]) < per_class and seed not in held[cls]:
            held[cls].append(seed)
    return {"dev": dev, "heldout": held}


# --------------------------------------------------------------------------- the generator


def generate(seed: int) -> Scenario:
    """The scenario of ``seed`` (its class is ``CLASSES[seed % len(CLASSES)]``)."""
    return _Builder(seed).build()


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(str(p) for p in parts).encode()).hexdigest()


class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.cls = CLASSES[seed % len(CLASSES)]
        self.rng = random.Random(f"sitrep-eval-{seed}")
        self.used: set[str] = set()
        self.ns = self.rng.choice(NAMESPACES)
        self.scheme = self.rng.choice(tuple(LABEL_SCHEMES))
        self.loki3 = self.rng.random() < 0.5
        self.tenant = self.rng.choice((None, None, None, "tenant-" + self.ns))
        self.services: dict[str, ServiceSpec] = {}
        self.apps: dict[str, AppSpec] = {}
        self.traces: list[TraceSpec] = []
        self.events: list[EventSpec] = []
        self.probes: list[ProbeSpec] = []
        self.nodes: list[NodeSpec] = []
        self.herrings: list[str] = []
        self.onset = -float(self.rng.randint(2, 12))

    # ------------------------------------------------------------------ names and services

    def name(self, *, suffixes: tuple[str, ...] = SUFFIXES) -> str:
        while True:
            name = self.rng.choice(DOMAINS) + self.rng.choice(suffixes)
            if name not in self.used and not any(name.startswith(u) or u.startswith(name) for u in self.used):
                self.used.add(name)
                return name

    def service(self, name: str, *, runtime: str | None = None, kind: str = "service",
                rps: float | None = None) -> ServiceSpec:
        rng = self.rng
        runtime = runtime or rng.choice(("java", "python", "go", "go", "node"))
        log_format = "nginx" if runtime == "nginx" else "postgres" if runtime == "postgres" else \
            rng.choice(RUNTIME_FORMATS[runtime])
        replicas = rng.randint(2, 4)
        rs = _sha(self.seed, name, "rs")[:9]
        pods = [f"{name}-{rs}-{_sha(self.seed, name, i)[:5]}" for i in range(replicas)]
        if kind == "database":
            pods = [f"{name}-0"]
        rps = rps if rps is not None else float(rng.choice((12, 25, 40, 60, 90, 150, 240)))
        mem_limit = float(rng.choice((512, 768, 1024, 2048))) * 2**20
        spec = ServiceSpec(name=name, runtime=runtime, log_format=log_format, pods=pods, kind=kind,
                           node=f"ip-10-{rng.randint(10, 40)}-{rng.randint(0, 9)}-{rng.randint(10, 250)}"
                                f".eu-west-1.compute.internal",
                           port=5432 if runtime == "postgres" else rng.choice((8080, 8000, 3000, 9000)))
        p99 = rng.choice((0.08, 0.12, 0.2, 0.3, 0.45))
        spec.signals = {
            "rps": Curve(rps), "err": Curve(rng.choice((0.0005, 0.001, 0.002, 0.004))), "p99": Curve(p99),
            "cpu": Curve(0.25 * len(pods) * rng.uniform(0.6, 1.4)), "cpu_limit": Curve(1.0),
            "throttle": Curve(rng.uniform(0.0, 0.04), noise=0.0),
            "mem": Curve(mem_limit * rng.uniform(0.35, 0.55)), "mem_limit": Curve(mem_limit, noise=0.0),
            "restarts": Curve(0.0, noise=0.0), "replicas": Curve(float(len(pods)), noise=0.0),
        }
        self.services[name] = spec
        return spec

    def app(self, svc: ServiceSpec, *, culprit_at: float | None, config_only: bool = False,
            shape: str | None = None, old_at: float | None = None) -> AppSpec:
        """An ArgoCD app whose history ends with a deploy at ``culprit_at`` (None: the newest deploy
        is days old). ``old_at``: a harmless deploy (image patch bump) at that time, newest unless
        ``culprit_at`` is later."""
        rng = self.rng
        shape = shape or rng.choice(("tag", "branch", "helm", "multi"))
        first_id = rng.randint(3, 60)
        major, minor, patch = rng.randint(1, 4), rng.randint(0, 30), rng.randint(0, 9)
        chart = [rng.randint(0, 3), rng.randint(1, 20), rng.randint(0, 5)]
        config = _base_config(rng, svc)
        times = sorted(-float(rng.randint(2, 9) * 24 * 60 + rng.randint(0, 600)) for _ in range(rng.randint(2, 3)))
        plans: list[tuple[float, str]] = [(t, "image") for t in times]
        if old_at is not None:
            plans.append((old_at, "image"))
        if culprit_at is not None:
            plans.append((culprit_at, "config" if config_only else "image"))
        plans.sort()
        history: list[Revision] = []
        image_tag = f"{major}.{minor}.{patch}"
        for i, (at, what) in enumerate(plans):
            if i:
                if what == "image":
                    patch += 1
                    image_tag = f"{major}.{minor}.{patch}"
                    chart[2] += 1
                elif shape != "multi":  # a config-only change of a Helm chart bumps the chart too
                    chart[2] += 1
            user = rng.choice(FIRST), rng.choice(LAST)
            rev = Revision(
                id=first_id + i, at=at, sha=_sha(self.seed, svc.name, i, "commit"),
                chart_version=".".join(map(str, chart)) if shape in ("helm", "multi") else "",
                tag=f"v{image_tag}" if shape == "tag" and what == "image" else "",
                image_tag=image_tag, config=dict(config),
                author=f"{user[0]} {user[1]} <{user[0].lower()}.{user[1].lower()}@example.com>",
                message=f"{svc.name}: release {image_tag}" if what == "image" else f"{svc.name}: tune configuration",
                automated=shape in ("branch", "multi") or rng.random() < 0.5,
            )
            if shape == "tag" and what == "config":
                rev.tag = f"v{image_tag}-cfg{i}"
            if shape == "helm":
                rev.sha = ""
            history.append(rev)
        app = AppSpec(name=svc.name, service=svc.name, namespace=self.ns, shape=shape, history=history,
                      image_repo=f"registry.example.com/{self.ns}/{svc.name}",
                      hpa=svc.hpa or (max(1, len(svc.pods) - 1), len(svc.pods) * 2),
                      memory_limit=f"{int(svc.signals['mem_limit'].base / 2**20)}Mi")
        self.apps[svc.name] = app
        return app

    # ------------------------------------------------------------------ logs

    def traffic(self, svc: ServiceSpec, *, every: float = 0.25, since: float = -35.0,
                until: float = 0.0) -> None:
        """Routine info lines (requests served, a periodic job) from ``since`` to ``until``."""
        rng = self.rng
        paths = [f"/api/v1/{self.rng.choice(DOMAINS)}", f"/api/v1/{svc.name.split('-')[0]}/{{id}}", "/healthz"]
        t = since
        while t < until:
            path = rng.choice(paths).replace("{id}", str(rng.randint(1000, 99999)))
            ms = rng.randint(3, 180)
            if svc.runtime == "nginx":
                svc.logs.append(LogRecord(t, "info", "", http={"method": rng.choice(("GET", "POST")), "path": path,
                                                               "status": 200, "ms": ms, "upstream": ""}))
            elif svc.runtime == "postgres":
                svc.logs.append(LogRecord(t, "info", f"checkpoint complete: wrote {rng.randint(20, 900)} buffers "
                                                     f"({rng.uniform(0.1, 3):.1f}%); 0 WAL file(s) added"))
                t += 4.0
            else:
                svc.logs.append(LogRecord(t, "info", f"{rng.choice(('GET', 'POST'))} {path} 200 in {ms}ms",
                                          logger="http", fields={"request_id": _sha(svc.name, t)[:16]}))
            t += every * rng.uniform(0.6, 1.4)

    def repeat(self, svc: ServiceSpec, record: LogRecord, *, start: float, end: float = 0.0,
               every: float = 0.1) -> None:
        t = start
        while t < end:
            svc.logs.append(LogRecord(t, record.level, record.message, record.logger,
                                      {**record.fields, "request_id": _sha(svc.name, t, "r")[:16]}
                                      if svc.runtime not in ("postgres", "nginx") else dict(record.fields),
                                      list(record.exc), dict(record.http) if record.http else None))
            t += every * self.rng.uniform(0.7, 1.3)

    def startup(self, svc: ServiceSpec, *, at: float, version: str, config: dict[str, str]) -> None:
        """What a service prints when its new pods start: version and configuration (change lines)."""
        shown = ", ".join(f"{k}={v}" for k, v in sorted(config.items())[:6])
        for i, pod in enumerate(svc.pods):
            t = at - 1.0 + i * 0.2
            svc.logs.append(LogRecord(t, "info", f"starting {svc.name} version {version} on {pod}", logger="main"))
            svc.logs.append(LogRecord(t + 0.02, "info", f"configuration loaded: {shown}", logger="config"))

    # ------------------------------------------------------------------ signals

    def degrade(self, svc: ServiceSpec, *, onset: float, err: float | None = None, p99: float | None = None,
                rps: float | None = None) -> None:
        if err is not None:
            svc.signals["err"] = Curve(svc.signals["err"].base, err, onset, "step")
        if p99 is not None:
            svc.signals["p99"] = Curve(svc.signals["p99"].base, p99, onset, "step")
        if rps is not None:
            svc.signals["rps"] = Curve(svc.signals["rps"].base, rps, onset, "step")

    def rolling_bump(self, svc: ServiceSpec, at: float) -> None:
        """A rolling update with maxSurge 100 %: old and new pods both counted for about 2 min."""
        mem = svc.signals["mem"]
        mem.bump_at, mem.bump_len, mem.bump_factor = at, 2.0, 2.0
        cpu = svc.signals["cpu"]
        cpu.bump_at, cpu.bump_len, cpu.bump_factor = at, 2.0, 1.8

    def trace(self, at: float, count: int, *spans: dict[str, Any]) -> None:
        self.traces.append(TraceSpec(at=at, count=count, spans=list(spans)))

    def event(self, svc: ServiceSpec | None, reason: str, message: str, *, type: str = "Warning",
              first: float, last: float | None = None, count: int = 1, kind: str = "Pod",
              name: str | None = None, component: str = "kubelet", namespace: str | None = None,
              shape: str = "core") -> None:
        pod = name or (svc.pods[0] if svc else "")
        self.events.append(EventSpec(
            namespace=namespace or self.ns, kind=kind, name=pod, reason=reason, message=message, type=type,
            first=first, last=last if last is not None else first, count=count, component=component,
            host=svc.node if svc else "", shape=shape,
            field_path=f"spec.containers{{{svc.name}}}" if svc and kind == "Pod" else ""))

    # ------------------------------------------------------------------ build

    def build(self) -> Scenario:
        handler = getattr(self, f"_{self.cls}")
        truth, alert_service, alert, story, variant = handler()
        for svc in self.services.values():
            svc.logs.sort(key=lambda r: r.at)
        for app in self.apps.values():
            svc = self.services[app.service]
            if app.health == "Healthy" and svc.signals["err"].peak and (svc.signals["err"].peak or 0) > 0.05:
                app.health = "Degraded" if self.rng.random() < 0.5 else "Healthy"
        name = f"{self.cls}-{self.seed}"
        return Scenario(
            seed=self.seed, cls=self.cls, variant=variant, name=name, story=story, namespace=self.ns,
            alert_service=alert_service, alert=alert, onset=self.onset, label_scheme=self.scheme,
            loki3=self.loki3, loki_tenant=self.tenant, services=self.services, apps=self.apps, traces=self.traces,
            events=self.events, probes=self.probes, nodes=self.nodes, red_herrings=self.herrings, truth=truth)

    # ------------------------------------------------------------------ red herrings

    def herring(self, svc: ServiceSpec, *, allowed: tuple[str, ...]) -> list[Expected]:
        """One or two red herrings on the alerting service; returns what they make forbidden."""
        rng = self.rng
        chosen = rng.sample(list(allowed), k=min(len(allowed), rng.choice((1, 1, 2))))
        forbidden: list[Expected] = []
        for what in chosen:
            self.herrings.append(what)
            if what == "noisy_warning":
                text = rng.choice((
                    "slow query detected on table audit_events (1200ms > 1000ms threshold)",
                    "config key cache.ttl is deprecated, use cache.ttl_seconds",
                    "retrying metrics push to statsd: buffer full, dropped 12 samples",
                    "certificate for internal mTLS rotates in 27 days",
                    "GC pause 310ms exceeds target 200ms",
                ))
                self.repeat(svc, LogRecord(0, "warn", text, logger="warn"), start=-35, every=0.4)
            elif what == "other_errors":
                other = self.service(self.name(), runtime=self.rng.choice(("go", "python", "java")))
                self.traffic(other, every=1.0)
                peer_error = f"{other.name}: request failed: upstream connect error or disconnect/reset before headers"
                self.repeat(svc, LogRecord(0, "error", f"optional call to {other.name} failed, serving fallback: "
                                                       f"{peer_error}", logger="client"), start=-35, every=1.5)
                self.repeat(other, LogRecord(0, "error", "upstream connect error or disconnect/reset before headers. "
                                                         "reset reason: connection termination", logger="proxy"),
                            start=-35, every=1.5)
                other.signals["err"] = Curve(0.03)
                forbidden.append(Expected("rollback", other.name, why="another service's steady errors"))
                forbidden.append(Expected("restart", other.name, why="another service's steady errors"))
            elif what == "old_deploy":
                forbidden.append(Expected("rollback", svc.name, why="an unrelated older deploy"))
                forbidden.append(Expected("sync", svc.name, why="an unrelated older deploy"))
            elif what == "rolling_memory":
                pass  # applied by the caller where a deploy happens inside the window
        return forbidden

    # ------------------------------------------------------------------ classes

    def _bad_deploy(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name())
        gap = float(rng.choice((2, 3, 5, 7, 9, 12, 15, 20, 35, 50, 60)))
        deployed = self.onset - gap
        app = self.app(svc, culprit_at=deployed)
        culprit, previous = app.history[-1], app.history[-2]
        error = _bug(rng, svc, version=culprit.image_tag)
        self.traffic(svc)
        self.startup(svc, at=deployed, version=culprit.image_tag, config=culprit.config)
        if gap > 25:  # a late trigger: the new version's own lines say which version fails
            error.record.fields["version"] = culprit.image_tag
            error.record.message = f"{error.record.message} (version {culprit.image_tag})"
        self.repeat(svc, error.record, start=self.onset, every=rng.choice((0.05, 0.1, 0.2)))
        self.degrade(svc, onset=self.onset, err=rng.choice((0.04, 0.08, 0.15, 0.3, 0.6)),
                     p99=rng.choice((0.8, 1.5, 3.0, 6.0)))
        self.trace(self.onset + 0.5, rng.randint(3, 6), _span(svc, "POST /api/v1/" + svc.name, 900, error=True, status=500),
                   _span(svc, error.operation, 850, error=True, parent=0, kind="internal"))
        if rng.random() < 0.5:
            self.event(svc, "Unhealthy", f"Readiness probe failed: HTTP probe failed with statuscode: 503",
                       first=self.onset + 0.5, last=-0.2, count=rng.randint(3, 20))
        allowed = ["noisy_warning", "other_errors"] + (["rolling_memory"] if deployed > -30 else [])
        forbidden = self.herring(svc, allowed=tuple(allowed))
        if "rolling_memory" in self.herrings:
            self.rolling_bump(svc, deployed)
        forbidden = [f for f in forbidden if not (f.service == svc.name and f.kind in ("rollback", "sync"))]
        truth = Truth(
            service=svc.name, categories=["deploy_regression"],
            first_actions=[_rollback(app, previous, why="roll back the bad release")],
            forbidden=forbidden + [Expected("scale", svc.name, why="more pods of a broken release")],
            clues=[Clue("exception", [error.clue]), _deploy_clue(app, culprit)],
        )
        alert = _alert(rng, svc, self.ns, "errors")
        story = (f"{svc.name} {culprit.image_tag} (history {culprit.id}, {app.shape}) deployed {gap:g} min before "
                 f"the onset throws {error.clue!r}; roll back to history {previous.id}")
        return truth, svc.name, alert, story, f"{svc.runtime}/{app.shape}/gap{gap:g}"

    def _config_deploy(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node")))
        gap = float(rng.choice((2, 4, 6, 8, 10, 15, 20)))
        deployed = self.onset - gap
        app = self.app(svc, culprit_at=deployed, config_only=True, shape=rng.choice(("branch", "multi", "tag", "helm")))
        culprit, previous = app.history[-1], app.history[-2]
        change = _config_change(rng, svc, self.ns)
        culprit.config[change.key] = change.after
        previous.config[change.key] = change.before
        for rev in app.history[:-1]:
            rev.config[change.key] = change.before
        self.traffic(svc)
        self.startup(svc, at=deployed, version=culprit.image_tag, config={change.key: change.after})
        self.repeat(svc, change.record, start=self.onset, every=rng.choice((0.05, 0.1, 0.2)))
        self.degrade(svc, onset=self.onset, err=rng.choice((0.05, 0.1, 0.25, 0.5)), p99=change.p99)
        self.trace(self.onset + 0.5, rng.randint(3, 6), _span(svc, "GET /api/v1/" + svc.name, 1200, error=True, status=500),
                   _span(svc, change.operation, 1150, error=True, parent=0, kind="client" if change.peer else "internal",
                         tags={"peer.service": change.peer} if change.peer else None))
        allowed = ["noisy_warning", "other_errors", "rolling_memory"]
        forbidden = self.herring(svc, allowed=tuple(allowed))
        if "rolling_memory" in self.herrings:
            self.rolling_bump(svc, deployed)
        forbidden = [f for f in forbidden if not (f.service == svc.name and f.kind in ("rollback", "sync"))]
        target = _rollback(app, previous, why="undo the configuration change")
        sync = Expected("sync", svc.name, revisions=previous.identities(app.shape), why="sync to the previous revision")
        truth = Truth(
            service=svc.name, categories=["config", "deploy_regression"], first_actions=[target, sync],
            forbidden=forbidden + [Expected("scale", svc.name, why="a configuration error")],
            clues=[Clue("changed key", [change.key]), Clue("error", [change.clue])],
        )
        alert = _alert(rng, svc, self.ns, rng.choice(("errors", "latency")))
        story = (f"{svc.name} history {culprit.id} ({app.shape}) changed only {change.key} "
                 f"{change.before} → {change.after}; {change.clue!r}")
        return truth, svc.name, alert, story, f"{svc.runtime}/{app.shape}/{change.key}"

    def _dependency_deploy(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        front = self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node", "nginx")),
                             kind="gateway")
        dep = self.service(self.name())
        gap = float(rng.choice((2, 3, 5, 8, 10, 14, 18)))
        deployed = self.onset - gap
        dep_app = self.app(dep, culprit_at=deployed)
        culprit, previous = dep_app.history[-1], dep_app.history[-2]
        error = _bug(rng, dep, version=culprit.image_tag)
        for s in (front, dep):
            self.traffic(s)
        self.startup(dep, at=deployed, version=culprit.image_tag, config=culprit.config)
        self.repeat(dep, error.record, start=self.onset, every=0.1)
        status = rng.choice((500, 502, 503))
        self.repeat(front, _peer_error(rng, front, dep, self.ns, status), start=self.onset, every=0.1)
        ratio = rng.choice((0.1, 0.2, 0.4))
        self.degrade(front, onset=self.onset, err=ratio, p99=rng.choice((0.6, 1.2, 2.5)))
        self.degrade(dep, onset=self.onset, err=min(0.9, ratio * 1.5))
        self.trace(self.onset + 0.3, rng.randint(3, 6),
                   _span(front, "POST /api/v1/" + front.name, 400, error=True, status=status),
                   _span(front, f"HTTP POST {dep.name}", 380, error=True, parent=0, kind="client",
                         tags={"peer.service": dep.name}, status=500),
                   _span(dep, error.operation, 350, error=True, parent=1, status=500))
        front_old = rng.random() < 0.5
        self.app(front, culprit_at=None, old_at=self.onset - rng.randint(35, 90) if front_old else None)
        allowed = ["noisy_warning", "other_errors"] + (["old_deploy"] if front_old else [])
        forbidden = self.herring(front, allowed=tuple(allowed))
        truth = Truth(
            service=dep.name, categories=["deploy_regression", "dependency"],
            first_actions=[_rollback(dep_app, previous, why="roll back the dependency's bad release")],
            forbidden=forbidden + [Expected("rollback", front.name, why="the alerting service did not change"),
                                   Expected("restart", front.name, why="the alerting service is healthy")],
            clues=[Clue("dependency's exception", [error.clue]), _deploy_clue(dep_app, culprit)],
        )
        alert = _alert(rng, front, self.ns, "errors")
        story = (f"{front.name} calls {dep.name}, which deployed {culprit.image_tag} (history {culprit.id}, "
                 f"{dep_app.shape}) {gap:g} min before the onset and throws {error.clue!r}")
        return truth, front.name, alert, story, f"{front.runtime}->{dep.runtime}/{dep_app.shape}"

    def _database(self, owner: str) -> ServiceSpec:
        rng = self.rng
        name = rng.choice((f"{owner.split('-')[0]}-db", f"{owner.split('-')[0]}-postgres", f"pg-{owner.split('-')[0]}"))
        self.used.add(name)
        db = self.service(name, runtime="postgres", kind="database", rps=0.0)
        db.signals["rps"] = Curve(0.0, noise=0.0)
        db.signals["err"] = Curve(0.0, noise=0.0)
        return db

    def _dependency_outage(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node")))
        db = self._database(svc.name)
        variant = rng.choice(("disk_full", "db_down"))
        self.traffic(svc)
        self.traffic(db)
        host = f"{db.name}.{self.ns}.svc.cluster.local"
        if variant == "disk_full":
            relation = rng.choice(("orders", "events", "payments_ledger", "sessions", "audit_log"))
            oid = rng.randint(16384, 16999), rng.randint(20000, 99999)
            db_msg = f'could not extend file "base/{oid[0]}/{oid[1]}": No space left on device'
            self.repeat(db, LogRecord(0, "error", db_msg, fields={"hint": "Check free disk space."}),
                        start=self.onset, every=0.2)
            self.repeat(db, LogRecord(0, "fatal", 'could not write to file "pg_wal/xlogtemp.'
                                                  f'{rng.randint(100, 9999)}": No space left on device'),
                        start=self.onset + 1, every=2.0)
            app_record = _db_error(rng, svc, host, db.port, "disk_full", db_msg, relation)
            node = NodeSpec(name=db.node, mountpoint="/var/lib/postgresql/data", device="/dev/nvme1n1",
                            size=200 * 2**30, avail=Curve(18 * 2**30, 0.0, self.onset, "ramp",
                                                          start=self.onset - 90, noise=0.0))
            self.nodes.append(node)
            self.nodes.append(NodeSpec(name=svc.node, mountpoint="/", device="/dev/nvme0n1", size=100 * 2**30,
                                       avail=Curve(61 * 2**30, noise=0.001)))
            self.event(None, "FreeDiskSpaceFailed",
                       "Failed to garbage collect required amount of images. Attempted to free 4203477811 bytes, "
                       "but only found 0 bytes eligible to free.", kind="Node", name=db.node, first=self.onset,
                       last=-0.5, count=rng.randint(2, 9), namespace="default")
            clues = [Clue("disk full", ["No space left on device"])]
            categories = ["dependency", "resource_exhaustion"]
        else:
            self.repeat(db, LogRecord(0, "info", "received fast shutdown request"), start=self.onset - 0.3,
                        end=self.onset - 0.2, every=1)
            self.repeat(db, LogRecord(0, "info", "database system is shut down"), start=self.onset - 0.1,
                        end=self.onset, every=1)
            db.logs = [r for r in db.logs if r.at < self.onset]
            app_record = _db_error(rng, svc, host, db.port, "db_down", "", "")
            self.probes.append(ProbeSpec(instance=f"{host}:{db.port}", module="tcp_connect",
                                         success=Curve(1.0, 0.0, self.onset, "step", noise=0.0)))
            self.event(db, "Unhealthy", f"Liveness probe failed: dial tcp 10.42.{rng.randint(0, 9)}."
                                        f"{rng.randint(2, 250)}:5432: connect: connection refused",
                       first=self.onset, last=-0.3, count=rng.randint(4, 12))
            self.event(db, "BackOff", f"Back-off restarting failed container {db.name} in pod {db.pods[0]}_"
                                      f"{self.ns}({_uuid(self.seed, db.name)})",
                       first=self.onset + 1, last=-0.2, count=rng.randint(3, 8))
            clues = [Clue("connection refused", ["connection refused", "Connection refused", "refused"]),
                     Clue("database named", [db.name])]
            categories = ["dependency", "connectivity"]
        self.repeat(svc, app_record, start=self.onset, every=0.1)
        self.degrade(svc, onset=self.onset, err=rng.choice((0.2, 0.5, 0.9)), p99=rng.choice((1.0, 3.0, 5.0)))
        self.trace(self.onset + 0.3, rng.randint(3, 6),
                   _span(svc, "POST /api/v1/" + svc.name, 300, error=True, status=500),
                   _span(svc, "INSERT " + rng.choice(("orders", "events", "sessions")), 280, error=True, parent=0,
                         kind="client", tags={"peer.service": db.name, "db.system": "postgresql"}))
        old = rng.random() < 0.6
        self.app(svc, culprit_at=None, old_at=self.onset - rng.randint(35, 90) if old else None)
        forbidden = self.herring(svc, allowed=tuple(["noisy_warning", "other_errors"] + (["old_deploy"] if old else [])))
        truth = Truth(
            service=db.name, categories=categories,
            first_actions=[Expected("manual", db.name, why="free disk / bring the database back"),
                           Expected("runbook", db.name, why="the database's runbook")],
            forbidden=forbidden + [Expected("rollback", None, why="nothing deployed broke it"),
                                   Expected("restart", svc.name, why="the alerting service is fine"),
                                   Expected("scale", svc.name, why="the alerting service is fine")],
            clues=clues,
        )
        alert = _alert(rng, svc, self.ns, "errors")
        story = f"{svc.name} fails because its database {db.name} is {'out of disk' if variant == 'disk_full' else 'down'}"
        return truth, svc.name, alert, story, f"{variant}/{svc.runtime}"

    def _expired_cert(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node")))
        host = rng.choice(PARTNER_HOSTS)
        self.traffic(svc)
        record, clue = _tls_error(rng, svc, host, self.onset)
        self.repeat(svc, record, start=self.onset, every=0.1)
        self.degrade(svc, onset=self.onset, err=rng.choice((0.3, 0.6, 0.97)))
        self.probes.append(ProbeSpec(instance=f"https://{host}", module="http_2xx",
                                     success=Curve(1.0, 0.0, self.onset, "step", noise=0.0),
                                     ssl_expiry_min=self.onset))
        self.probes.append(ProbeSpec(instance=f"https://www.{self.ns}.example.com", module="http_2xx",
                                     success=Curve(1.0, noise=0.0), ssl_expiry_min=60 * 24 * 41.0))
        self.trace(self.onset + 0.2, rng.randint(3, 6),
                   _span(svc, "POST /api/v1/" + svc.name, 40, error=True, status=502),
                   _span(svc, f"HTTP POST {host}", 25, error=True, parent=0, kind="client",
                         tags={"peer.service": host, "server.address": host}))
        old_at = self.onset - rng.randint(38, 60)
        self.app(svc, culprit_at=None, old_at=old_at)
        forbidden = self.herring(svc, allowed=("noisy_warning", "old_deploy", "other_errors"))
        if "old_deploy" not in self.herrings:
            self.herrings.append("old_deploy")
        truth = Truth(
            service=svc.name, categories=["connectivity", "dependency", "config"],
            first_actions=[Expected("runbook", svc.name, why="renew or replace the certificate"),
                           Expected("manual", svc.name, why="renew or replace the certificate")],
            forbidden=[f for f in forbidden if f.kind not in ("rollback", "sync")]
            + [Expected("rollback", None, why="an expired certificate is no deploy's fault"),
               Expected("sync", None, why="an expired certificate is no deploy's fault")],
            clues=[Clue("certificate expired", clue), Clue("host", [host])],
        )
        alert = _alert(rng, svc, self.ns, "errors")
        story = f"the certificate of {host}, which {svc.name} calls, expired at the onset; a deploy {-old_at:g} min ago is unrelated"
        return truth, svc.name, alert, story, f"{svc.runtime}"

    def _traffic_surge(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node")))
        hpa_max = rng.choice((4, 6, 8, 10, 12))
        hpa_min = max(2, hpa_max // 3)
        svc.hpa = (hpa_min, hpa_max)
        factor = rng.choice((2.5, 3.0, 4.0, 6.0))
        base = svc.signals["rps"].base
        svc.signals["rps"] = Curve(base, base * factor, self.onset, "ramp", start=self.onset - 4)
        svc.signals["replicas"] = Curve(float(hpa_min + 1), float(hpa_max), self.onset, "ramp",
                                        start=self.onset - 3, noise=0.0)
        svc.signals["cpu"] = Curve(svc.signals["cpu"].base, float(hpa_max) * 0.98, self.onset, "ramp",
                                   start=self.onset - 4)
        svc.signals["throttle"] = Curve(0.02, rng.uniform(0.45, 0.8), self.onset, "step", noise=0.02)
        self.degrade(svc, onset=self.onset, p99=rng.choice((1.2, 2.5, 4.0, 8.0)), err=rng.choice((0.01, 0.03, 0.06)))
        self.traffic(svc, every=0.25)
        self.traffic(svc, every=0.25 / factor, since=self.onset)
        overload = _overload(rng, svc)
        self.repeat(svc, overload, start=self.onset, every=0.2)
        for i in range(3):
            self.event(None, "SuccessfulRescale",
                       f"New size: {min(hpa_max, hpa_min + 2 * (i + 1)) if i < 2 else hpa_max}; reason: cpu resource "
                       "utilization (percentage of request) above target", type="Normal", kind="HorizontalPodAutoscaler",
                       name=svc.name, first=self.onset - 3 + i, component="horizontal-pod-autoscaler")
        self.event(svc, "Unhealthy", "Readiness probe failed: Get \"http://10.42.3.17:8080/ready\": context deadline "
                                     "exceeded (Client.Timeout exceeded while awaiting headers)",
                   first=self.onset + 0.5, last=-0.2, count=rng.randint(5, 30))
        self.trace(self.onset + 0.3, rng.randint(2, 4), _span(svc, "GET /api/v1/" + svc.name, 2500, status=200),
                   _span(svc, "queue.wait", 2200, parent=0, kind="internal"))
        old = rng.random() < 0.5
        self.app(svc, culprit_at=None, old_at=self.onset - rng.randint(40, 90) if old else None)
        forbidden = self.herring(svc, allowed=tuple(["noisy_warning", "other_errors"] + (["old_deploy"] if old else [])))
        hi = min(POLICY_MAX_REPLICAS, POLICY_MAX_SCALE_FACTOR * hpa_max, math.ceil(hpa_max * factor))
        truth = Truth(
            service=svc.name, categories=["resource_exhaustion", "latency"],
            first_actions=[Expected("scale", svc.name, replicas=(min(hpa_max + 1, hi), hi),
                                    why=f"load ×{factor:g} with the HPA at its max {hpa_max}")],
            forbidden=forbidden + [Expected("restart", svc.name, why="restarting saturated pods loses capacity"),
                                   Expected("rollback", None, why="nothing deployed caused the load")],
            # the HPA at its max and the load ratio are numbers, no string of the raw data names them: the
            # scale action's replicas grade whether they reached the analysis
            clues=[Clue("overload", [overload.message])],
        )
        alert = _alert(rng, svc, self.ns, "latency")
        story = f"{svc.name} takes ×{factor:g} its usual traffic with its HPA at {hpa_max}/{hpa_max}; no deploy"
        return truth, svc.name, alert, story, f"{svc.runtime}/x{factor:g}/hpa{hpa_max}"

    def _memory_leak(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node")))
        after_deploy = rng.random() < 0.7
        deployed = self.onset - rng.randint(20, 60) if after_deploy else None
        app = self.app(svc, culprit_at=deployed)
        limit = svc.signals["mem_limit"].base
        start = deployed if deployed is not None else self.onset - rng.randint(40, 120)
        svc.signals["mem"] = Curve(limit * 0.4, limit * 0.99, self.onset, "ramp", start=start, noise=0.01)
        restarts = rng.randint(3, 9)
        svc.signals["restarts"] = Curve(0.0, float(restarts), self.onset, "ramp", start=self.onset, noise=0.0)
        svc.signals["restarts"].kind = "step"
        svc.oomkilled_since = self.onset
        self.degrade(svc, onset=self.onset, err=rng.choice((0.02, 0.05, 0.1)), p99=rng.choice((0.8, 1.5, 3.0)))
        self.traffic(svc)
        version = app.history[-1].image_tag
        for k in range(restarts):
            self.startup(svc, at=self.onset + k * (-self.onset / max(restarts, 1)) + 0.5, version=version,
                         config=app.history[-1].config)
        oom_logs: list[str] = []
        if svc.runtime == "java":
            msg = "java.lang.OutOfMemoryError: Java heap space"
            self.repeat(svc, LogRecord(0, "error", "Handler dispatch failed; nested exception is " + msg,
                                       logger="o.a.c.c.C.[.[.[/].[dispatcherServlet]",
                                       exc=[msg, "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
                                            "\tat com.example.cache.SessionCache.put(SessionCache.java:88)"]),
                        start=self.onset - 1, every=1.0)
            oom_logs.append("OutOfMemoryError")
        self.event(svc, "BackOff", f"Back-off restarting failed container {svc.name} in pod {svc.pods[0]}_"
                                   f"{self.ns}({_uuid(self.seed, svc.name)})", first=self.onset + 1, last=-0.2,
                   count=restarts)
        process = {"java": "java", "python": "python3", "go": svc.name, "node": "node"}[svc.runtime]
        self.event(None, "OOMKilling", f"Memory cgroup out of memory: Killed process {rng.randint(10000, 3000000)} "
                                      f"({process}) total-vm:{int(limit / 1024 * 1.6)}kB, anon-rss:{int(limit / 1024)}kB, "
                                      "file-rss:38212kB, shmem-rss:0kB, UID:1000 pgtables:2320kB oom_score_adj:985",
                   kind="Node", name=svc.node, first=self.onset, namespace="default", component="kernel-monitor")
        self.trace(self.onset + 0.3, rng.randint(2, 4), _span(svc, "GET /api/v1/" + svc.name, 1500, error=True, status=502))
        forbidden = self.herring(svc, allowed=("noisy_warning", "other_errors"))
        clues = [Clue("OOM killed", ["OOMKilled", "out of memory", *oom_logs])]
        if after_deploy:
            culprit, previous = app.history[-1], app.history[-2]
            first = [_rollback(app, previous, why="the leak came with this release")]
            clues.append(_deploy_clue(app, culprit))
            categories = ["resource_exhaustion", "deploy_regression"]
        else:
            first = [Expected("restart", svc.name, why="a stopgap for a leak with no recent change")]
            forbidden.append(Expected("rollback", None, why="no recent deploy"))
            categories = ["resource_exhaustion"]
        truth = Truth(service=svc.name, categories=categories, first_actions=first, forbidden=forbidden, clues=clues)
        alert = _alert(rng, svc, self.ns, rng.choice(("crashloop", "errors")))
        story = (f"{svc.name} leaks memory since {'its deploy' if after_deploy else 'a while'}; OOMKilled "
                 f"{restarts} times since the onset")
        return truth, svc.name, alert, story, f"{svc.runtime}/{'after-deploy' if after_deploy else 'no-deploy'}"

    def _false_alarm(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        svc = self.service(self.name())
        spike_at = self.onset
        length = float(rng.choice((1, 2, 3)))
        what = rng.choice(("latency", "errors"))
        if what == "latency":
            base = svc.signals["p99"].base
            svc.signals["p99"] = Curve(base, base * rng.choice((3, 5, 8)), spike_at, "spike", end=spike_at + length)
        else:
            svc.signals["err"] = Curve(svc.signals["err"].base, rng.choice((0.03, 0.06, 0.1)), spike_at, "spike",
                                       end=spike_at + length)
        self.traffic(svc)
        self.repeat(svc, LogRecord(0, "warn", "upstream request took longer than 1s, retrying once", logger="client"),
                    start=spike_at, end=spike_at + length, every=0.3)
        self.trace(spike_at + 0.2, 2, _span(svc, "GET /api/v1/" + svc.name, 1300 if what == "latency" else 40,
                                             error=what == "errors", status=200 if what == "latency" else 503))
        old = rng.random() < 0.5
        self.app(svc, culprit_at=None, old_at=self.onset - rng.randint(45, 120) if old else None)
        forbidden = self.herring(svc, allowed=tuple(["noisy_warning"] + (["old_deploy"] if old else [])))
        truth = Truth(
            service=svc.name, categories=["unknown", "latency", "errors"],
            first_actions=[Expected("none", why="nothing to do"), Expected("manual", svc.name, why="watch it")],
            forbidden=forbidden + [Expected(kind, None, why="a false alarm") for kind in EXECUTABLE],
            clues=[],
        )
        alert = _alert(rng, svc, self.ns, what)
        story = f"{svc.name} had a {length:g}-minute {what} blip {-spike_at:g} min ago and is back to baseline"
        return truth, svc.name, alert, story, f"{what}/{length:g}min"

    def _alert_storm(self) -> tuple[Truth, str, str, str, str]:
        rng = self.rng
        callers = [self.service(self.name(), runtime=rng.choice(("java", "python", "go", "node", "nginx")))
                   for _ in range(rng.randint(3, 5))]
        variant = rng.choice(("root_deploy", "root_deploy", "db_down"))
        for s in callers:
            self.traffic(s, every=0.5)
            self.degrade(s, onset=self.onset + rng.uniform(0, 0.5), err=rng.choice((0.1, 0.2, 0.4)),
                         p99=rng.choice((0.8, 2.0)))
        if variant == "root_deploy":
            root = self.service(self.name(suffixes=("", "-api", "-svc")))
            self.traffic(root)
            gap = float(rng.choice((3, 5, 8, 12)))
            app = self.app(root, culprit_at=self.onset - gap)
            culprit, previous = app.history[-1], app.history[-2]
            error = _bug(rng, root, version=culprit.image_tag)
            self.startup(root, at=self.onset - gap, version=culprit.image_tag, config=culprit.config)
            self.repeat(root, error.record, start=self.onset, every=0.1)
            self.degrade(root, onset=self.onset, err=0.5)
            first = [_rollback(app, previous, why="roll back the shared service's release")]
            categories = ["deploy_regression", "dependency"]
            clues = [Clue("root's exception", [error.clue]), _deploy_clue(app, culprit)]
            root_port = root.port
        else:
            root = self._database(callers[0].name)
            self.traffic(root)
            self.repeat(root, LogRecord(0, "info", "database system is shut down"), start=self.onset - 0.1,
                        end=self.onset, every=1)
            root.logs = [r for r in root.logs if r.at < self.onset]
            self.probes.append(ProbeSpec(instance=f"{root.name}.{self.ns}.svc.cluster.local:5432",
                                         module="tcp_connect", success=Curve(1.0, 0.0, self.onset, "step", noise=0.0)))
            self.event(root, "Unhealthy", "Liveness probe failed: dial tcp 10.42.7.19:5432: connect: connection refused",
                       first=self.onset, last=-0.3, count=rng.randint(4, 12))
            first = [Expected("manual", root.name, why="bring the database back"),
                     Expected("runbook", root.name, why="the database's runbook")]
            categories = ["dependency", "connectivity"]
            clues = [Clue("connection refused", ["connection refused", "Connection refused", "refused"]),
                     Clue("database named", [root.name])]
            root_port = 5432
        for s in callers:
            if variant == "root_deploy":
                record = _peer_error(rng, s, root, self.ns, rng.choice((500, 502, 503)))
            else:
                record = _db_error(rng, s, f"{root.name}.{self.ns}.svc.cluster.local", root_port, "db_down", "", "")
            self.repeat(s, record, start=self.onset, every=0.15)
            self.trace(self.onset + 0.3, 2, _span(s, "GET /api/v1/" + s.name, 300, error=True, status=502),
                       _span(s, f"call {root.name}", 280, error=True, parent=0, kind="client",
                             tags={"peer.service": root.name}),
                       *([_span(root, "handle", 270, error=True, parent=1, status=500)] if variant == "root_deploy" else []))
            self.app(s, culprit_at=None)
        alerting = callers[0]
        forbidden = self.herring(alerting, allowed=("noisy_warning",))
        for s in callers:
            forbidden += [Expected("rollback", s.name, why="an alerting service is a victim"),
                          Expected("restart", s.name, why="an alerting service is a victim")]
        truth = Truth(service=root.name, categories=categories, first_actions=first, forbidden=forbidden, clues=clues)
        names = ", ".join(s.name for s in callers)
        alert = (f"[FIRING:{len(callers)}] HighErrorRate ({self.ns}) {names}: error ratio above 5% on "
                 f"{len(callers)} services")
        story = f"{len(callers)} services alert ({names}); the one cause is {root.name} ({variant})"
        return truth, alerting.name, alert, story, variant


# --------------------------------------------------------------------------- content


@dataclass
class _Error:
    record: LogRecord
    clue: str
    operation: str


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def _bug(rng: random.Random, svc: ServiceSpec, *, version: str) -> _Error:
    """The exception a bad release throws, in the service's runtime."""
    pkg = svc.name.split("-")[0]
    cls = _class_name(pkg)
    sku = f"SKU-{rng.randint(1000, 9999)}"
    field_name = rng.choice(("currency", "tax_region", "discount_code", "locale", "shipping_zone"))
    if svc.runtime == "java":
        choices = [
            (f"java.lang.IllegalStateException: Duplicate key {sku} (attempted merging values 3 and 5)",
             f"Duplicate key {sku} (attempted merging values 3 and 5)"),
            (f"java.lang.NullPointerException: Cannot invoke \"com.example.{pkg}.{cls}Rule.getAmount()\" because "
             f"the return value of \"com.example.{pkg}.{cls}Rules.find(String)\" is null",
             f"com.example.{pkg}.{cls}Rule.getAmount()"),
            (f"java.lang.ClassCastException: class java.lang.String cannot be cast to class java.math.BigDecimal",
             "java.lang.String cannot be cast to class java.math.BigDecimal"),
        ]
        headline, clue = rng.choice(choices)
        exc = [headline,
               f"\tat com.example.{pkg}.{cls}Service.apply({cls}Service.java:{rng.randint(40, 400)})",
               f"\tat com.example.{pkg}.web.{cls}Controller.post({cls}Controller.java:{rng.randint(20, 200)})",
               "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
               "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
               f"\t... {rng.randint(40, 90)} common frames omitted"]
        record = LogRecord(0, "error", "Servlet.service() for servlet [dispatcherServlet] in context with path [] "
                                       "threw exception [Request processing failed: " + headline + "] with root cause",
                           logger="o.a.c.c.C.[.[.[/].[dispatcherServlet]", exc=exc)
        return _Error(record, clue, f"{cls}Service.apply")
    if svc.runtime == "python":
        choices = [
            (f"AttributeError: 'NoneType' object has no attribute '{field_name}'",
             f"'NoneType' object has no attribute '{field_name}'"),
            (f"KeyError: '{field_name}'", f"KeyError: '{field_name}'"),
            (f"TypeError: unsupported operand type(s) for +: 'Decimal' and 'float'",
             "unsupported operand type(s) for +: 'Decimal' and 'float'"),
        ]
        headline, clue = rng.choice(choices)
        exc = ["Traceback (most recent call last):",
               f'  File "/app/{pkg}/views.py", line {rng.randint(30, 300)}, in post',
               f"    result = service.apply(order)",
               "             ^^^^^^^^^^^^^^^^^^^^",
               f'  File "/app/{pkg}/service.py", line {rng.randint(30, 300)}, in apply',
               f"    total = order.{field_name}.value + adjustment",
               headline]
        record = LogRecord(0, "error", f"Exception on /api/v1/{pkg} [POST]", logger=f"{pkg}.app", exc=exc)
        return _Error(record, clue, f"{pkg}.service.apply")
    if svc.runtime == "go" and rng.random() < 0.4:
        clue = "runtime error: invalid memory address or nil pointer dereference"
        exc = [f"panic: {clue}", "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x8c1f2a]", "",
               f"goroutine {rng.randint(100, 9000)} [running]:",
               f"github.com/example/{pkg}/internal/{pkg}.(*Handler).Apply(0xc000412000, {{0x1a2b3c0, 0xc0004b6f30}})",
               f"\t/src/internal/{pkg}/handler.go:{rng.randint(40, 400)} +0x2a"]
        record = LogRecord(0, "error", f"http: panic serving 10.42.1.{rng.randint(2, 250)}:{rng.randint(30000, 60000)}: {clue}",
                           logger="http", exc=exc)
        return _Error(record, clue, "Handler.Apply")
    choices = [
        f"pq: duplicate key value violates unique constraint \"{pkg}_idempotency_key\"",
        f"json: cannot unmarshal string into Go struct field {cls}Request.amount of type int64",
        f"invalid {field_name}: \"\" is not a supported value",
    ] if svc.runtime == "go" else [
        f"TypeError: Cannot read properties of undefined (reading '{field_name}')",
        f"ValidationError: \"{field_name}\" is required",
    ]
    clue = rng.choice(choices)
    record = LogRecord(0, "error", f"{pkg} request failed", logger="handler", fields={"error": clue})
    if svc.runtime == "node" and clue.startswith("TypeError"):
        record.fields["stack"] = f"{clue}\n    at apply (/app/src/{pkg}.js:{rng.randint(10, 300)}:21)"
    return _Error(record, clue, f"{pkg}.apply")


@dataclass
class _Change:
    key: str
    before: str
    after: str
    record: LogRecord
    clue: str
    operation: str
    p99: float | None = None
    peer: str | None = None


def _config_change(rng: random.Random, svc: ServiceSpec, ns: str) -> _Change:
    pkg = svc.name.split("-")[0]
    kind = rng.choice(("pool", "timeout", "host", "body"))
    if kind == "pool":
        key, before, after = rng.choice(("DB_POOL_SIZE", "DATABASE_POOL_MAX", "PG_MAX_CONNECTIONS")), "20", \
            str(rng.choice((1, 2, 3)))
        if svc.runtime == "java":
            clue = "Connection is not available, request timed out after 30000ms"
            record = LogRecord(0, "error", "Failed to obtain JDBC Connection",
                               logger="o.h.engine.jdbc.spi.SqlExceptionHelper",
                               exc=[f"java.sql.SQLTransientConnectionException: HikariPool-1 - {clue}.",
                                    "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
                                    "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)"])
        elif svc.runtime == "python":
            clue = f"QueuePool limit of size {after} overflow 0 reached, connection timed out, timeout 30.00"
            record = LogRecord(0, "error", "request failed", logger=f"{pkg}.db",
                               exc=["Traceback (most recent call last):",
                                    '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py", '
                                    "line 157, in _do_get",
                                    "    raise exc.TimeoutError(",
                                    f"sqlalchemy.exc.TimeoutError: {clue} (Background on this error at: "
                                    "https://sqlalche.me/e/20/3o7r)"])
        else:
            clue = "failed to acquire connection from pool: context deadline exceeded"
            record = LogRecord(0, "error", "query failed", logger="db", fields={"error": clue, "pool_max": after})
        return _Change(key, before, after, record, clue, "db.acquire", p99=30.0)
    if kind == "timeout":
        key, before, after = rng.choice(("HTTP_CLIENT_TIMEOUT_MS", "UPSTREAM_TIMEOUT_MS", "RPC_DEADLINE_MS")), \
            "3000", str(rng.choice((20, 50, 80)))
        peer = f"{rng.choice(DOMAINS)}-api"
        url = f"http://{peer}.{ns}.svc.cluster.local:8080/v1/lookup"
        if svc.runtime == "java":
            clue = f"I/O error on GET request for \"{url}\": Read timed out"
            record = LogRecord(0, "error", "lookup failed", logger=f"c.e.{pkg}.client.LookupClient",
                               exc=[f"org.springframework.web.client.ResourceAccessException: {clue}",
                                    "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:915)",
                                    "Caused by: java.net.SocketTimeoutException: Read timed out"])
        elif svc.runtime == "python":
            clue = f"Read timed out. (read timeout={int(after) / 1000:g})"
            record = LogRecord(0, "error", "lookup failed", logger=f"{pkg}.client",
                               exc=["Traceback (most recent call last):",
                                    '  File "/app/client.py", line 41, in lookup',
                                    "    resp = session.get(url, timeout=settings.timeout)",
                                    f"requests.exceptions.ReadTimeout: HTTPConnectionPool(host='{peer}.{ns}.svc."
                                    f"cluster.local', port=8080): {clue}"])
        else:
            clue = f"context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            record = LogRecord(0, "error", "lookup failed", logger="client",
                               fields={"error": f"Get \"{url}\": {clue}", "timeout_ms": after})
        return _Change(key, before, after, record, clue, f"HTTP GET {peer}", p99=float(after) / 1000, peer=peer)
    if kind == "host":
        key = rng.choice(("PRICING_RULES_URL", "FEATURE_FLAGS_ENDPOINT", "RATES_SERVICE_HOST"))
        good = f"{rng.choice(DOMAINS)}-rules.{ns}.svc.cluster.local"
        bad = good.replace(".svc.cluster.local", ".svc.cluster")
        before, after = good, bad
        clue = f"lookup {bad} on 10.96.0.10:53: no such host"
        record = LogRecord(0, "error", "refresh failed", logger="rules",
                           fields={"error": f"Get \"http://{bad}/v1/rules\": dial tcp: {clue}"})
        if svc.runtime == "java":
            clue = f"{bad}: Name or service not known"
            record = LogRecord(0, "error", "refresh failed", logger=f"c.e.{pkg}.rules.RulesClient",
                               exc=[f"java.net.UnknownHostException: {clue}",
                                    "\tat java.base/java.net.Inet6AddressImpl.lookupAllHostAddr(Native Method)"])
        elif svc.runtime == "python":
            clue = f"Failed to resolve '{bad}' ([Errno -2] Name or service not known)"
            record = LogRecord(0, "error", "refresh failed", logger=f"{pkg}.rules",
                               exc=["Traceback (most recent call last):",
                                    '  File "/app/rules.py", line 22, in refresh',
                                    f"requests.exceptions.ConnectionError: HTTPConnectionPool(host='{bad}', port=80): "
                                    f"Max retries exceeded with url: /v1/rules (Caused by NameResolutionError(\"{clue}\"))"])
        return _Change(key, before, after, record, clue, "rules.refresh")
    key, before, after = rng.choice(("MAX_BODY_BYTES", "MAX_REQUEST_SIZE", "UPLOAD_LIMIT_BYTES")), "10485760", "1024"
    clue = f"request body too large: {rng.randint(2000, 90000)} bytes exceeds limit of 1024"
    record = LogRecord(0, "error", clue, logger="http", fields={"status": "413"})
    return _Change(key, before, after, record, clue, "http.read_body")


def _peer_error(rng: random.Random, svc: ServiceSpec, dep: ServiceSpec, ns: str, status: int) -> LogRecord:
    url = f"http://{dep.name}.{ns}.svc.cluster.local:{dep.port}/v1/{dep.name.split('-')[0]}"
    if svc.runtime == "nginx":
        return LogRecord(0, "error", "", http={"method": "POST", "path": f"/api/v1/{dep.name.split('-')[0]}",
                                               "status": status, "ms": rng.randint(5, 900),
                                               "upstream": f"{dep.name}.{ns}.svc.cluster.local:{dep.port}"})
    if svc.runtime == "java":
        return LogRecord(0, "error", f"call to {dep.name} failed", logger=f"c.e.client.{_class_name(dep.name)}Client",
                         exc=[f"org.springframework.web.client.HttpServerErrorException$InternalServerError: "
                              f"{status} : \"{{\"error\":\"internal\"}}\"",
                              "\tat org.springframework.web.client.DefaultResponseErrorHandler.handleError("
                              "DefaultResponseErrorHandler.java:131)"],
                         fields={"url": url})
    return LogRecord(0, "error", f"upstream {dep.name} returned {status}", logger="client",
                     fields={"url": url, "status": str(status)})


def _db_error(rng: random.Random, svc: ServiceSpec, host: str, port: int, variant: str, db_msg: str,
              relation: str) -> LogRecord:
    if variant == "disk_full":
        if svc.runtime == "java":
            return LogRecord(0, "error", "could not execute statement", logger="o.h.engine.jdbc.spi.SqlExceptionHelper",
                             exc=[f"org.postgresql.util.PSQLException: ERROR: {db_msg}",
                                  "\tat org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2725)"])
        if svc.runtime == "python":
            return LogRecord(0, "error", f"insert into {relation} failed", logger="db",
                             exc=["Traceback (most recent call last):",
                                  '  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/base.py", line 1967, in _exec_single_context',
                                  "    self.dialect.do_execute(",
                                  f"psycopg2.errors.DiskFull: {db_msg}"])
        return LogRecord(0, "error", f"insert into {relation} failed", logger="db",
                         fields={"error": f"pq: {db_msg}"})
    if svc.runtime == "java":
        return LogRecord(0, "error", "HikariPool-1 - Exception during pool initialization.", logger="com.zaxxer.hikari.pool.HikariPool",
                         exc=[f"org.postgresql.util.PSQLException: Connection to {host}:{port} refused. Check that the "
                              "hostname and port are correct and that the postmaster is accepting TCP/IP connections.",
                              "Caused by: java.net.ConnectException: Connection refused"])
    if svc.runtime == "python":
        return LogRecord(0, "error", "database unavailable", logger="db",
                         exc=["Traceback (most recent call last):",
                              '  File "/usr/local/lib/python3.12/site-packages/psycopg2/__init__.py", line 122, in connect',
                              "    conn = _connect(dsn, connection_factory=connection_factory, **kwasync)",
                              f"psycopg2.OperationalError: connection to server at \"{host}\" (10.42.7.19), port {port} "
                              "failed: Connection refused"])
    if svc.runtime == "nginx":
        return LogRecord(0, "error", "", http={"method": "GET", "path": "/api/v1/items", "status": 502, "ms": 2,
                                               "upstream": f"{host}:{port}"})
    return LogRecord(0, "error", "query failed", logger="db",
                     fields={"error": f"dial tcp 10.42.7.19:{port}: connect: connection refused", "db_host": host})


def _tls_error(rng: random.Random, svc: ServiceSpec, host: str, onset: float) -> tuple[LogRecord, list[str]]:
    if svc.runtime == "java":
        return (LogRecord(0, "error", f"POST https://{host}/v2/charge failed", logger="c.e.partner.PartnerClient",
                          exc=["javax.net.ssl.SSLHandshakeException: PKIX path validation failed: "
                               "java.security.cert.CertPathValidatorException: validity check failed",
                               "\tat java.base/sun.security.ssl.Alert.createSSLException(Alert.java:130)",
                               "Caused by: java.security.cert.CertificateExpiredException: NotAfter: "
                               "Tue Nov 25 03:41:00 UTC 2025"]),
                ["CertificateExpiredException", "validity check failed"])
    if svc.runtime == "python":
        return (LogRecord(0, "error", f"call to {host} failed", logger="partner",
                          exc=["Traceback (most recent call last):",
                               '  File "/app/partner.py", line 57, in charge',
                               "    resp = session.post(url, json=payload, timeout=5)",
                               f"requests.exceptions.SSLError: HTTPSConnectionPool(host='{host}', port=443): Max "
                               "retries exceeded with url: /v2/charge (Caused by SSLError(SSLCertVerificationError(1, "
                               "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired "
                               "(_ssl.c:1006)')))"]),
                ["certificate has expired"])
    if svc.runtime == "node":
        return (LogRecord(0, "error", f"request to https://{host}/v2/charge failed, reason: certificate has expired",
                          logger="partner", fields={"code": "CERT_HAS_EXPIRED"}),
                ["certificate has expired", "CERT_HAS_EXPIRED"])
    return (LogRecord(0, "error", "partner call failed", logger="partner",
                      fields={"error": f"Post \"https://{host}/v2/charge\": tls: failed to verify certificate: x509: "
                                       "certificate has expired or is not yet valid: current time "
                                       "2025-11-25T03:41:07Z is after 2025-11-25T03:41:00Z"}),
            ["certificate has expired"])


def _overload(rng: random.Random, svc: ServiceSpec) -> LogRecord:
    if svc.runtime == "java":
        return LogRecord(0, "warn", "Thread pool exhausted: all 200 worker threads busy, request queued",
                         logger="o.a.tomcat.util.threads.ThreadPoolExecutor")
    if svc.runtime == "python":
        return LogRecord(0, "error", f"WORKER TIMEOUT (pid:{rng.randint(10, 99)})", logger="gunicorn.error")
    if svc.runtime == "node":
        return LogRecord(0, "warn", "event loop lag 850ms exceeds 200ms, shedding load", logger="server")
    return LogRecord(0, "warn", "request queue full, rejecting request", logger="server",
                     fields={"queue_len": "512"})


def _base_config(rng: random.Random, svc: ServiceSpec) -> dict[str, str]:
    return {"LOG_LEVEL": "info", "HTTP_PORT": str(svc.port), "CACHE_TTL_SECONDS": str(rng.choice((60, 300, 900))),
            "WORKERS": str(rng.choice((2, 4, 8))), "FEATURE_NEW_CHECKOUT": rng.choice(("true", "false"))}


def _span(svc: ServiceSpec, op: str, ms: float, *, error: bool = False, status: int | None = None,
          parent: int | None = None, kind: str = "server", tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {"service": svc.name, "op": op, "ms": ms, "error": error, "status": status, "parent": parent,
            "kind": kind, "tags": dict(tags or {})}


def _rollback(app: AppSpec, previous: Revision, *, why: str) -> Expected:
    return Expected("rollback", app.service, revisions=previous.identities(app.shape), history_id=previous.id, why=why)


def _deploy_clue(app: AppSpec, culprit: Revision) -> Clue:
    names = [culprit.sha[:7]] if culprit.sha else []
    if app.shape in ("helm", "multi"):
        names.append(culprit.chart_version)
    if culprit.tag:
        names.append(culprit.tag)
    names.append(culprit.image_tag)
    return Clue("the culprit deploy", [n for n in names if n])


def _alert(rng: random.Random, svc: ServiceSpec, ns: str, kind: str) -> str:
    if kind == "latency":
        return rng.choice((f"[FIRING:1] HighLatencyP99 {svc.name} ({ns}): p99 above 1s for 5m",
                           f"{svc.name} p99 latency SLO burn rate 14x"))
    if kind == "crashloop":
        return f"[FIRING:1] KubePodCrashLooping {ns}/{svc.pods[0]} ({svc.name}) is restarting"
    return rng.choice((f"[FIRING:1] HighErrorRate {svc.name} ({ns}): 5xx ratio above 5% for 5m",
                       f"{svc.name} error budget burn rate 10x (5xx)", f"{svc.name} is returning 5xx"))


def _uuid(*parts: object) -> str:
    h = _sha(*parts)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


# --------------------------------------------------------------------------- rendering log lines


def render(svc: ServiceSpec, record: LogRecord, *, at: datetime, pod: str) -> list[str]:
    """The raw lines one record becomes in ``svc``'s format; a multi-line event is several lines
    (one Loki entry each), as without a multiline stage."""
    fmt = svc.log_format
    level = record.level
    ms = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    if fmt == "json":
        body: dict[str, Any] = {"ts": ms, "level": level, "logger": record.logger, "msg": record.message}
        body.update(record.fields)
        if record.exc:
            body["stack"] = "\n".join(record.exc)
        return [json.dumps(body)]
    if fmt == "logfmt":
        pairs = [f"ts={ms}", f"level={level}", f"caller={record.logger}.go:{40 + len(record.message) % 200}",
                 f"msg={_logfmt(record.message)}"]
        pairs += [f"{k}={_logfmt(v)}" for k, v in record.fields.items()]
        if record.exc:
            pairs.append(f"err={_logfmt(record.exc[-1])}")
        return [" ".join(pairs)]
    if fmt == "zap":
        extra = dict(record.fields)
        if record.exc:
            extra["error"] = record.exc[-1]
        tail = f"\t{json.dumps(extra)}" if extra else ""
        return [f"{ms}\t{level.upper()}\t{record.logger}/{record.logger}.go:{40 + len(record.message) % 200}\t"
                f"{record.message}{tail}"] + [line for line in record.exc[:-1] if line.startswith("goroutine")]
    if fmt == "klog":
        letter = {"error": "E", "fatal": "F", "warn": "W"}.get(level, "I")
        extra = " ".join(f"{k}={_logfmt(v)}" for k, v in record.fields.items())
        head = (f"{letter}{at:%m%d %H:%M:%S}.{at.microsecond:06d}       1 {record.logger}.go:"
                f"{40 + len(record.message) % 200}] \"{record.message}\"" + (f" {extra}" if extra else ""))
        return [head] + list(record.exc)
    if fmt == "logback":
        thread = f"nio-{svc.port}-exec-{1 + int(at.timestamp()) % 10}"
        head = (f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d}  {level.upper().replace('WARN', 'WARN '):5} 1 --- "
                f"[{thread}] {record.logger:<40} : {record.message}")
        if record.fields:
            head += " " + " ".join(f"{k}={v}" for k, v in record.fields.items() if k != "request_id")
        return [head] + list(record.exc)
    if fmt == "python":
        level_name = {"warn": "WARNING", "fatal": "CRITICAL"}.get(level, level.upper())
        head = f"{at:%Y-%m-%d %H:%M:%S},{at.microsecond // 1000:03d} {level_name} [{record.logger}] {record.message}"
        extra = {k: v for k, v in record.fields.items() if k != "request_id"}
        if extra:
            head += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return [head] + list(record.exc)
    if fmt == "postgres":
        severity = {"error": "ERROR", "fatal": "PANIC", "warn": "WARNING"}.get(level, "LOG")
        pid = 100 + int(at.timestamp()) % 9000
        lines = [f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} UTC [{pid}] {severity}:  {record.message}"]
        if record.fields.get("hint"):
            lines.append(f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} UTC [{pid}] HINT:  {record.fields['hint']}")
        return lines
    if fmt == "nginx":
        http = record.http or {}
        if not http:
            return [f"{at:%Y/%m/%d %H:%M:%S} [{'error' if level == 'error' else 'warn'}] 24#24: *{int(at.timestamp()) % 99999} "
                    f"{record.message}"]
        ip = f"10.42.{int(at.timestamp()) % 9}.{int(at.timestamp() * 7) % 250 + 2}"
        secs = http.get("ms", 5) / 1000
        upstream = http.get("upstream") or "127.0.0.1:8080"
        lines = [f"{ip} - - [{at:%d/%b/%Y:%H:%M:%S} +0000] \"{http['method']} {http['path']} HTTP/1.1\" "
                 f"{http['status']} {157 if http['status'] >= 500 else 2311} \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" "
                 f"{secs:.3f} {secs:.3f} {upstream}"]
        if http["status"] >= 500 and http.get("upstream"):
            lines.append(f"{at:%Y/%m/%d %H:%M:%S} [error] 24#24: *{int(at.timestamp()) % 99999} connect() failed "
                         f"(111: Connection refused) while connecting to upstream, client: {ip}, server: _, request: "
                         f"\"{http['method']} {http['path']} HTTP/1.1\", upstream: \"http://{upstream}{http['path']}\""
                         if http["status"] == 502 and "5432" in upstream else
                         f"{at:%Y/%m/%d %H:%M:%S} [error] 24#24: *{int(at.timestamp()) % 99999} upstream prematurely "
                         f"closed connection while reading response header from upstream, client: {ip}, server: _, "
                         f"request: \"{http['method']} {http['path']} HTTP/1.1\", upstream: \"http://{upstream}"
                         f"{http['path']}\"")
        return lines
    raise ValueError(f"unknown log format {fmt!r}")


def _logfmt(value: str) -> str:
    if value and all(c not in value for c in ' "=\n\t'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def detected_level(line: str) -> str:
    """Loki 3's per-line guess (``detected_level``): a level field or word, else "unknown"."""
    low = line[:120].lower()
    for word, level in (("error", "error"), ("exception", "error"), ("fatal", "fatal"), ("panic", "critical"),
                        ("critical", "critical"), ("warn", "warn"), ("info", "info"), ("debug", "debug")):
        if f"level={word}" in low or f'"level": "{word}' in low or f" {word.upper()} " in line[:60] \
                or f"\t{word.upper()}\t" in line[:60]:
            return level
    if line[:1] in "EFW" and line[1:5].isdigit():
        return {"E": "error", "F": "fatal", "W": "warn"}[line[0]]
    if line[:1] == "I" and line[1:5].isdigit():
        return "info"
    if "Error:" in line or "Exception:" in line or line.startswith("panic:"):
        return "error"
    return "unknown"


def at_time(now: datetime, minutes: float) -> datetime:
    return now + timedelta(minutes=minutes)


if __name__ == "__main__":  # python bench/eval/generator.py 4711  → the scenario as JSON
    import sys

    for arg in sys.argv[1:] or ["0"]:
        print(json.dumps(json.loads(generate(int(arg)).to_json()), indent=1))
