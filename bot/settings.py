"""Sitrep's settings: every environment variable of design.md, read once at start-up.

Build one ``Settings()`` in the entry point (``cli.py``) and pass it, or the parts of it a
component needs, into constructors. Nothing else in the package reads the environment.
Field names are the environment variable names, lower-cased (``SITREP_MODEL`` → ``sitrep_model``).
The fields are grouped by what they configure (``SlackSettings``, ``SourceSettings``,
``QuerySettings``, ``OnCallSettings``, ``ModelSettings``, ``StoreSettings``, ``RemediationSettings``,
``IntakeSettings``, ``ProcessSettings``); ``Settings`` inherits them all, so a component may
also be typed with the one group it reads.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: PromQL templates used when a service has no override; ``{service}`` is replaced by the service
#: name and ``{label}`` by the service label (``SITREP_SERVICE_LABEL``). Other braces are PromQL's.
DEFAULT_PROMQL: dict[str, str] = {
    "request_rate": 'sum(rate(http_requests_total{{label}="{service}"}[5m]))',
    "error_ratio": (
        'sum(rate(http_requests_total{{label}="{service}",code=~"5.."}[5m]))'
        ' / sum(rate(http_requests_total{{label}="{service}"}[5m]))'
    ),
    "p99_latency": (
        "histogram_quantile(0.99, sum by (le) "
        '(rate(http_request_duration_seconds_bucket{{label}="{service}"}[5m])))'
    ),
    "cpu": 'sum(rate(container_cpu_usage_seconds_total{{label}="{service}"}[5m]))',
    "memory": 'sum(container_memory_working_set_bytes{{label}="{service}"})',
    "restarts": 'sum(increase(kube_pod_container_status_restarts_total{{label}="{service}"}[15m]))',
    # saturation (``bot.digest.saturation``): each becomes a fact only when it says something; names
    # and labels as kube-prometheus-stack scrapes them (cAdvisor with container!="", kube-state-metrics,
    # node_exporter, blackbox_exporter). Per pod and container: never a sum, which doubles mid-rollout.
    "cpu_throttling": (
        'sum by (namespace, pod, container) (rate(container_cpu_cfs_throttled_periods_total'
        '{{label}="{service}",container!=""}[5m]))'
        ' / sum by (namespace, pod, container) (rate(container_cpu_cfs_periods_total'
        '{{label}="{service}",container!=""}[5m]))'
    ),
    "memory_vs_limit": (
        'max by (namespace, pod, container) (container_memory_working_set_bytes{{label}="{service}",container!=""})'
        ' / max by (namespace, pod, container) '
        '(container_spec_memory_limit_bytes{{label}="{service}",container!=""} > 0)'
    ),
    "oom_killed": (
        'sum by (namespace, pod, container) '
        '(increase(kube_pod_container_status_restarts_total{{label}="{service}"}[15m])) > 0'
        ' and on (namespace, pod, container) '
        'kube_pod_container_status_last_terminated_reason{{label}="{service}",reason="OOMKilled"} == 1'
    ),
    # the HPA is found by name (kube-state-metrics gives HPA series no workload labels)
    "hpa_at_max": (
        'kube_horizontalpodautoscaler_status_current_replicas{horizontalpodautoscaler="{service}"}'
        ' >= on (namespace, horizontalpodautoscaler) '
        'kube_horizontalpodautoscaler_spec_max_replicas{horizontalpodautoscaler="{service}"}'
    ),
    "filesystem_available": (
        'node_filesystem_avail_bytes{{label}="{service}",fstype!~"tmpfs|overlay|squashfs"}'
        ' / node_filesystem_size_bytes{{label}="{service}",fstype!~"tmpfs|overlay|squashfs"}'
    ),
    "probe_success": 'avg_over_time(probe_success{{label}="{service}"}[5m])',
    "cert_expiry_days": '(probe_ssl_earliest_cert_expiry{{label}="{service}"} - time()) / 86400',
}


def _comma_list(value: object) -> object:
    """``a, b,c`` → ``["a", "b", "c"]`` (a list given as such is kept)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SlackSettings(BaseSettings):
    """Slack: the app's tokens, where alert messages are read, how fast Sitrep posts, Socket Mode,
    and who from other workspaces may act."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = Field(
        default=None, description="xapp- token: Socket Mode instead of a public HTTP URL"
    )
    slack_api_url: str = "https://slack.com/api/"
    sitrep_alert_channels: Annotated[list[str], NoDecode] = []
    #: seconds between Sitrep's new messages in one channel (Slack allows about one a second; 0: unpaced)
    sitrep_slack_post_interval: float = Field(default=1.0, ge=0)
    #: messages a quiet channel may get at once before the interval applies (Slack allows short bursts)
    sitrep_slack_post_burst: int = Field(default=3, ge=1)
    #: Socket Mode: seconds between pings; a connection that misses pings or drops is reopened within ~2×
    sitrep_socket_ping_seconds: float = Field(default=5.0, gt=0)
    #: let users of another workspace (Slack Connect) click Approve/Reject/Revert and run commands
    sitrep_allow_external_users: bool = False

    @field_validator("sitrep_alert_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        return _comma_list(value)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


class SourceSettings(BaseSettings):
    """The upstreams evidence is collected from (a source whose URL is unset is skipped and named
    in the brief), Grafana for deep links, and the collection's budgets (seconds)."""

    loki_url: str | None = None
    loki_tenant: str | None = None
    prometheus_url: str | None = None
    argocd_url: str | None = None
    argocd_token: SecretStr | None = None
    jaeger_url: str | None = None
    kubernetes_api_url: str | None = None
    kubernetes_token: SecretStr | None = None
    grafana_url: str | None = None
    #: the uid of Grafana's Loki datasource, for Explore links on log evidence
    sitrep_grafana_loki_datasource: str = "loki"
    sitrep_source_timeout: float = 4.0
    sitrep_collect_timeout: float = 5.0


class QuerySettings(BaseSettings):
    """What Sitrep asks the sources: the service label, the Loki selector, the PromQL templates,
    the namespace assumed, and what a name must look like before it goes into any query."""

    sitrep_service_label: str = "service"
    sitrep_loki_selector: str = '{service="{service}"}'
    #: what a service or namespace name must look like before it goes into any upstream query
    sitrep_name_pattern: str = r"^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$"
    sitrep_promql: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_PROMQL),
        description="JSON object of PromQL templates by name; merged over the defaults",
    )
    sitrep_default_namespace: str = "default"

    @field_validator("sitrep_promql", mode="after")
    @classmethod
    def _merge_promql(cls, value: dict[str, str]) -> dict[str, str]:
        return {**DEFAULT_PROMQL, **value}

    def loki_selector_for(self, service: str) -> str:
        """The LogQL stream selector for ``service`` (``{service}`` substituted, escaped for a string)."""
        return self.sitrep_loki_selector.replace("{service}", promql_string(service))

    def promql_for(self, service: str) -> dict[str, str]:
        """The PromQL queries (name → query) for ``service``."""
        value = promql_string(service)
        return {
            name: template.replace("{label}", self.sitrep_service_label).replace("{service}", value)
            for name, template in self.sitrep_promql.items()
        }


class OnCallSettings(BaseSettings):
    """On-call approvers (``oncall:pagerduty/<schedule>``, ``oncall:opsgenie/<schedule>``,
    ``oncall:rota/<name>`` in policies): the schedule services and the rota file."""

    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_token: SecretStr | None = None
    opsgenie_api_url: str = "https://api.opsgenie.com"
    opsgenie_api_key: SecretStr | None = None
    #: YAML file: schedule (``pagerduty/PABC123``, ``opsgenie/<id>``, or a rota name) → Slack user ids;
    #: the fallback when the schedule's service is not configured or does not answer
    sitrep_oncall_rota: str | None = None


class ModelSettings(BaseSettings):
    """The models that write briefs: keys, endpoints, which model for what, and their budgets."""

    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    sitrep_model: str = "claude-haiku-4-5"
    sitrep_escalation_model: str | None = None
    sitrep_fallback_model: str | None = None
    #: one model attempt, and the whole chain before the rule-based brief (seconds)
    sitrep_llm_timeout: float = 10.0
    sitrep_llm_chain_timeout: float = 20.0
    #: model spend per hour beyond which briefs are rule-based ("budget cap"); None: no cap
    sitrep_llm_hourly_budget_usd: float | None = 5.0


class StoreSettings(BaseSettings):
    """The database and the job queue in it: leases, attempts, how many investigations run at
    once, and when webhooks are told to back off."""

    database_url: str = "sqlite:///./sitrep.db"
    sitrep_job_lease_seconds: int = 30
    #: attempts of one job before Sitrep gives up and says so in the thread
    sitrep_job_max_attempts: int = 3
    #: investigations run at once by one worker process
    sitrep_max_investigations: int = 4
    #: queued + running jobs above which webhooks get 429 + Retry-After (Slack events are always taken)
    sitrep_queue_high_water: int = 500


class RemediationSettings(BaseSettings):
    """Policy and remediation: where the policy files are, dry-run, executors (ArgoCD, Kubernetes,
    runbook webhooks), approval expiry and the verification after an execution."""

    sitrep_policy_dir: str = "policies"
    sitrep_dry_run: bool = True
    #: seconds after an execution at which the symptom is checked again
    sitrep_verify_delays: Annotated[list[float], NoDecode] = Field(default_factory=lambda: [60.0, 180.0, 300.0])
    #: how often expired approval requests lose their buttons
    sitrep_expiry_sweep_seconds: float = 30.0
    #: one executor request's budget (seconds)
    sitrep_execution_timeout: float = 10.0
    #: let a rollback turn ArgoCD's automated sync off first (ArgoCD refuses rollbacks while it is on)
    sitrep_argocd_suspend_auto_sync: bool = False
    #: runbook name → webhook URL (JSON object); only these URLs are ever called
    sitrep_runbooks: dict[str, str] = Field(default_factory=dict)
    sitrep_runbook_secret: SecretStr | None = None

    @field_validator("sitrep_verify_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return [float(part) for part in value.split(",") if part.strip()]
        return value


class IntakeSettings(BaseSettings):
    """Alert intake: webhook bodies, ``/incident`` budgets, and how alerts are grouped into incidents."""

    #: largest webhook body accepted (bytes); larger → 413
    sitrep_webhook_max_bytes: int = 1_000_000
    #: ``/incident`` budgets: investigations per person and per channel in the window (minutes)
    sitrep_incident_per_user: int = Field(default=5, ge=1)
    sitrep_incident_per_channel: int = Field(default=20, ge=1)
    sitrep_incident_window_minutes: int = Field(default=10, ge=1)
    #: new investigations per service per hour; beyond it alerts join the service's latest incident
    sitrep_service_investigations_per_hour: int = 6
    #: alerts on linked services within this many seconds join one incident
    sitrep_group_window_seconds: float = 600.0
    #: an alert-opened investigation waits this long for related alerts (and its Slack message)
    sitrep_group_wait_seconds: float = 3.0
    #: an alert sent again this long after it was first seen is a re-fire: Sitrep posts what changed
    sitrep_refire_after_seconds: float = 300.0
    #: labels whose equal values link alerts of different services (shared node, database...)
    sitrep_group_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["node", "database", "db", "db_instance"])

    @field_validator("sitrep_group_labels", mode="before")
    @classmethod
    def _split_labels(cls, value: object) -> object:
        return _comma_list(value)


class ProcessSettings(BaseSettings):
    """The process: HTTP port, logs, and the bearer tokens of its HTTP endpoints."""

    port: int = 3000
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"
    #: ``POST /alerts/alertmanager`` and ``/alerts/grafana``
    sitrep_webhook_token: SecretStr | None = None
    #: the REST API (``/api/v1/...``)
    sitrep_api_token: SecretStr | None = None
    #: when set, ``GET /metrics`` wants ``Authorization: Bearer <token>``
    sitrep_metrics_token: SecretStr | None = None


class Settings(SlackSettings, SourceSettings, QuerySettings, OnCallSettings, ModelSettings, StoreSettings,
               RemediationSettings, IntakeSettings, ProcessSettings):
    """All of Sitrep's configuration. Secrets are ``SecretStr`` so they never print.

    The fields are grouped by what they configure, one class each above, with their validators;
    every field is still an attribute of ``Settings`` (``settings.slack_bot_token``) and its
    environment variable is its name upper-cased (``tests/test_settings.py`` holds the list)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `SLACK_APP_TOKEN=` in .env means unset, not ""
        extra="ignore",
        case_sensitive=False,
    )

    def secret_values(self) -> list[str]:
        """Every configured secret's value, for redaction and for tests that grep logs."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values


def promql_string(value: str) -> str:
    """``value`` safe inside a double-quoted PromQL string (a service name from an alert label)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
