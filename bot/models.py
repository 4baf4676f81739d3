"""Domain types shared by every part of Sitrep.

What flows between the parts (design.md, "What it does, as data flowing"):

    InvestigationRequest ─▶ collectors ─▶ SourceResult[] (each with Evidence[])
                         ─▶ analyst    ─▶ Brief (cites Evidence ids, proposes typed Actions)

Everything here is plain pydantic: no Slack, HTTP or database types.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    """Every model here builds its validator when first used, not at import: the web process never
    validates most of them (evidence, traces, the analysis), which only investigations — in the
    worker process — do; building them all cost ~20 ms of every start-up."""

    model_config = ConfigDict(defer_build=True)


# --------------------------------------------------------------------------- sources


class SourceName(StrEnum):
    """The upstreams Sitrep collects from; the value is the key in ``Analysis.sources``."""

    LOKI = "loki"
    PROMETHEUS = "prometheus"
    ARGOCD = "argocd"
    JAEGER = "jaeger"
    KUBERNETES = "kubernetes"  # Warning events; optional (KUBERNETES_API_URL or in-cluster)

    @property
    def label(self) -> str:
        return {"loki": "Loki", "prometheus": "Prometheus", "argocd": "ArgoCD", "jaeger": "Jaeger",
                "kubernetes": "Kubernetes"}[self.value]


class SourceStatus(StrEnum):
    OK = "ok"
    NO_DATA = "no_data"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"  # not configured


class EvidenceSource(StrEnum):
    LOGS = "logs"
    METRICS = "metrics"
    DEPLOYS = "deploys"
    TRACES = "traces"
    ALERT = "alert"


#: Which evidence source each upstream produces.
EVIDENCE_SOURCE_OF: dict[SourceName, EvidenceSource] = {
    SourceName.LOKI: EvidenceSource.LOGS,
    SourceName.PROMETHEUS: EvidenceSource.METRICS,
    SourceName.ARGOCD: EvidenceSource.DEPLOYS,
    SourceName.JAEGER: EvidenceSource.TRACES,
    SourceName.KUBERNETES: EvidenceSource.LOGS,  # events are log-like; the contract fixes the names
}


class LogLine(_Model):
    kind: Literal["log"] = "log"
    at: datetime
    line: str
    level: str | None = None  # from the stream labels or the line itself
    labels: dict[str, str] = Field(default_factory=dict)
    #: the parsed message (``bot.digest.logformat``); a folded event's headline: the innermost exception
    message: str | None = None
    fmt: str | None = None  # the line's format: json, logfmt, spring, python, klog, access…
    fields: dict[str, str] = Field(default_factory=dict)  # a few key fields of the line
    folded: int = 1  # how many raw lines the event folds (a stack trace's frames)
    config: bool = False  # a line that sets or reports configuration (a change line)


class MetricSeries(_Model):
    kind: Literal["metric"] = "metric"
    name: str  # the query's name in settings: p99_latency, error_ratio, ...
    query: str
    labels: dict[str, str] = Field(default_factory=dict)
    points: list[tuple[datetime, float]] = Field(default_factory=list)  # NaN/Inf kept as float


class ConfigChange(_Model):
    """One difference between what two deploys apply, as an approver reads it (``bot.manifests``)."""

    what: str  # "image checkout", "ConfigMap checkout-config DB_POOL_MAX", "Secret checkout-db key PASSWORD"
    before: str | None = None  # None: absent before
    after: str | None = None  # None: absent after
    hidden: bool = False  # a Secret key: its values are never shown

    def line(self) -> str:
        """``ConfigMap checkout-config DB_POOL_MAX 50 → 10``; ``Secret checkout-db key X added``."""
        if self.before is None:
            return f"{self.what} added" + ("" if self.hidden or self.after is None else f" ({self.after})")
        if self.after is None:
            return f"{self.what} removed" + ("" if self.hidden else f" (was {self.before})")
        if self.hidden:
            return f"{self.what} changed (value hidden)"
        return f"{self.what} {self.before} → {self.after}"

    def reversed(self) -> ConfigChange:
        return self.model_copy(update={"before": self.after, "after": self.before})


class Deploy(_Model):
    """One entry of an ArgoCD application's history. It is identified by ``history_id`` and
    ``revision`` (``bot.deploy_history``); ``label`` is how people name it, never a branch."""

    kind: Literal["deploy"] = "deploy"
    app: str
    history_id: int
    #: the service the app was read for (the alerting service, or a suspect when following the failure)
    service: str | None = None
    #: identity: the git sha; a Helm repository source's chart version; for a multi-source app the
    #: first git sha of ``revisions`` (or its first revision when none is a sha)
    revision: str
    #: a multi-source app's revisions, one per source in source order (empty for one source)
    revisions: list[str] = Field(default_factory=list)
    #: what the source pointed at: a tag, a branch, ``HEAD``, a chart version
    target_revision: str | None = None
    #: ``target_revision`` names this deploy alone (a tag or a chart version, not a branch)
    pinned: bool = False
    chart: str | None = None  # a Helm chart name, when a source is a Helm repository
    deployed_at: datetime
    initiated_by: str | None = None
    current: bool = False  # the newest history entry = what runs now
    #: the current entry only: the revision(s) ArgoCD reports the tracked ref at (``status.sync``)
    head_revisions: list[str] = Field(default_factory=list)
    #: the current entry only: ``spec.syncPolicy.automated`` when auto-sync is on (prune, selfHeal…)
    auto_sync: dict[str, Any] | None = None
    #: image references this deploy runs (its manifests; ``status.summary.images`` for the current)
    images: list[str] = Field(default_factory=list)
    #: revision metadata (git sources): tags pointing at the sha, author, date, message
    git_tags: list[str] = Field(default_factory=list)
    author: str | None = None
    message: str | None = None
    #: the human label (``bot.deploy_history.label_history``): changed image tags, a git tag, the
    #: chart version, else the short sha; with the short sha added when two entries would share it
    label: str = ""
    #: what this deploy changed against the one before it (None: not read; see ``changes_note``)
    changes: list[ConfigChange] | None = None
    changes_note: str | None = None  # why the change is unknown: "manifests: HTTP 403", "timeout"

    @property
    def all_revisions(self) -> list[str]:
        return self.revisions or [self.revision]

    @property
    def short(self) -> str:
        """The short sha (7 characters), or the revision itself when it is not a sha."""
        return self.revision[:7] if _SHA.fullmatch(self.revision.lower()) else self.revision

    @property
    def display_label(self) -> str:
        """``label``; for a deploy nobody labelled (built by hand, an old stored brief) a tag-like
        ``target_revision`` (one with a digit, so never ``HEAD`` or ``main``), else the short sha."""
        if self.label:
            return self.label
        target = self.target_revision or ""
        if target and any(c.isdigit() for c in target) and not _SHA.fullmatch(target.lower()):
            return target
        return self.short

    @property
    def name(self) -> str:
        """``v2.14.2 (8b1e0f4)``: the label and the short sha; just one when they are the same."""
        label = self.display_label
        return label if self.short in label else f"{label} ({self.short})"

    @property
    def ref(self) -> str:
        """``v2.14.2 (8b1e0f4, history 12)``: how the brief, the approval and the timeline cite it."""
        label = self.display_label
        if label.endswith(f"({self.short})"):
            return f"{label[:-1]}, history {self.history_id})"
        inner = f"history {self.history_id}" if self.short in label else f"{self.short}, history {self.history_id}"
        return f"{label} ({inner})"


_SHA = re.compile(r"[0-9a-f]{7,64}")


class Span(_Model):
    span_id: str
    parent_id: str | None = None
    service: str
    operation: str
    start: datetime
    duration_ms: float
    error: bool = False
    status_code: int | None = None
    #: a client span's callee as OpenTelemetry tags name it (``peer.service``, a database's
    #: ``db.name``/``server.address`` host): a service that has no spans of its own (a database)
    peer: str | None = None


class Trace(_Model):
    kind: Literal["trace"] = "trace"
    trace_id: str
    root_service: str
    root_operation: str
    start: datetime
    duration_ms: float
    error: bool
    spans: list[Span] = Field(default_factory=list)

    def depth_of(self, span: Span) -> int:
        """How many parent spans ``span`` has in this trace (0 for a root; a cycle stops the count)."""
        by_id = {s.span_id: s for s in self.spans}
        level, seen = 0, {span.span_id}
        while span.parent_id in by_id and span.parent_id not in seen:
            span = by_id[span.parent_id]
            seen.add(span.span_id)
            level += 1
        return level

    def deepest_failing_span(self) -> Span | None:
        """The erroring span furthest from the root (the longest on a tie): where a failure starts,
        as far as this trace shows."""
        return max((s for s in self.spans if s.error), key=lambda s: (self.depth_of(s), s.duration_ms), default=None)

    def call_edges(self) -> set[tuple[str, str]]:
        """``(caller, callee)`` services: a span whose parent span runs in another service."""
        by_id = {span.span_id: span for span in self.spans}
        edges = set()
        for span in self.spans:
            parent = by_id.get(span.parent_id or "")
            if parent is not None and parent.service != span.service:
                edges.add((parent.service, span.service))
        return edges


Payload = Annotated[LogLine | MetricSeries | Deploy | Trace, Field(discriminator="kind")]


class Evidence(_Model):
    """One collected fact. ``id`` is unique within an investigation (``logs-1``, ``deploys-2``…)
    and is what a brief cites."""

    id: str
    source: EvidenceSource
    detail: str  # one human-readable line
    at: datetime | None = None
    link: str | None = None
    payload: Payload | None = None


class SourceResult(_Model):
    """What one collector returns: never raises, a failure is data for the brief."""

    source: SourceName
    status: SourceStatus
    elapsed_s: float = 0.0
    error: str | None = None  # short, human-readable, no secrets
    evidence: list[Evidence] = Field(default_factory=list)
    #: other services whose data was added by following the failure: ``payments (deepest failing span)``
    examined: list[str] = Field(default_factory=list)

    def describe(self) -> str:
        """``Loki: timeout``, ``Jaeger: error HTTP 500`` — the wording design.md fixes."""
        label = self.source.label
        match self.status:
            case SourceStatus.OK:
                return f"{label}: ok"
            case SourceStatus.NO_DATA:
                return f"{label}: no data"
            case SourceStatus.TIMEOUT:
                return f"{label}: timeout"
            case SourceStatus.SKIPPED:
                return f"{label}: not configured"
            case SourceStatus.ERROR:
                return f"{label}: error {self.error or 'unknown'}"


# --------------------------------------------------------------------------- alerts


class AlertSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    DATADOG = "datadog"
    SENTRY = "sentry"
    PAGERDUTY = "pagerduty"
    OPSGENIE = "opsgenie"
    SLASH_COMMAND = "slash_command"
    TEXT = "text"  # a plain-text message we could still read


class AlertState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(_Model):
    """One alert, whatever it came from (a bot's Slack message, a webhook, a person)."""

    source: AlertSource
    name: str  # alertname / monitor title
    service: str | None = None
    namespace: str | None = None
    severity: str | None = None  # critical | warning | info | ... as the product says it
    state: AlertState = AlertState.FIRING
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    summary: str | None = None
    fingerprint: str  # stable identity of this alert across re-sends and channels
    links: dict[str, str] = Field(default_factory=dict)  # generatorURL, dashboardURL, silenceURL...
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- requests


class InvestigationRequest(_Model):
    """What to look at: one service over a window ending now (or at the alert)."""

    service: str
    namespace: str | None = None
    message: str | None = None  # what the person or alert said
    severity: str | None = None
    window_start: datetime
    window_end: datetime

    @classmethod
    def for_last(
        cls, service: str, *, since: timedelta, message: str | None = None, **kw: Any
    ) -> InvestigationRequest:
        end = utcnow()
        return cls(service=service, message=message, window_start=end - since, window_end=end, **kw)


# --------------------------------------------------------------------------- the Brief


class Category(StrEnum):
    DEPLOY_REGRESSION = "deploy_regression"
    LATENCY = "latency"
    ERRORS = "errors"
    CONNECTIVITY = "connectivity"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    DEPENDENCY = "dependency"
    CONFIG = "config"
    UNKNOWN = "unknown"


class Confidence(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class RootCause(_Model):
    statement: str
    service: str
    confidence: Confidence
    confidence_score: int = Field(ge=0, le=100)


class EvidenceRef(_Model):
    """An evidence item as the brief shows it; ``id`` must be one that was collected."""

    id: str
    source: EvidenceSource
    detail: str
    link: str | None = None


class ActionKind(StrEnum):
    """Safest first: the order ``Brief.actions`` is sorted in."""

    ROLLBACK = "rollback"
    RESTART = "restart"
    SCALE = "scale"
    SYNC = "sync"
    RUNBOOK = "runbook"
    MANUAL = "manual"


ACTION_ORDER: dict[ActionKind, int] = {kind: i for i, kind in enumerate(ActionKind)}


class ActionTarget(_Model):
    service: str
    namespace: str | None = None
    app: str | None = None  # ArgoCD application


class RollbackParams(_Model):
    model_config = ConfigDict(extra="forbid")
    to_revision: str  # the deploy's identity: its git sha (a chart version for a Helm source)
    history_id: int | None = None
    #: how people name that deploy (``v2.14.2 (8b1e0f4)``); filled by Sitrep from the history, shown
    #: only, never compared
    label: str | None = None


class RestartParams(_Model):
    model_config = ConfigDict(extra="forbid")


class ScaleParams(_Model):
    model_config = ConfigDict(extra="forbid")
    replicas: int = Field(ge=0)


class SyncParams(_Model):
    model_config = ConfigDict(extra="forbid")
    revision: str


class RunbookParams(_Model):
    model_config = ConfigDict(extra="forbid")
    name: str
    #: arguments sent to the runbook; each must be allowed by the policy rule (``limits.args``)
    args: dict[str, str] | None = None


class ManualParams(_Model):
    model_config = ConfigDict(extra="forbid")
    text: str


PARAMS_MODEL: dict[ActionKind, type[BaseModel]] = {
    ActionKind.ROLLBACK: RollbackParams,
    ActionKind.RESTART: RestartParams,
    ActionKind.SCALE: ScaleParams,
    ActionKind.SYNC: SyncParams,
    ActionKind.RUNBOOK: RunbookParams,
    ActionKind.MANUAL: ManualParams,
}


class Action(_Model):
    """A typed remediation proposal. Never a shell string: ``params`` is checked against the
    parameter model of ``kind``."""

    kind: ActionKind
    target: ActionTarget
    params: dict[str, Any] = Field(default_factory=dict)
    rationale: str

    @model_validator(mode="after")
    def _check_params(self) -> Action:
        model = PARAMS_MODEL[self.kind]
        self.params = model.model_validate(self.params).model_dump(exclude_none=True)
        return self


class RefusedAction(_Model):
    """An action a model proposed that Sitrep cannot even consider (an unknown kind): shown on the
    brief as denied, never executable, never a button."""

    kind: str
    target: dict[str, Any] = Field(default_factory=dict)
    reason: str
    rule: str = "invariant: unknown kind"


class AnalysisStatus(StrEnum):
    COMPLETED = "COMPLETED"
    ESCALATED = "ESCALATED"
    RECOVERED_FALLBACK = "RECOVERED_FALLBACK"
    DETERMINISTIC = "DETERMINISTIC"
    PARTIAL = "PARTIAL"


class SecondOpinion(_Model):
    """An independent model's check of a HIGH-confidence rollback against the evidence."""

    model: str
    agree: bool
    reason: str


class Analysis(_Model):
    status: AnalysisStatus
    model: str | None = None
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    sources: dict[str, SourceStatus] = Field(default_factory=dict)
    #: why the brief is rule-based (no key, timeout, invalid output, ...); None for a model brief
    fallback_reason: str | None = None
    #: ``Loki: timeout``-style lines for every source that did not answer with data
    source_notes: list[str] = Field(default_factory=list)
    #: the same digest was analysed minutes ago: this is that analysis, at no new cost
    reused: bool = False
    second_opinion: SecondOpinion | None = None
    #: instruction-like text found in the evidence (``suspicious content in logs from Loki (logs-3:
    #: override instruction)``): the model read something that tried to steer it
    suspicious: list[str] = Field(default_factory=list)
    #: services examined besides the alerting one, by following the failure: ``payments (deepest
    #: failing span)``
    examined: list[str] = Field(default_factory=list)


class BriefDraft(_Model):
    """What a model (or the deterministic analyzer) writes: the Brief without ``analysis``."""

    title: str
    summary: list[str] = Field(max_length=3)
    category: Category
    root_cause: RootCause
    evidence: list[EvidenceRef] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    affected_services: list[str] = Field(default_factory=list)
    unknowns: list[str] = Field(default_factory=list)
    next_checks: list[str] = Field(default_factory=list)
    #: set by Sitrep, not the model (kept out of the model's schema)
    refused_actions: SkipJsonSchema[list[RefusedAction]] = Field(default_factory=list)

    def cited_ids(self) -> set[str]:
        return {item.id for item in self.evidence}

    def check_grounded(self, collected_ids: set[str]) -> None:
        """Raise ``UngroundedBriefError`` if the draft cites evidence that was not collected."""
        unknown = sorted(self.cited_ids() - collected_ids)
        if unknown:
            raise UngroundedBriefError(unknown_ids=unknown)

    def sorted_actions(self) -> list[Action]:
        return sorted(self.actions, key=lambda a: ACTION_ORDER[a.kind])


class Brief(BriefDraft):
    analysis: Analysis

    @property
    def is_rule_based(self) -> bool:
        return self.analysis.status is AnalysisStatus.DETERMINISTIC


RULE_BASED_BANNER = "AI analysis unavailable — rule-based brief"


class UngroundedBriefError(ValueError):
    """A brief cited evidence ids that were not collected."""

    def __init__(self, *, unknown_ids: list[str]) -> None:
        self.unknown_ids = unknown_ids
        super().__init__(f"brief cites evidence that was not collected: {', '.join(unknown_ids)}")


# --------------------------------------------------------------------------- timeline


class TimelineEventType(StrEnum):
    INVESTIGATION_STARTED = "INVESTIGATION_STARTED"
    SOURCE_COLLECTED = "SOURCE_COLLECTED"
    ANALYSIS_COMPLETED = "ANALYSIS_COMPLETED"
    BRIEF_POSTED = "BRIEF_POSTED"
    BRIEF_FAILED = "BRIEF_FAILED"
    ACTION_PROPOSED = "ACTION_PROPOSED"
    APPROVAL_CLICKED = "APPROVAL_CLICKED"
    APPROVAL_REFUSED = "APPROVAL_REFUSED"
    APPROVAL_GIVEN = "APPROVAL_GIVEN"
    ACTION_REJECTED = "ACTION_REJECTED"
    ACTION_EXPIRED = "ACTION_EXPIRED"
    ACTION_DENIED_AT_EXECUTION = "ACTION_DENIED_AT_EXECUTION"
    EXECUTION_STARTED = "EXECUTION_STARTED"
    EXECUTION_FINISHED = "EXECUTION_FINISHED"
    VERIFICATION_SCHEDULED = "VERIFICATION_SCHEDULED"
    VERIFICATION_RESULT = "VERIFICATION_RESULT"
    FEEDBACK_GIVEN = "FEEDBACK_GIVEN"
    ALERT_RECEIVED = "ALERT_RECEIVED"
    ALERT_JOINED = "ALERT_JOINED"
    ALERT_RESOLVED = "ALERT_RESOLVED"
    INCIDENT_RESOLVED = "INCIDENT_RESOLVED"
    INCIDENT_MERGED = "INCIDENT_MERGED"
    INCIDENT_REOPENED = "INCIDENT_REOPENED"
    ROOT_CHANGED = "ROOT_CHANGED"
    DELTA_POSTED = "DELTA_POSTED"
    JOB_GAVE_UP = "JOB_GAVE_UP"
    #: Slack answered 429: a message of the incident waited ``retry_after_s`` and was sent again
    SLACK_RATE_LIMITED = "SLACK_RATE_LIMITED"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
