"""The rule-based brief: what Sitrep says when no model is configured or the model chain failed.

Honest by construction: it correlates timing only (symptom onset ↔ the deploy just before it),
names what it could not check, and never claims more than MEDIUM confidence.

    onset   = first metric point ≥3× its earlier median (p99 latency, error ratio), else the
              first error log line, else the first erroring trace
    culprit = the newest deploy at most ``deploy_lookback`` before the onset
    action  = rollback to the history entry before the culprit; else restart/manual
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.analyst.signals import (
    METRIC_LABEL,
    ONSET_RULES,
    ErrorSummary,
    FailingSpan,
    Onset,
    all_evidence,
    deploy_label,
    deploys_in_order,
    deepest_failing_span,
    first_error_trace,
    fmt_gap,
    fmt_metric,
    fmt_time,
    metric_onsets,
    previous_deploy,
    is_error_log,
    payloads,
    top_error,
    truncate,
)
from bot.deploy_history import rollback_params
from bot.analyst.causes import Cause, find_causes, service_of
from bot.manifests import describe_changes
from bot.models import ConfigChange, LogLine, MetricSeries, Trace
from bot.models import (
    Action,
    ActionKind,
    ActionTarget,
    BriefDraft,
    Category,
    Confidence,
    Deploy,
    Evidence,
    EvidenceRef,
    EvidenceSource,
    InvestigationRequest,
    RootCause,
    SourceName,
    SourceResult,
    SourceStatus,
)

#: (service, current replicas) → the most replicas the policy lets a scale ask for, or None
ReplicaCeiling = Callable[[str, int], int | None]

#: What to set so that a skipped source is collected (design.md, "Environment").
SOURCE_SETTINGS: dict[SourceName, str] = {
    SourceName.LOKI: "LOKI_URL",
    SourceName.PROMETHEUS: "PROMETHEUS_URL",
    SourceName.ARGOCD: "ARGOCD_URL and ARGOCD_TOKEN",
    SourceName.JAEGER: "JAEGER_URL",
    SourceName.KUBERNETES: "KUBERNETES_API_URL (or in-cluster config)",
}

#: A deploy that finished this long after the onset still counts (ArgoCD's deployedAt is when the
#: sync finished; new pods may serve traffic a little earlier).
DEPLOY_SKEW = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class _Onset:
    at: datetime
    phrase: str  # "p99 latency rose 195 ms → 8.4 s" / "the first error log line"
    evidence_id: str
    metric: Onset | None = None


@dataclass(frozen=True, slots=True)
class _Findings:
    onset: _Onset | None
    onsets: list[Onset]
    errors: ErrorSummary | None
    failing: FailingSpan | None
    culprit: tuple[Evidence, Deploy] | None
    previous: tuple[Evidence, Deploy] | None
    latest_deploy: tuple[Evidence, Deploy] | None
    #: a cause no rollback of the alerting service undoes (a certificate, a disk, a surge…), if any
    cause: Cause | None = None
    #: how well the culprit deploy's timing explains the onset: strong (≤ 15 min), medium (≤ 30 min),
    #: weak (later, kept only because the errors name the new version or its change)
    plausibility: str | None = None
    #: the last error line and failing trace are minutes old: whatever failed has stopped failing
    quiet_now: bool = False
    #: the service's logs and traces were read and show nothing failing: a metric alone says it
    healthy_otherwise: bool = False

    @property
    def transient(self) -> bool:
        """Every metric symptom has cleared, with no error line, failing trace or deploy behind it:
        a spike that is over (or a false alarm), not something to restart."""
        if self.culprit is not None or self.cause is not None or not all(o.cleared for o in self.onsets):
            return False
        failed = self.errors is not None or self.failing is not None
        # something showed (a metric that came back, or failures that stopped minutes ago)
        return (bool(self.onsets) or failed) and (not failed or self.quiet_now)


class DeterministicAnalyzer:
    """Builds a ``BriefDraft`` from evidence alone. Never raises on empty or partial input."""

    def __init__(self, *, deploy_lookback: timedelta = timedelta(hours=2),
                 replica_ceiling: ReplicaCeiling | None = None) -> None:
        self._lookback = deploy_lookback
        self._replica_ceiling = replica_ceiling

    def analyse(self, request: InvestigationRequest, results: Sequence[SourceResult]) -> BriefDraft:
        evidence = all_evidence(results)
        unknowns = [r.describe() for r in results if r.status is not SourceStatus.OK]
        # a partial answer says what is missing ("ArgoCD: the change of c4d5e6f is unknown (…)")
        unknowns += [f"{r.source.label}: {r.error}" for r in results if r.status is SourceStatus.OK and r.error]
        if not any(r.evidence for r in results):
            return _nothing_checked(request, results, unknowns)
        found = self._find(evidence, request)
        svc = request.service
        ref = request.window_end

        category, cause_service = _category(found, svc)
        confidence, score = _confidence(found)
        draft = BriefDraft(
            title=_title(found, svc),
            summary=_summary(found, ref=ref)[:3],
            category=category,
            root_cause=RootCause(
                statement=_statement(found, svc, ref=ref, lookback=self._lookback),
                service=cause_service,
                confidence=confidence,
                confidence_score=score,
            ),
            evidence=_refs(found, results),
            actions=_actions(found, request, ceiling=self._replica_ceiling),
            affected_services=_affected(found, svc),
            unknowns=unknowns,
            next_checks=_next_checks(found, results),
        )
        draft.actions = draft.sorted_actions()
        return draft

    # ------------------------------------------------------------------- findings

    def _find(self, evidence: list[Evidence], request: InvestigationRequest) -> _Findings:
        svc = request.service
        own = [item for item in evidence if service_of(item, svc) == svc]  # not a followed suspect's
        onsets = symptom_order(metric_onsets(own), request.message)
        errors = top_error(own) or top_error(evidence)
        failing = deepest_failing_span(evidence)
        onset: _Onset | None = None
        if onsets:
            first = onsets[0]
            onset = _Onset(first.at, f"{first.describe()}", first.evidence_id, first)
        elif errors is not None:
            onset = _Onset(errors.first_at, "the first error log line", errors.first_id)
        elif (trace := first_error_trace(evidence)) is not None:
            onset = _Onset(trace[1].start, "the first failing trace", trace[0].id)

        deploys = deploys_in_order(evidence)
        culprit, plausibility = None, None
        if onset is not None:
            before = [
                pair
                for pair in deploys
                if pair[1].deployed_at <= onset.at + DEPLOY_SKEW
                and onset.at - pair[1].deployed_at <= self._lookback
            ]
            for pair in reversed(before):
                plausibility = _plausibility(pair[1], onset, evidence)
                if plausibility is not None:
                    culprit = pair
                    break
        peer = failing.peer if failing and failing.service == svc else failing.service if failing else None
        cause = _deciding_cause(find_causes(evidence, service=svc, peer=peer), culprit=culprit,
                                plausibility=plausibility)
        if cause is not None and cause.kind in _NO_ROLLBACK:
            culprit, plausibility = None, None  # a rollback does not renew a certificate or free a disk
        if cause is not None and cause.kind == "memory_leak" and culprit is None and onset is not None:
            # a leak builds for a while: the release its memory growth starts from is the suspect
            memory = [series for _, series in payloads(own, MetricSeries) if series.name == "memory"]
            for pair in reversed(deploys):
                deploy = pair[1]
                if ((deploy.service or svc) == cause.service and deploy.deployed_at <= onset.at
                        and onset.at - deploy.deployed_at <= self._lookback and _growth_follows(deploy, memory)):
                    culprit, plausibility = pair, "strong"
                    break
        previous = previous_deploy(deploys, culprit[1]) if culprit else None
        latest = next((p for p in reversed(deploys) if p[1].current and (p[1].service or svc) == svc),
                      deploys[-1] if deploys else None)
        failures = [log.at for _, log in payloads(own, LogLine) if is_error_log(log)]
        failures += [t.start for _, t in payloads(evidence, Trace) if t.error or any(s.error for s in t.spans)]
        quiet_now = bool(failures) and max(failures) < request.window_end - QUIET_FOR
        logs_read = bool(payloads(own, LogLine))
        traces_read = bool(payloads(evidence, Trace))
        healthy_otherwise = logs_read and traces_read and not failures
        return _Findings(onset, onsets, errors, failing, culprit, previous, latest, cause, plausibility, quiet_now,
                         healthy_otherwise)


#: what the alert says it is about → the metric that is its own signal
_ALERT_SIGNALS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"latenc|p9\d|slow|duration", re.IGNORECASE), "p99_latency"),
    (re.compile(r"error|5xx|fail|availability", re.IGNORECASE), "error_ratio"),
    (re.compile(r"memory|oom|heap", re.IGNORECASE), "memory"),
)
#: causes a rollback never fixes
_NO_ROLLBACK = frozenset({"expired_certificate", "disk_full"})
STRONG_GAP = timedelta(minutes=15)
#: no error line and no failing trace for this long before the window's end: the failure stopped
QUIET_FOR = timedelta(minutes=3)
MEDIUM_GAP = timedelta(minutes=30)


def _growth_follows(deploy: Deploy, memory: list[MetricSeries]) -> bool:
    """Memory was at its old level when ``deploy`` went out and grew well past it afterwards (no
    memory series reaching back to the deploy: the timing alone)."""
    for series in memory:
        points = sorted((at, v) for at, v in series.points if math.isfinite(v))
        before = [v for at, v in points if at <= deploy.deployed_at]
        after = [v for at, v in points if at > deploy.deployed_at]
        if len(before) < 2 or not after:
            continue
        level = statistics.median(before)
        return level > 0 and before[-1] <= 1.15 * level and max(after) >= 1.5 * level
    return True


def symptom_order(onsets: list[Onset], alert_text: str | None) -> list[Onset]:
    """The symptom first: the alert's own signal, sustained shifts before peaks that cleared
    (a memory sum that doubles during a rollout is not the symptom), then earliest first."""
    wanted = [metric for pattern, metric in _ALERT_SIGNALS if alert_text and pattern.search(alert_text)]
    return sorted(onsets, key=lambda o: (o.cleared, o.metric not in wanted[:1], o.at))


def _plausibility(deploy: Deploy, onset: _Onset, evidence: Sequence[Evidence]) -> str | None:
    """strong within 15 min of the onset, medium within 30; beyond, weak and only when the error
    lines name the new version (its image tag, git tag or short sha) or a value its diff changed."""
    gap = onset.at - deploy.deployed_at
    if gap <= STRONG_GAP:
        return "strong"
    if gap <= MEDIUM_GAP:
        return "medium"
    names = {deploy.short, deploy.display_label, *deploy.git_tags}
    names |= {c.after for c in deploy.changes or [] if c.after and not c.hidden and len(c.after) >= 3}
    errors = [log.line for _, log in payloads(evidence, LogLine) if is_error_log(log)]
    if any(name and name in line for name in names for line in errors):
        return "weak"
    return None


def _deciding_cause(causes: list[Cause], *, culprit: tuple[Evidence, Deploy] | None,
                    plausibility: str | None) -> Cause | None:
    """A certificate or a full disk always decide; a surge, a leak or a dependency down only when no
    deploy explains the onset well (a leak after a deploy is the deploy's: rolled back first)."""
    for cause in causes:
        if cause.kind in _NO_ROLLBACK:
            return cause
    strong_deploy = culprit is not None and plausibility == "strong"
    for cause in causes:
        if cause.kind == "memory_leak":
            return cause
        if cause.kind in ("traffic_surge", "dependency_down") and not strong_deploy:
            return cause
    return None


# --------------------------------------------------------------------------- pieces


def _errors_agree(found: _Findings) -> bool:
    """Errors exist and did not start before the suspected deploy."""
    if found.culprit is None:
        return False
    deployed_at = found.culprit[1].deployed_at - DEPLOY_SKEW
    if found.errors is not None:
        return found.errors.first_at >= deployed_at
    return found.failing is not None


#: words too common in keys and error messages to tie a configuration change to an error
_GENERIC_WORDS = {"config", "value", "error", "errors", "failed", "service", "server", "enabled", "level", "name",
                  "size", "host", "port", "true", "false", "http", "https"}


def mentioned_change(found: _Findings) -> ConfigChange | None:
    """A configuration change of the culprit deploy that the top error message mentions (a word of
    its key of 4+ letters, like ``pool`` for ``DB_POOL_MAX`` in "timeout acquiring connection from
    pool"): strong evidence that the change caused the errors."""
    if found.culprit is None or not found.culprit[1].changes or found.errors is None:
        return None
    message = found.errors.message.lower()
    words = set(re.findall(r"[a-z]{4,}", message))
    for change in found.culprit[1].changes:
        if change.what.startswith(("image ", "Secret ")) or change.hidden:
            continue
        key = change.what.rsplit(" ", 1)[-1].lower()
        if {w for w in re.split(r"[^a-z]+", key) if len(w) >= 4} - _GENERIC_WORDS & words:
            return change
    return None


def _confidence(found: _Findings) -> tuple[Confidence, int]:
    cause = found.cause
    if cause is not None and cause.kind in _NO_ROLLBACK:
        # the error text itself says it ("certificate has expired"), or only a metric does
        said = cause.firsthand and any(i.startswith("logs") for i in cause.evidence_ids)
        return (Confidence.HIGH, 80) if said else (Confidence.MEDIUM, 60)
    if cause is not None and found.culprit is None:
        return Confidence.MEDIUM, {"traffic_surge": 65, "memory_leak": 60}.get(cause.kind, 50)
    if found.culprit and found.plausibility != "strong":
        return Confidence.LOW, 40 if found.plausibility == "medium" else 30
    if found.onset and found.onset.metric and found.culprit and _errors_agree(found):
        if mentioned_change(found) is not None:
            return Confidence.HIGH, 80
        return Confidence.MEDIUM, 60
    if found.culprit:
        return Confidence.LOW, 35
    if found.onset:
        return Confidence.LOW, 25
    return Confidence.LOW, 10


def _category(found: _Findings, svc: str) -> tuple[Category, str]:
    cause = found.cause
    if cause is not None and found.culprit is None:
        category = {"expired_certificate": Category.CONNECTIVITY, "disk_full": Category.RESOURCE_EXHAUSTION,
                    "traffic_surge": Category.RESOURCE_EXHAUSTION, "memory_leak": Category.RESOURCE_EXHAUSTION,
                    "dependency_down": Category.DEPENDENCY}[cause.kind]
        owner = cause.service
        if cause.kind == "dependency_down" and owner == svc and found.failing and found.failing.service != svc:
            owner = found.failing.service
        return category, owner
    if found.culprit:
        deploy = found.culprit[1]
        owner = deploy.service or svc
        if deploy.changes and all(not c.what.startswith("image ") for c in deploy.changes):
            return Category.CONFIG, owner
        return Category.DEPLOY_REGRESSION, owner
    if found.failing and found.failing.service != svc:
        return Category.DEPENDENCY, found.failing.service
    if found.onset and found.onset.metric:
        if found.onset.metric.metric == "p99_latency":
            return Category.LATENCY, svc
        if found.onset.metric.metric in ("memory", "cpu"):
            return Category.RESOURCE_EXHAUSTION, svc
        return Category.ERRORS, svc
    if found.onset:
        return Category.ERRORS, svc
    return Category.UNKNOWN, svc


def _deploy_phrase(deploy: Deploy, *, ref: datetime) -> str:
    return (
        f"{deploy.app} {deploy.ref} deployed at "
        f"{fmt_time(deploy.deployed_at, ref=ref)}"
    )


def _gap_phrase(deploy: Deploy, onset: _Onset) -> str:
    seconds = (onset.at - deploy.deployed_at).total_seconds()
    if seconds < 0:
        return f"{fmt_gap(seconds)} after"
    return f"{fmt_gap(seconds)} before"


def _onset_phrase(onset: _Onset, *, ref: datetime) -> str:
    if onset.metric is not None:
        label = METRIC_LABEL.get(onset.metric.metric, onset.metric.metric)
        m = onset.metric
        return (
            f"{label} rose {fmt_metric(m.metric, m.baseline)} → {fmt_metric(m.metric, m.peak)} "
            f"at {fmt_time(onset.at, ref=ref)}"
        )
    return f"{onset.phrase} at {fmt_time(onset.at, ref=ref)}"


def _statement(found: _Findings, svc: str, *, ref: datetime, lookback: timedelta) -> str:
    parts: list[str] = []
    onset = found.onset
    cause = found.cause
    if cause is not None:
        parts.append(_CAUSE_WORDS[cause.kind].format(service=cause.service, what=truncate(cause.what, 200)))
    if found.culprit and onset and found.plausibility != "strong":
        deploy = found.culprit[1]
        parts.append(f"{_deploy_phrase(deploy, ref=ref)}, {_gap_phrase(deploy, onset)} {_onset_phrase(onset, ref=ref)} "
                     f"— {'a loose' if found.plausibility == 'medium' else 'a weak'} link in time"
                     + ("" if found.plausibility == "medium" else ", kept because the errors name the new version"))
    elif found.culprit and onset:
        deploy = found.culprit[1]
        parts.append(
            f"{_deploy_phrase(deploy, ref=ref)}, {_gap_phrase(deploy, onset)} "
            f"{_onset_phrase(onset, ref=ref)}"
        )
    elif found.failing and found.failing.service != svc:
        f = found.failing
        parts.append(
            f"Requests of {svc} fail deepest at {f.service} ({f.operation}) in "
            f"{f.traces}/{f.erroring_traces} erroring traces; no deploy within "
            f"{fmt_gap(lookback.total_seconds())} before the onset"
        )
    elif found.transient and onset and onset.metric:
        m = onset.metric
        parts.append(
            f"{svc}: {_onset_phrase(onset, ref=ref)} and is back near its baseline "
            f"({fmt_metric(m.metric, m.last if m.last is not None else m.baseline)} now); no error "
            f"log lines, no failing traces and no deploy within {fmt_gap(lookback.total_seconds())}: "
            f"a transient spike or a false alarm"
        )
    elif onset:
        parts.append(
            f"{svc}: {_onset_phrase(onset, ref=ref)}; no deploy within "
            f"{fmt_gap(lookback.total_seconds())} before it and no clear cause in the evidence"
        )
    else:
        parts.append(f"No symptom found in the collected evidence for {svc}")
    if found.culprit and found.culprit[1].changes:
        change = mentioned_change(found)
        if change is not None:
            parts.append(f"it changed {change.line()}, which the errors mention")
        else:
            parts.append(f"it changed {describe_changes(found.culprit[1].changes, limit=3)}")
    if found.errors:
        e = found.errors
        parts.append(f'top error "{truncate(e.message, 120)}" ({e.count} of {e.total} error lines)')
    if found.failing and (found.culprit or found.failing.service == svc):
        f = found.failing
        parts.append(
            f"deepest failing span {f.service} {f.operation} ({f.duration_ms:.0f} ms) in "
            f"{f.traces}/{f.erroring_traces} erroring traces"
        )
    return "; ".join(parts) + "."


_CAUSE_WORDS = {
    "expired_certificate": "An expired TLS certificate at {service}: {what}; no rollback or restart renews it",
    "disk_full": "{service} is out of disk space: {what}",
    "traffic_surge": "A traffic surge on {service} that its autoscaling cannot absorb: {what}",
    "memory_leak": "{service} runs out of memory: {what}",
    "dependency_down": "A dependency of {service} is unreachable: {what}",
}


def _title(found: _Findings, svc: str) -> str:
    symptom = found.onsets[0].describe() if found.onsets else None
    if found.cause is not None and found.culprit is None:
        what = {"expired_certificate": "expired certificate", "disk_full": "disk full",
                "traffic_surge": "traffic surge", "memory_leak": "out of memory",
                "dependency_down": "dependency unreachable"}[found.cause.kind]
        where = f" at {found.cause.service}" if found.cause.service != svc else ""
        return f"{svc}: {symptom + ', ' if symptom else ''}{what}{where}"
    if found.culprit:
        label = deploy_label(found.culprit[1])
        return f"{svc}: {symptom} after deploy {label}" if symptom else f"{svc}: errors after deploy {label}"
    if found.failing and found.failing.service != svc:
        return f"{svc}: failing at {found.failing.service}"
    if symptom and found.transient:
        return f"{svc}: {symptom}, back to baseline"
    if symptom:
        return f"{svc}: {symptom}"
    if found.errors:
        return f"{svc}: {found.errors.total} error log lines"
    return f"{svc}: no clear symptom found"


def _summary(found: _Findings, *, ref: datetime) -> list[str]:
    bullets: list[str] = []
    if found.onsets:
        bullets.append(
            "; ".join(
                f"{o.describe()} at {fmt_time(o.at, ref=ref)}" for o in found.onsets[:2]
            )
        )
    if found.culprit and found.onset:
        deploy = found.culprit[1]
        text = (
            f"{deploy.app} {deploy.ref} deployed at "
            f"{fmt_time(deploy.deployed_at, ref=ref)}, {_gap_phrase(deploy, found.onset)} the onset"
        )
        if found.previous:
            prev = found.previous[1]
            text += (
                f"; previous {prev.ref} since "
                f"{fmt_time(prev.deployed_at, ref=ref)}"
            )
        bullets.append(text)
    elif found.latest_deploy:
        deploy = found.latest_deploy[1]
        bullets.append(
            f"Latest deploy {deploy.ref} at "
            f"{fmt_time(deploy.deployed_at, ref=ref)}"
            + (
                " does not precede the onset within the look-back"
                if found.onset
                else "; no symptom to correlate it with"
            )
        )
    facts: list[str] = []
    if found.errors:
        e = found.errors
        facts.append(
            f'{e.total} error log lines from {fmt_time(e.first_at, ref=ref)}, top "{truncate(e.message, 100)}" '
            f"({e.count}×)"
        )
    if found.failing:
        f = found.failing
        facts.append(f"{f.traces}/{f.erroring_traces} erroring traces fail deepest at {f.service} {f.operation}")
    if facts:
        bullets.append("; ".join(facts))
    if not bullets:
        bullets.append("No metric rose ≥3× its baseline, 0 error log lines and 0 failing traces found")
    return bullets


def _refs(found: _Findings, results: Sequence[SourceResult]) -> list[EvidenceRef]:
    by_id = {item.id: item for item in all_evidence(results)}
    wanted: list[str] = [o.evidence_id for o in found.onsets]
    if found.culprit:
        wanted.append(found.culprit[0].id)
    if found.previous:
        wanted.append(found.previous[0].id)
    if found.culprit is None and found.latest_deploy:
        wanted.append(found.latest_deploy[0].id)
    if found.errors:
        wanted += [found.errors.evidence_id, found.errors.first_id]
    if found.failing:
        wanted.append(found.failing.evidence_id)
    # ArgoCD's app status line (health, sync) has no payload
    wanted += [
        item.id for item in by_id.values() if item.source is EvidenceSource.DEPLOYS and item.payload is None
    ]
    for result in results:  # at least one per source that has data
        if result.evidence and not any(item.id in wanted for item in result.evidence):
            wanted.append(result.evidence[0].id)
    refs: list[EvidenceRef] = []
    for evidence_id in dict.fromkeys(wanted):
        item = by_id.get(evidence_id)
        if item is not None:
            refs.append(
                EvidenceRef(id=item.id, source=item.source, detail=truncate(item.detail, 200), link=item.link)
            )
    return refs


def _cause_actions(found: _Findings, request: InvestigationRequest,
                   ceiling: ReplicaCeiling | None = None) -> list[Action] | None:
    """The remedy for a cause no rollback of the alerting service fixes; None: decide as before."""
    cause = found.cause
    if cause is None or found.culprit is not None:
        return None
    svc = request.service
    namespace = request.namespace if cause.service == svc else None
    target = ActionTarget(service=cause.service, namespace=namespace)
    match cause.kind:
        case "expired_certificate":
            text = (f"Renew or rotate the expired certificate ({truncate(cause.what, 160)}) and restart what "
                    "serves it; a rollback or a restart alone does not help.")
        case "disk_full":
            text = (f"Free space or grow the volume of {cause.service} ({truncate(cause.what, 160)}); then check "
                    "what filled it (logs, WAL, temp files).")
        case "traffic_surge" if cause.replicas:
            current = int(cause.replicas)
            replicas = max(int(math.ceil(current * min(cause.ratio or 1.0, 2.0))), current + 1)
            bound = ceiling(cause.service, current) if ceiling is not None else None
            if bound is not None and bound > current:
                replicas = min(replicas, bound)  # within the policy's bounds
            return [
                Action(kind=ActionKind.SCALE, target=target, params={"replicas": replicas},
                       rationale=(f"{truncate(cause.what, 200)}: about {cause.ratio or 1:.1f}× the usual load with "
                                  f"the autoscaler at its maximum; scale to {replicas} (at most 2× now) and raise "
                                  "the HPA maximum, or the HPA scales it back.")),
                Action(kind=ActionKind.MANUAL, target=target,
                       params={"text": f"Raise the HPA maximum of {cause.service} and find where the extra "
                                       "traffic comes from (a client retry storm, a campaign, a bot)."},
                       rationale="A restart or rollback does not add capacity."),
            ]
        case "traffic_surge":
            text = (f"Add capacity to {cause.service} ({truncate(cause.what, 160)}): raise its replicas or CPU "
                    "limit; find where the extra traffic comes from.")
        case "memory_leak":
            return [
                Action(kind=ActionKind.RESTART, target=target,
                       rationale=f"{truncate(cause.what, 200)}; no deploy explains it: a rollout restart frees the "
                                 "memory for now (a stopgap: the leak comes back)."),
                Action(kind=ActionKind.MANUAL, target=target,
                       params={"text": f"Find what grows in {cause.service}'s memory (heap profile, caches without "
                                       "eviction) before it is killed again."},
                       rationale="Rule-based brief: a person should confirm the cause."),
            ]
        case _:  # dependency_down
            owner = _category(found, svc)[1]
            target = ActionTarget(service=owner, namespace=request.namespace if owner == svc else None)
            text = (f"Check {owner}: it refuses or drops connections ({truncate(cause.what, 160)}); its health, "
                    "its own recent changes and its limits.")
    return [Action(kind=ActionKind.MANUAL, target=target, params={"text": text},
                   rationale="Rule-based brief: nothing Sitrep can run fixes this; a person must.")]


def _actions(found: _Findings, request: InvestigationRequest, *, ceiling: ReplicaCeiling | None = None
             ) -> list[Action]:
    svc = request.service
    by_cause = _cause_actions(found, request, ceiling)
    if by_cause is not None:
        return by_cause
    actions: list[Action] = []
    if found.culprit and found.previous:
        deploy, prev = found.culprit[1], found.previous[1]
        when = f" {_gap_phrase(deploy, found.onset)} the onset" if found.onset else ""
        later = "" if deploy.current else " Later deploys run now; they would be rolled back too."
        owner = deploy.service or svc
        actions.append(
            Action(
                kind=ActionKind.ROLLBACK,
                target=ActionTarget(service=owner, namespace=request.namespace if owner == svc else None,
                                    app=deploy.app),
                params=rollback_params(prev),
                rationale=(
                    f"{deploy_label(deploy)} went out{when}; roll back to {prev.ref}, the revision "
                    f"that ran before it.{later}"
                ),
            )
        )
        if found.cause is not None and found.cause.kind == "memory_leak":
            actions.append(Action(
                kind=ActionKind.RESTART, target=ActionTarget(service=owner, namespace=request.namespace
                                                             if owner == svc else None, app=deploy.app),
                rationale="A stopgap until the rollback is approved: a restart frees the leaked memory for now."))
    elif (found.onset and not found.transient and not (found.failing and found.failing.service != svc)
          and _sustained(found)):
        actions.append(
            Action(
                kind=ActionKind.RESTART,
                target=ActionTarget(
                    service=svc,
                    namespace=request.namespace,
                    app=found.latest_deploy[1].app if found.latest_deploy else None,
                ),
                rationale=(
                    "No deploy correlates with the onset; a rollout restart clears stuck pods or "
                    "connection pools but will not fix a code or dependency fault."
                ),
            )
        )
    actions.append(
        Action(
            kind=ActionKind.MANUAL,
            target=ActionTarget(service=found.failing.service if _dependency(found, svc) else svc,
                                namespace=request.namespace),
            params={"text": _manual_text(found, svc)},
            rationale="Rule-based brief: a person should confirm the cause.",
        )
    )
    return actions


def _sustained(found: _Findings) -> bool:
    """A symptom worth acting on with no cause in sight: a metric shift that has not cleared and is
    more than marginal, or error lines that go on now. A few failing traces alone are not, nor a
    metric whose service's logs and traces were read and show nothing failing."""
    lasting = [o for o in found.onsets if not o.cleared]
    if found.healthy_otherwise:
        return False  # logs and traces were read and nothing fails: a restart would be blind
    if lasting and (found.onset is None or not _marginal(found.onset) or found.errors is not None):
        return True
    return found.errors is not None and not found.quiet_now


def _marginal(onset: _Onset) -> bool:
    """A breach that barely crosses its onset threshold (under 1.5× of it) with nothing else wrong:
    not worth an action, only a look."""
    metric = onset.metric
    if metric is None:
        return False
    factor, floor = ONSET_RULES.get(metric.metric, (3.0, 0.0))
    threshold = max(factor * metric.baseline, floor)
    return threshold > 0 and metric.peak < 1.5 * threshold


def _dependency(found: _Findings, svc: str) -> bool:
    return found.culprit is None and found.failing is not None and found.failing.service != svc


def _manual_text(found: _Findings, svc: str) -> str:
    if found.culprit:
        deploy = found.culprit[1]
        what = (f"between {deploy_label(found.previous[1])} and {deploy_label(deploy)}" if found.previous
                else f"in {deploy_label(deploy)}")
        focus = f" touching {found.failing.service} {found.failing.operation}" if found.failing else ""
        changed = f" ({describe_changes(deploy.changes, limit=4)})" if deploy.changes else ""
        return (f"Review the changes {what}{changed}{focus}; after any fix, confirm the symptom is back "
                "to baseline.")
    if _dependency(found, svc) and found.failing:
        return (
            f"Check {found.failing.service} ({found.failing.operation}): health, saturation, "
            f"connection limits and its recent changes."
        )
    if found.transient:
        return (
            f"{svc}'s symptom has cleared and nothing else is wrong: if the alert resolved, treat it "
            f"as a transient spike or false alarm and review the alert rule's threshold and `for:` "
            f"duration; look again if it fires repeatedly."
        )
    if found.onset is None and found.errors is None and found.failing is None:
        return (
            f"No symptom of {svc} in metrics, logs or traces: if the alert has cleared, treat it as a "
            f"transient spike or false alarm and review the alert rule's threshold and `for:` duration."
        )
    return f"Inspect {svc}'s logs, metrics and recent changes; the evidence shows no clear cause."


def _affected(found: _Findings, svc: str) -> list[str]:
    services = [svc]
    if found.failing and found.failing.service not in services:
        services.append(found.failing.service)
    for other in (found.cause.service if found.cause else None,
                  (found.culprit[1].service if found.culprit else None)):
        if other and other not in services:
            services.append(other)
    return services


def _next_checks(found: _Findings, results: Sequence[SourceResult]) -> list[str]:
    checks: list[str] = []
    if found.culprit and found.previous:
        checks.append(
            f"Diff {deploy_label(found.previous[1])}..{deploy_label(found.culprit[1])} "
            "(configuration, connection pool and dependency changes)"
        )
    if found.failing:
        checks.append(f"Check {found.failing.service} {found.failing.operation}: saturation and limits")
    if found.onsets:
        o = found.onsets[0]
        checks.append(
            f"After remediation, confirm {METRIC_LABEL.get(o.metric, o.metric)} is back near "
            f"{fmt_metric(o.metric, o.baseline)}"
        )
    missing = [r.source.label for r in results if r.status in (SourceStatus.ERROR, SourceStatus.TIMEOUT)]
    if missing:
        checks.append(f"Re-run the investigation once {', '.join(missing)} answer(s)")
    return checks


def _nothing_checked(
    request: InvestigationRequest, results: Sequence[SourceResult], unknowns: list[str]
) -> BriefDraft:
    svc = request.service
    notes = unknowns or ["No source was queried"]
    skipped = [r.source for r in results if r.status is SourceStatus.SKIPPED]
    failed = [r.source.label for r in results if r.status in (SourceStatus.ERROR, SourceStatus.TIMEOUT)]
    steps: list[str] = []
    if skipped or not results:
        names = skipped or list(SourceName)
        steps.append("Configure " + ", ".join(SOURCE_SETTINGS[s] for s in names))
    if failed:
        steps.append(f"check that {', '.join(failed)} are reachable from Sitrep")
    steps.append(f"then re-run /incident {svc}")
    text = "; ".join(steps) + "."
    return BriefDraft(
        title=f"{svc}: no source could be checked",
        summary=[f"0 of {len(results)} sources returned data: {'; '.join(notes)}"],
        category=Category.UNKNOWN,
        root_cause=RootCause(
            statement=f"Nothing could be checked for {svc}: {'; '.join(notes)}.",
            service=svc,
            confidence=Confidence.LOW,
            confidence_score=0,
        ),
        evidence=[],
        actions=[
            Action(
                kind=ActionKind.MANUAL,
                target=ActionTarget(service=svc, namespace=request.namespace),
                params={"text": text},
                rationale="Without logs, metrics, deploys or traces there is nothing to correlate.",
            )
        ],
        affected_services=[svc],
        unknowns=notes,
        next_checks=[f"Meanwhile, look at {svc}'s dashboards, logs and recent deploys by hand"],
    )
