"""The built-in incident scenario, ``bad_deploy``, generated relative to ``now``.

The story (``../shared/fixtures/upstream/README.md``, shifted to now)::

    now-2 d     ArgoCD history 11  v2.14.1
    now-26 h    ArgoCD history 12  v2.14.2   previous healthy revision
    now-6 min   ArgoCD history 13  v2.14.3   by alice; pool orders-db max 10 (current, Degraded)
    now-3 min   onset: p99 0.2 s → 8.2 s, error ratio 0.1 % → 12 %; logs "timeout acquiring
                connection from pool" (orders-db) and "POST /api/checkout 503"; erroring traces
                POST /api/checkout → SELECT orders (orders-db, 5 s, error)

``argocd_shape`` picks how the ArgoCD application tracks its source, as real setups do
(``../shared/fixtures/upstream/argocd/``): ``tag`` (each deploy its own tag, the default), ``branch``
(``targetRevision: HEAD``, deploys told apart by sha only), ``helm`` (a Helm repository chart; the
chart version is the revision) or ``multi`` (a chart plus a ``ref: values`` git repo; the culprit is a
values-only commit). In every shape history 13 runs image ``v2.14.3`` and 12 runs ``v2.14.2``, and
``manifests()`` / ``revision_metadata()`` answer what ArgoCD's manifests and revision metadata
endpoints would.

Everything is deterministic for a given ``seed`` and cheap (a few hundred log lines, ten traces,
metric values computed on demand). Timestamps are relative to ``now``: ``Scenario.at(t)`` is the same
story ending at ``t``. ``ScenarioFeed`` hands the fakes the scenario to serve: a fixed one (tests), or
one that follows the clock (``live=True``, the demo).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from bot.models import utcnow

MINUTE = 60.0
HOUR = 3600.0

#: the named queries Sitrep runs (``bot.settings.DEFAULT_PROMQL``) and what each looks like
METRIC_NAMES = ("request_rate", "error_ratio", "p99_latency", "cpu", "memory", "restarts")


@dataclass(frozen=True, slots=True)
class MetricShape:
    baseline: float
    incident: float
    jitter: float  # relative noise, ±


METRICS: dict[str, MetricShape] = {
    "request_rate": MetricShape(42.0, 39.5, 0.04),  # req/s
    "error_ratio": MetricShape(0.001, 0.12, 0.08),
    "error_rate": MetricShape(0.042, 4.74, 0.08),  # 5xx req/s: ratio × rate
    "p99_latency": MetricShape(0.2, 8.2, 0.03),  # seconds
    "cpu": MetricShape(0.35, 0.36, 0.04),  # cores
    "memory": MetricShape(536_870_912.0, 541_000_000.0, 0.005),  # bytes
    "restarts": MetricShape(0.0, 0.0, 0.0),
    "up": MetricShape(1.0, 1.0, 0.0),
    # saturation: healthy levels; a series a story leaves out (no shape) answers no series at all
    "cpu_throttling": MetricShape(0.02, 0.02, 0.1),  # share of CFS periods throttled
    "memory_vs_limit": MetricShape(0.25, 0.252, 0.005),  # working set / limit (2 GiB)
    "probe_success": MetricShape(1.0, 1.0, 0.0),
    "cert_expiry_days": MetricShape(61.0, 61.0, 0.0),
}
#: PromQL filters (``> 0 and …``, ``>= on … max``): no sample where the value is 0 (not OOMKilled, below max)
FILTER_SERIES = frozenset({"oom_killed", "hpa_at_max"})


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One Loki entry: its stream labels, time (unix ns) and line."""

    labels: tuple[tuple[str, str], ...]
    ts_ns: int
    line: str

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


#: how an ArgoCD application tracks its source (``Scenario.argocd_shape``)
ArgoCDShape = Literal["tag", "branch", "helm", "multi"]
ARGOCD_SHAPES: tuple[str, ...] = ("tag", "branch", "helm", "multi")
GIT_REPO_URL = "https://github.com/example/shop-deploy.git"
CHART_REPO_URL = "https://charts.example.com"
VALUES_REPO_URL = "https://github.com/example/platform-values.git"
#: the branch the ``multi`` shape's values source tracks
VALUES_BRANCH = "main"
OLDEST_SHA = "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
#: chart versions of history 11, the previous and the culprit deploy
CHART_VERSIONS: dict[str, tuple[str, str, str]] = {
    "helm": ("1.8.0", "1.8.1", "1.9.0"),
    "multi": ("1.11.4", "1.12.0", "1.12.0"),  # the culprit is a values-only commit
}
TRACKING_ID = "argocd.argoproj.io/tracking-id"
#: what ArgoCD puts in place of every Secret value it serves (gitops-engine ``diff.HideSecretData``)
SECRET_MASK = "++++++++"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ``status.history`` entry. ``revision`` identifies the deploy: the git sha (for a
    multi-source app the values repo's sha) or, for a Helm repository source, the chart version."""

    id: int
    revision: str
    target_revision: str  # the (first) source's targetRevision: a tag, "HEAD" or a chart version
    deployed_at: datetime
    initiated_by: dict[str, Any]
    release: str = ""  # the image tag it runs (v2.14.2); "" means target_revision
    chart_version: str = ""  # helm and multi
    broken: bool = False  # runs the culprit's configuration
    started_at: datetime | None = None  # deployStartedAt; None: 14 s before deployed_at

    @property
    def image_tag(self) -> str:
        return self.release or self.target_revision


@dataclass(frozen=True)
class Scenario:
    """``bad_deploy``: what the fakes serve and what tests assert against. The other stories
    (``bot.sandbox.stories``) are subclasses that change the metrics, logs, traces and history."""

    #: the alert that fires, its summary and severity
    alert_name: ClassVar[str] = "HighLatencyP99"
    alert_summary: ClassVar[str] = "{service} p99 latency above 2s"
    severity: ClassVar[str] = "critical"
    #: the shape of every series (baseline before the onset, incident level after)
    shapes: ClassVar[dict[str, MetricShape]] = METRICS
    #: whether the culprit deploy (history 13) happened; without it the previous revision runs
    deployed_recently: ClassVar[bool] = True

    now: datetime = field(default_factory=utcnow)
    seed: int = 7
    name: str = "bad_deploy"
    service: str = "checkout"
    namespace: str = "shop"
    app: str = "checkout"
    culprit_revision: str = "v2.14.3"
    culprit_history_id: int = 13
    culprit_sha: str = "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"
    previous_revision: str = "v2.14.2"
    previous_history_id: int = 12
    previous_sha: str = "8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"
    deployed_by: str = "alice"
    root_cause_service: str = "checkout"
    failing_dependency: str = "orders-db"
    pool_max: int = 10
    #: how far back the fakes have log lines and traces
    history: timedelta = timedelta(hours=1)
    #: unix time a rollback fixed it (the demo's ArgoCD sets it); metrics are back to baseline after
    recovered_at: float | None = None
    #: how the ArgoCD application tracks its source: "tag", "branch", "helm" or "multi"
    argocd_shape: str = "tag"

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:  # a naive time is taken as UTC, never as local time
            object.__setattr__(self, "now", self.now.replace(tzinfo=UTC))
        if self.argocd_shape not in ARGOCD_SHAPES:
            raise ValueError(f"argocd_shape must be one of {', '.join(ARGOCD_SHAPES)}, "
                             f"got {self.argocd_shape!r}")

    # ------------------------------------------------------------------ the timeline

    @property
    def deployed_at(self) -> datetime:
        return self.now - timedelta(minutes=6)

    @property
    def onset(self) -> datetime:
        return self.now - timedelta(minutes=3)

    @property
    def now_s(self) -> float:
        return self.now.timestamp()

    @property
    def onset_s(self) -> float:
        return self.onset.timestamp()

    def at(self, now: datetime) -> Scenario:
        """The same story ending at ``now``."""
        return replace(self, now=now)

    @cached_property
    def argocd_history(self) -> list[HistoryEntry]:
        """Oldest first, as ArgoCD lists it."""
        oldest, previous, culprit = CHART_VERSIONS.get(self.argocd_shape, ("", "", ""))
        history = [
            self._history_entry(11, OLDEST_SHA, "v2.14.1", oldest,
                                _second(self.now - timedelta(days=2, minutes=17)), {"username": "admin"}),
            self._history_entry(self.previous_history_id, self.previous_sha, self.previous_revision, previous,
                                _second(self.now - timedelta(hours=26, minutes=4)), {"automated": True}),
            self._history_entry(self.culprit_history_id, self.culprit_sha, self.culprit_revision, culprit,
                                _second(self.deployed_at), {"username": self.deployed_by}, broken=True),
        ]
        return history if self.deployed_recently else history[:-1]

    def _history_entry(self, id: int, sha: str, release: str, chart: str, at: datetime,
                       by: dict[str, Any], *, broken: bool = False) -> HistoryEntry:
        shape = self.argocd_shape
        if shape == "helm":  # a Helm repository has no commits: the chart version is the revision
            return HistoryEntry(id, chart, chart, at, by, release, chart, broken)
        target = {"tag": release, "branch": "HEAD"}.get(shape, chart)
        return HistoryEntry(id, sha, target, at, by, release, chart, broken)

    def new_deploy(self, current: HistoryEntry, *, release: str, revision: str | None, at: datetime,
                   by: str) -> HistoryEntry:
        """A deploy after ``current`` that runs image ``release`` (a control deploy, or a sync to a
        revision outside the history); its id is set when it joins a history."""
        sha = revision or hashlib.sha1(release.encode()).hexdigest()
        who = {"username": by}
        if self.argocd_shape == "helm":
            newest = max([current.chart_version, *CHART_VERSIONS["helm"]], key=_version_key)
            chart = revision or _next_patch(newest)
            return HistoryEntry(0, chart, chart, at, who, release, chart, started_at=at)
        target = {"tag": release, "branch": "HEAD"}.get(self.argocd_shape, current.chart_version)
        return HistoryEntry(0, sha, target, at, who, release, current.chart_version, started_at=at)

    @property
    def rollback_revision(self) -> str:
        """How Sitrep names the previous deploy in a rollback: its git sha (tag, branch), its chart
        version (helm) or its values repo sha (multi)."""
        return CHART_VERSIONS["helm"][1] if self.argocd_shape == "helm" else self.previous_sha

    @property
    def culprit_identity(self) -> str:
        """The culprit deploy's identity, as ``rollback_revision`` is the previous one's."""
        return CHART_VERSIONS["helm"][2] if self.argocd_shape == "helm" else self.culprit_sha

    @property
    def degraded(self) -> bool:
        """ArgoCD reports the app Degraded (the bad deploy's rollout never became healthy)."""
        return self.deployed_recently and self.recovered_at is None

    # ------------------------------------------------------------------ ArgoCD

    def argocd_application(self, history: Sequence[HistoryEntry] | None = None) -> dict[str, Any]:
        """The ``v1alpha1Application`` body of ``GET /api/v1/applications/checkout``, shaped like
        ``application.json`` (tag), ``application_branch_tracking.json``, ``application_helm.json`` or
        ``application_multi_source.json``. ``history``: the entries to show (the fake ArgoCD's, with
        the deploys made after the scenario's own); the newest is what runs."""
        shape = self.argocd_shape
        entries = list(self.argocd_history if history is None else history)
        health = ({"status": "Degraded",
                   "message": f'Deployment "{self.service}" exceeded its progress deadline'}
                  if self.degraded else {"status": "Healthy"})
        current = entries[-1]
        multi = shape == "multi"
        destination = {"server": "https://kubernetes.default.svc", "namespace": self.namespace}

        def entry_body(entry: HistoryEntry) -> dict[str, Any]:
            started = entry.started_at or entry.deployed_at - timedelta(seconds=14)
            body: dict[str, Any] = {"id": entry.id}
            if not multi:
                body["revision"] = entry.revision
            body["deployedAt"] = _rfc3339(entry.deployed_at)
            body["deployStartedAt"] = _rfc3339(started)
            body["source"] = self._argocd_source(entry)
            if multi:
                body["sources"] = self._argocd_sources(entry)
                body["revisions"] = [entry.chart_version, entry.revision]
            body["initiatedBy"] = dict(entry.initiated_by)
            return body

        history_bodies = [entry_body(entry) for entry in entries]
        metadata: dict[str, Any] = {
            "name": self.app,
            "namespace": "argocd",
            "uid": "6a1f0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b",
            "resourceVersion": "884213",
            "generation": 57,
            "creationTimestamp": "2025-06-02T10:11:12Z",
            "labels": {"team": "payments"},
        }
        sync_policy: dict[str, Any] = {"automated": {"prune": True, "selfHeal": True}}
        spec: dict[str, Any] = {"project": self.namespace}
        if multi:
            spec["sources"] = self._argocd_sources(current)
        else:
            spec["source"] = self._argocd_source(current)
        spec["destination"] = dict(destination)
        spec["syncPolicy"] = sync_policy
        compared: dict[str, Any] = {"source": self._argocd_source(current), "destination": dict(destination)}
        sync: dict[str, Any] = {"status": "Synced", "comparedTo": compared}
        if multi:
            compared["sources"] = self._argocd_sources(current)
            sync["revisions"] = [current.chart_version, current.revision]
        else:
            sync["revision"] = current.revision
        operation_sync: dict[str, Any] = {"revision": current.revision}
        sync_result: dict[str, Any] = {"resources": [], "revision": current.revision,
                                       "source": self._argocd_source(current)}
        operation: dict[str, Any] = {"sync": operation_sync, "initiatedBy": dict(current.initiated_by),
                                     "retry": {"limit": 5}}
        resources: list[dict[str, Any]] = [
            {
                "group": "apps", "version": "v1", "kind": "Deployment",
                "namespace": self.namespace, "name": self.service, "status": "Synced",
                "health": health,
            },
            {"version": "v1", "kind": "ConfigMap", "namespace": self.namespace,
             "name": f"{self.service}-config", "status": "Synced"},
            {"version": "v1", "kind": "Service", "namespace": self.namespace,
             "name": self.service, "status": "Synced", "health": {"status": "Healthy"}},
        ]
        images = [f"registry.example.com/{self.namespace}/{self.service}:{current.image_tag}"]
        if shape != "tag":  # the newer, fuller shapes of the second batch of fixtures
            metadata["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
            resources = self._argocd_resources(health)
            images = sorted(self._images(current))
            options = {"branch": ["ServerSideApply=true"], "multi": ["CreateNamespace=true"]}.get(shape)
            if options:
                sync_policy["syncOptions"] = list(options)
            verb = "serverside-applied" if shape == "branch" else "configured"
            sync_result["resources"] = [
                {"group": r.get("group", ""), "version": r["version"], "kind": r["kind"],
                 "namespace": r["namespace"], "name": r["name"], "status": "Synced",
                 "message": f"{r['kind'].lower()}{'.' + r['group'] if r.get('group') else ''}/{r['name']} "
                            f"{verb if r['kind'] in ('ConfigMap', 'Secret', 'Deployment') else 'unchanged'}",
                 "hookPhase": "Running", "syncPhase": "Sync"}
                for r in resources
            ]
            if shape == "helm":
                operation_sync["syncStrategy"] = {"hook": {}}
                operation_sync["source"] = self._argocd_source(current)
                del operation["retry"]  # a person's sync: no automated retry
            else:
                operation_sync["prune"] = True
                if multi:
                    del operation_sync["revision"]
                    operation_sync["sources"] = self._argocd_sources(current)
                    operation_sync["revisions"] = [current.chart_version, current.revision]
                    sync_result["revision"] = ""
                    sync_result["sources"] = self._argocd_sources(current)
                    sync_result["revisions"] = [current.chart_version, current.revision]
                else:
                    operation_sync["source"] = self._argocd_source(current)
                operation_sync["syncOptions"] = list(sync_policy["syncOptions"])
        status: dict[str, Any] = {
            "resources": resources,
            "sync": sync,
            "health": {
                "status": health["status"],
                "lastTransitionTime": _rfc3339(self.onset + timedelta(seconds=20) if self.degraded
                                               else current.deployed_at),
            },
            "history": history_bodies,
            "reconciledAt": _rfc3339(self.now),
            "operationState": {
                "operation": operation,
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "syncResult": sync_result,
                "startedAt": history_bodies[-1]["deployStartedAt"],
                "finishedAt": history_bodies[-1]["deployedAt"],
            },
        }
        if multi:
            status["summary"] = {"images": images}
            status["sourceTypes"] = ["Helm", ""]
        else:
            status["sourceType"] = "Helm" if shape == "helm" else "Kustomize"
            status["summary"] = {"images": images}
        if shape != "tag":
            status["resourceHealthSource"] = "appTree"
            status["controllerNamespace"] = "argocd"
        return {"metadata": metadata, "spec": spec, "status": status}

    def _argocd_source(self, entry: HistoryEntry) -> dict[str, Any]:
        """The singular ``source`` of an entry (``{"repoURL": ""}`` for a multi-source app)."""
        if self.argocd_shape == "multi":
            return {"repoURL": ""}
        if self.argocd_shape == "helm":
            return {"repoURL": CHART_REPO_URL, "targetRevision": entry.chart_version,
                    "helm": {"valueFiles": ["values-prod.yaml"], "releaseName": self.service,
                             "parameters": [{"name": "replicaCount", "value": "3"}]},
                    "chart": self.service}
        return {"repoURL": GIT_REPO_URL, "path": f"apps/{self.app}", "targetRevision": entry.target_revision}

    def _argocd_sources(self, entry: HistoryEntry) -> list[dict[str, Any]]:
        """A multi-source entry's ``sources``: the chart, then the values repository."""
        return [
            {"repoURL": CHART_REPO_URL, "targetRevision": entry.chart_version,
             "helm": {"valueFiles": [f"$values/{self.service}/prod/values.yaml"], "releaseName": self.service},
             "chart": self.service},
            {"repoURL": VALUES_REPO_URL, "targetRevision": VALUES_BRANCH, "ref": "values"},
        ]

    def _argocd_resources(self, health: dict[str, Any]) -> list[dict[str, Any]]:
        ns, name = self.namespace, self.service
        return [
            {"version": "v1", "kind": "ConfigMap", "namespace": ns, "name": f"{name}-config", "status": "Synced"},
            {"version": "v1", "kind": "Secret", "namespace": ns, "name": f"{name}-db", "status": "Synced"},
            {"version": "v1", "kind": "Service", "namespace": ns, "name": name, "status": "Synced",
             "health": {"status": "Healthy"}},
            {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": ns, "name": name,
             "status": "Synced", "health": dict(health)},
            {"group": "autoscaling", "version": "v2", "kind": "HorizontalPodAutoscaler", "namespace": ns,
             "name": name, "status": "Synced",
             "health": {"status": "Healthy", "message": "recommended size matches current size"}},
        ]

    def _images(self, entry: HistoryEntry) -> list[str]:
        """The images the entry runs, init containers included (the ``tag`` shape has none)."""
        image = f"registry.example.com/{self.namespace}/{self.service}"
        if self.argocd_shape == "tag":
            return [f"{image}:{entry.image_tag}"]
        return [f"{image}:{entry.image_tag}", f"{image}-migrate:{entry.image_tag}"]

    def deploy_for(self, revision: str | Sequence[str] | None = None, *,
                   history: Sequence[HistoryEntry] | None = None) -> HistoryEntry:
        """The history entry ``revision`` names, newest first: a sha (or a prefix of 7+ hex digits), a
        chart version, a tag (``tag`` shape), the tracked branch (the newest entry), or for a
        multi-source app ``[chart version, values revision]``. None: the newest. KeyError if none."""
        entries = list(self.argocd_history if history is None else history)
        current = entries[-1]
        if revision is None or revision == "":
            return current
        if not isinstance(revision, str):
            wanted = list(revision)
            if self.argocd_shape == "multi" and len(wanted) == 2:
                if wanted[0] not in {e.chart_version for e in entries}:
                    raise KeyError(wanted[0])
                revision = wanted[1]  # the values decide what runs: image tag and configuration
            elif len(wanted) == 1:
                revision = wanted[0]
            else:
                raise KeyError(repr(wanted))
        branches = {"branch": ("HEAD",), "multi": (VALUES_BRANCH, "HEAD")}.get(self.argocd_shape, ())
        if revision in branches:
            return current
        for entry in reversed(entries):
            if revision == entry.revision or (self.argocd_shape == "tag" and revision == entry.target_revision):
                return entry
        if self.argocd_shape != "helm" and _is_short_sha(revision):
            for entry in reversed(entries):
                if entry.revision.startswith(revision.lower()):
                    return entry
        raise KeyError(revision)

    def manifests(self, revision: str | Sequence[str] | None = None, *,
                  history: Sequence[HistoryEntry] | None = None) -> list[str]:
        """``GET /api/v1/applications/{app}/manifests``' ``manifests``: compact JSON with sorted keys,
        each with its tracking-id annotation, Secret values masked as ArgoCD masks them
        (``manifests_current.json``). The culprit changes DB_POOL_MAX, FEATURE_GIFT_CARDS,
        UPSTREAM_TIMEOUT, the image and adds a Secret key. KeyError for an unknown revision."""
        entry = self.deploy_for(revision, history=history)
        return [json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
                for obj in self._objects(entry)]

    def _objects(self, entry: HistoryEntry) -> list[dict[str, Any]]:
        ns, name, broken = self.namespace, self.service, entry.broken
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": ns}

        def metadata(group: str, kind: str, object_name: str) -> dict[str, Any]:
            return {"annotations": {TRACKING_ID: f"{self.app}:{group}/{kind}:{ns}/{object_name}"},
                    "labels": dict(labels), "name": object_name, "namespace": ns}

        database = self.failing_dependency or f"{name}-db"
        config = {
            "DB_HOST": f"{database}.{ns}.svc.cluster.local",
            "DB_NAME": name,
            "DB_POOL_MAX": str(self.pool_max) if broken else "50",
            "DB_POOL_TIMEOUT_MS": "5000",
            "FEATURE_GIFT_CARDS": "true" if broken else "false",
            "LOG_LEVEL": "info",
        }
        secret = {"DB_PASSWORD": _b64(f"{name}-{self.seed}-s3cret"), "DB_USER": _b64(name)}
        if broken:
            secret["DB_PASSWORD_ROTATED"] = _b64(f"{name}-{self.seed}-r0tated")
        env_from = [{"configMapRef": {"name": f"{name}-config"}}, {"secretRef": {"name": f"{name}-db"}}]
        image, *init_images = self._images(entry)
        container = {
            "env": [{"name": "OTEL_SERVICE_NAME", "value": name},
                    {"name": "UPSTREAM_TIMEOUT", "value": "3s" if broken else "30s"}],
            "envFrom": env_from,
            "image": image,
            "livenessProbe": {"failureThreshold": 3, "httpGet": {"path": "/healthz", "port": "http"},
                              "periodSeconds": 10, "timeoutSeconds": 2},
            "name": name,
            "ports": [{"containerPort": 8080, "name": "http"}],
            "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": "/readyz", "port": "http"},
                               "periodSeconds": 5},
            "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "250m", "memory": "512Mi"}},
        }
        pod: dict[str, Any] = {"containers": [container]}
        if init_images:
            pod["initContainers"] = [{"args": ["migrate", "up"], "envFrom": env_from, "image": init_images[0],
                                      "name": "migrate"}]
        return [
            {"apiVersion": "v1", "data": config, "kind": "ConfigMap",
             "metadata": metadata("", "ConfigMap", f"{name}-config")},
            hide_secret_data({"apiVersion": "v1", "data": secret, "kind": "Secret",
                              "metadata": metadata("", "Secret", f"{name}-db"), "type": "Opaque"}),
            {"apiVersion": "v1", "kind": "Service", "metadata": metadata("", "Service", name),
             "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                      "selector": {"app.kubernetes.io/name": name}}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata("apps", "Deployment", name),
             "spec": {"replicas": 3, "revisionHistoryLimit": 5,
                      "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                      "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
                                   "type": "RollingUpdate"},
                      "template": {"metadata": {"labels": dict(labels)}, "spec": pod}}},
            {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
             "metadata": metadata("autoscaling", "HorizontalPodAutoscaler", name),
             "spec": {"maxReplicas": 10, "minReplicas": 3,
                      "metrics": [{"resource": {"name": "cpu", "target": {"averageUtilization": 70,
                                                                          "type": "Utilization"}},
                                   "type": "Resource"}],
                      "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}}},
        ]

    def revision_metadata(self, sha: str, *, history: Sequence[HistoryEntry] | None = None
                          ) -> dict[str, Any] | None:
        """``GET …/revisions/{sha}/metadata`` for a commit in the history (``revision_metadata.json``):
        ``author`` "Name <email>", the author ``date``, ``tags`` only when a tag points at the commit,
        ``message``. None for an unknown sha, and always for a Helm repository (it has no commits)."""
        if self.argocd_shape == "helm" or not _is_short_sha(sha):
            return None
        entries = list(self.argocd_history if history is None else history)
        entry = next((e for e in entries if e.revision == sha.lower()), None) or next(
            (e for e in entries if e.revision.startswith(sha.lower())), None)
        if entry is None:
            return None
        name = self.service
        tags: list[str] = []
        if entry.broken:
            author = f"{self.deployed_by.capitalize()} Example <{self.deployed_by}@example.com>"
            message = (f"{name}: release {entry.image_tag} (#731)\n\n"
                       f"* bump {name} images to {entry.image_tag}\n"
                       f"* DB_POOL_MAX 50 -> {self.pool_max} per pod ahead of the pgbouncer rollout\n"
                       f"* UPSTREAM_TIMEOUT 30s -> 3s\n"
                       f"* add DB_PASSWORD_ROTATED for the credential rotation\n"
                       f"* turn on FEATURE_GIFT_CARDS")
            tags = [f"{name}-{entry.image_tag}"]
        elif entry.revision == self.previous_sha:
            author = "Dana Kim <dana.kim@example.com>"
            message = f"{name}: release {entry.image_tag} (#724)\n\n* bump {name} images to {entry.image_tag}"
        elif entry.revision == OLDEST_SHA:
            author = "Sam Ortiz <sam.ortiz@example.com>"
            message = f"{name}: release {entry.image_tag} (#719)"
        else:
            who = str(entry.initiated_by.get("username") or "someone")
            author = f"{who} <{who.split('@')[0]}@example.com>"
            message = f"{name}: release {entry.image_tag}"
        if self.argocd_shape == "tag":
            tags = [entry.target_revision]  # the tag the app tracks points at the commit
        original = next((e for e in entries if e.revision == entry.revision), entry)
        metadata: dict[str, Any] = {
            "author": author,
            "date": _rfc3339(original.deployed_at - timedelta(minutes=2, seconds=7)),
        }
        if tags:
            metadata["tags"] = tags
        metadata["message"] = message
        return metadata

    def chart_details(self, version: str) -> dict[str, Any] | None:
        """``GET …/revisions/{version}/chartdetails`` for a chart version the app deployed (helm, multi)."""
        if version not in CHART_VERSIONS.get(self.argocd_shape, ()):
            return None
        return {"description": f"The {self.service} service of the {self.namespace} platform",
                "home": f"https://github.com/example/charts/tree/main/charts/{self.service}",
                "maintainers": ["Platform Team <platform@example.com>"]}

    # ------------------------------------------------------------------ Prometheus

    def metric_value(self, name: str, at: float) -> float:
        """The value of metric ``name`` at unix time ``at`` (baseline before the onset)."""
        shape = self.shapes[name]
        failing = at >= self.onset_s and (self.recovered_at is None or at < self.recovered_at)
        level = shape.incident if failing else shape.baseline
        if not shape.jitter:
            return level
        offset = round(at - self.now_s, 3)
        noise = _unit(f"{self.seed}:{name}:{offset}") * 2 - 1
        return round(level * (1 + shape.jitter * noise), 6)

    def metric_labels(self) -> dict[str, str]:
        return {"service": self.service, "namespace": self.namespace}

    def metric_points(self, name: str, *, start: float, end: float, step: float) -> list[list[Any]]:
        """``[[t, "value"], ...]`` at ``start + k·step`` up to ``end``, none in the future; none at all
        for a series this story has no shape for (nothing scrapes it)."""
        if name not in self.shapes:
            return []
        last = min(end, max(self.now_s, time.time()))
        count = int(math.floor((last - start) / step + 1e-9)) + 1 if last >= start else 0
        points = [
            [_num(t), _sample(self.metric_value(name, t))]
            for t in (start + k * step for k in range(count))
        ]
        return [p for p in points if p[1] != "0"] if name in FILTER_SERIES else points

    def firing_alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v1/alerts``'s ``data.alerts``."""
        return [
            {
                "labels": {"alertname": self.alert_name, "service": self.service,
                           "namespace": self.namespace, "severity": self.severity},
                "annotations": {"summary": self.alert_summary.format(service=self.service),
                                "runbook_url": f"https://runbooks.example.com/{self.service}"},
                "state": "firing",
                "activeAt": _rfc3339(self.onset + timedelta(seconds=30)),
                "value": f"{self.metric_value('p99_latency', self.now_s):.1e}",
            }
        ]

    # ------------------------------------------------------------------ Loki

    @cached_property
    def log_entries(self) -> list[LogEntry]:
        """Every log line of the last ``history``, oldest first (a few hundred)."""
        rng = random.Random(self.seed)
        start = self.now_s - self.history.total_seconds()
        deploy = self.deployed_at.timestamp()
        onset = self.onset_s
        old_pods = (f"{self.service}-6c8d7b5a4-q9w2e", f"{self.service}-6c8d7b5a4-m3n4b")
        new_pods = (f"{self.service}-7d9f8b6c5-x2k4q", f"{self.service}-7d9f8b6c5-p8r7t")
        error_traces = [t["traceID"] for t in self.jaeger_traces if _trace_failed(t)]
        entries: list[LogEntry] = []

        def emit(at: float, pod: str, fields: dict[str, Any]) -> None:
            moment = datetime.fromtimestamp(at, UTC)
            line = json.dumps({"ts": _rfc3339(moment), **fields}, separators=(",", ":"))
            labels = (("container", "app"), ("level", str(fields["level"])),
                      ("namespace", self.namespace), ("pod", pod), ("service", self.service))
            entries.append(LogEntry(labels, int(round(at * 1000)) * 1_000_000, line))

        t = start
        while t < self.now_s:
            pods = old_pods if t < deploy else new_pods
            pod = pods[rng.randrange(2)]
            if t < onset:
                if rng.random() < 0.85:
                    emit(t, pod, {"level": "info", "msg": "POST /api/checkout 200", "status": 200,
                                  "duration_ms": rng.randint(110, 260), "trace_id": _hex(rng, 32)})
                else:
                    emit(t, pod, {"level": "info", "msg": "order placed",
                                  "order_id": f"ord_{rng.randint(100000, 999999)}"})
                t += rng.uniform(12.0, 24.0) if t < deploy else rng.uniform(4.0, 8.0)
            else:
                trace_id = error_traces[rng.randrange(len(error_traces))] if rng.random() < 0.3 \
                    else _hex(rng, 32)
                if rng.random() < 0.55:
                    emit(t, pod, {"level": "error", "msg": "timeout acquiring connection from pool",
                                  "pool": self.failing_dependency, "max": self.pool_max,
                                  "in_use": self.pool_max, "wait_ms": 5000, "trace_id": trace_id})
                else:
                    emit(t, pod, {"level": "error", "msg": "POST /api/checkout 503", "status": 503,
                                  "duration_ms": rng.randint(5100, 8400), "trace_id": trace_id})
                t += rng.uniform(0.6, 1.4)
        # the rollout: old pods stop, new pods start with the new pool size
        for i, pod in enumerate(old_pods):
            emit(deploy - 20 + i, pod, {"level": "info", "msg": "shutting down", "signal": "SIGTERM"})
        for i, pod in enumerate(new_pods):
            emit(deploy - 2 + i, pod, {
                "level": "info",
                "msg": f"starting {self.service} version {self.culprit_revision} pool_max {self.pool_max}",
                "version": self.culprit_revision, "pool_max": self.pool_max,
            })
        entries.sort(key=lambda e: e.ts_ns)
        return entries

    # ------------------------------------------------------------------ Jaeger

    @cached_property
    def jaeger_traces(self) -> list[dict[str, Any]]:
        """Ten traces in Jaeger's ``/api/traces`` JSON: eight erroring after the onset, two healthy
        before it. Oldest first."""
        rng = random.Random(self.seed * 31 + 1)
        traces = [self._trace(rng, at=self.onset_s - 150 + i * 60, failed=False) for i in range(2)]
        traces += [self._trace(rng, at=self.onset_s + 8 + i * 20, failed=True) for i in range(8)]
        traces[2]["traceID"] = "4bf92f3577b34da6a3ce929d0e0e4736"  # the fixtures' trace id
        for span in traces[2]["spans"]:
            span["traceID"] = traces[2]["traceID"]
            for ref in span["references"]:
                ref["traceID"] = traces[2]["traceID"]
        return traces

    def _trace(self, rng: random.Random, *, at: float, failed: bool) -> dict[str, Any]:
        trace_id = _hex(rng, 32)
        start = int(at * 1_000_000)
        ids = [_hex(rng, 16) for _ in range(4)]
        db_ms = rng.randint(4990, 5030) if failed else rng.randint(6, 18)
        root_us = (db_ms + (rng.randint(180, 3200) if failed else rng.randint(120, 200))) * 1000

        def tag(key: str, value: Any) -> dict[str, Any]:
            kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
            return {"key": key, "type": kind, "value": value}

        def span(i: int, operation: str, parent: int | None, offset_us: int, duration_us: int,
                 process: str, tags: list[dict[str, Any]], logs: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
            refs = [] if parent is None else [{"refType": "CHILD_OF", "traceID": trace_id,
                                               "spanID": ids[parent]}]
            return {"traceID": trace_id, "spanID": ids[i], "operationName": operation,
                    "references": refs, "startTime": start + offset_us, "duration": duration_us,
                    "tags": tags, "logs": logs or [], "processID": process, "warnings": None, "flags": 1}

        root_tags = [tag("span.kind", "server"), tag("http.method", "POST"),
                     tag("http.status_code", 503 if failed else 200)]
        db_tags = [tag("span.kind", "server"), tag("db.system", "postgresql"),
                   tag("db.statement", "SELECT * FROM orders WHERE id = $1"),
                   tag("pool.max", self.pool_max)]
        db_logs: list[dict[str, Any]] = []
        if failed:
            root_tags.append(tag("error", True))
            db_tags.append(tag("error", True))
            db_logs = [{"timestamp": start + 15_000 + db_ms * 1000, "fields": [
                tag("event", "error"), tag("message", "timeout acquiring connection from pool")]}]
        spans = [
            span(0, "POST /api/checkout", None, 0, root_us, "p1", root_tags),
            span(1, "CartService/GetCart", 0, 1000, 12000, "p1", [tag("span.kind", "client")]),
            span(2, "CartService/GetCart", 1, 2000, 9000, "p2", [tag("span.kind", "server")]),
            span(3, "SELECT orders", 0, 15000, db_ms * 1000, "p3", db_tags, db_logs),
        ]
        return {
            "traceID": trace_id,
            "spans": spans,
            "processes": {
                "p1": {"serviceName": self.service, "tags": [
                    tag("hostname", f"{self.service}-7d9f8b6c5-x2k4q"), tag("ip", "10.42.3.17"),
                    tag("jaeger.version", "Go-2.30.0")]},
                "p2": {"serviceName": "cart", "tags": [tag("hostname", "cart-5c6d7e8f9-abcde")]},
                "p3": {"serviceName": self.failing_dependency,
                       "tags": [tag("hostname", f"{self.failing_dependency}-0")]},
            },
            "warnings": None,
        }

    @property
    def jaeger_services(self) -> list[str]:
        return sorted({"cart", self.service, "frontend", "payments", self.failing_dependency})


class ScenarioFeed:
    """The scenarios the fakes serve: ``fixed`` (the same ones every request) or ``live`` (each story
    re-anchored to the clock, so "deployed 6 minutes ago" stays true in a long-running demo).

    Several scenarios (the demo's) are served side by side, one service each: the fakes answer a
    query from the scenario whose service it selects. ``current()`` is the first, the one tests use.
    """

    def __init__(self, scenario: Scenario | Sequence[Scenario] | None = None, *, live: bool = False) -> None:
        if scenario is None:
            scenario = Scenario()
        self._scenarios = [scenario] if isinstance(scenario, Scenario) else list(scenario)
        if not self._scenarios:
            raise ValueError("a feed needs at least one scenario")
        services = [s.service for s in self._scenarios]
        if len(set(services)) != len(services):
            raise ValueError(f"scenarios served together need distinct services, got {services}")
        self._live = live
        self._merged: tuple[tuple[Any, ...], list[LogEntry]] | None = None
        self._given = tuple(self._scenarios)

    @property
    def live(self) -> bool:
        return self._live

    def recover(self, at: float, *, service: str | None = None) -> None:
        """The fix landed at unix time ``at``: from then on the metrics of ``service``'s scenario (the
        first scenario's when None) are back to baseline."""
        for i, scenario in enumerate(self._scenarios):
            if scenario.service == service or (service is None and i == 0):
                self._scenarios[i] = replace(scenario, recovered_at=at)

    def restart(self, now: datetime | None = None) -> None:
        """Every story as it was given, moved to end at ``now`` (the clock's now when None): what a new
        feed of the same scenarios serves (a fix recorded by ``recover`` is forgotten)."""
        now = now if now is not None else utcnow()
        self._scenarios = [s.at(now) for s in self._given]

    def current(self) -> Scenario:
        return self.all()[0]

    def all(self) -> list[Scenario]:
        if self._live:
            now = utcnow().replace(microsecond=0)
            self._scenarios = [s if s.now == now else s.at(now) for s in self._scenarios]
        return list(self._scenarios)

    def for_service(self, service: str) -> Scenario | None:
        return next((s for s in self.all() if s.service == service), None)

    def log_entries(self) -> list[LogEntry]:
        """Every scenario's log lines, oldest first."""
        scenarios = self.all()
        if len(scenarios) == 1:
            return scenarios[0].log_entries
        key = tuple((s.name, s.now, s.recovered_at) for s in scenarios)
        if self._merged is None or self._merged[0] != key:
            merged = sorted((e for s in scenarios for e in s.log_entries), key=lambda e: e.ts_ns)
            self._merged = (key, merged)
        return self._merged[1]

    def jaeger_traces(self) -> list[dict[str, Any]]:
        return [trace for s in self.all() for trace in s.jaeger_traces]


# ---------------------------------------------------------------------------- helpers


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hide_secret_data(manifest: dict[str, Any]) -> dict[str, Any]:
    """A Secret as ArgoCD serves it (gitops-engine ``diff.HideSecretData`` with no live object):
    ``stringData`` moves into ``data`` and every ``data`` value becomes ``++++++++``; the keys stay."""
    if manifest.get("kind") != "Secret" or "/" in str(manifest.get("apiVersion", "v1")):
        return manifest
    hidden = dict(manifest)
    data = dict(hidden.pop("stringData", None) or {}, **(hidden.get("data") or {}))
    if data:
        hidden["data"] = {key: SECRET_MASK for key in data}
    return hidden


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _is_short_sha(text: str) -> bool:
    """A full or truncated commit sha as ArgoCD's repo server accepts it (7 or more hex digits)."""
    return len(text) >= 7 and all(c in "0123456789abcdefABCDEF" for c in text)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdecimal() else -1 for part in version.split("."))


def _next_patch(version: str) -> str:
    major, _, rest = version.rpartition(".")
    return f"{major}.{int(rest) + 1}" if major and rest.isdecimal() else f"{version}-1"


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _unit(key: str) -> float:
    """A deterministic number in [0, 1) for ``key``."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def _sample(value: float) -> str:
    """Prometheus writes sample values as strings (``"8.2"``, ``"NaN"``, ``"+Inf"``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _trace_failed(trace: dict[str, Any]) -> bool:
    return any(t["key"] == "error" and t["value"] is True for s in trace["spans"] for t in s["tags"])
