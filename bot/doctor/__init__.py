"""``sitrep doctor``: is every setting right? One command a newcomer runs after setting the environment.

Each check prints ✓ or ✗, what it called, and for a ✗ the fix; a part that is not configured prints a
neutral ``–  not configured`` line (Slack is required: without it ``sitrep serve`` cannot run). The exit
code is 1 when any check failed. The parts run concurrently, each request within ``SITREP_SOURCE_TIMEOUT``
(the model within ``SITREP_LLM_TIMEOUT``) and each part within a budget. Only plain httpx: no SDK is
imported. No secret is printed: a check shows which setting is missing or wrong, never its value.

    slack.py     auth.test, x-oauth-scopes vs manifest.yml, signing secret / app token, alert channels
    sources.py   Loki labels (tenant), Prometheus buildinfo / service label / PromQL templates, Jaeger
    deploys.py   ArgoCD version / userinfo / can-i / auto-sync; Kubernetes version / access reviews
    model.py     Anthropic count_tokens; the OpenAI-compatible /models
    local.py     policy lint; database migrations at head
    oncall.py    PagerDuty / Opsgenie keys and the schedules the policy names
    report.py    runs them all, renders text or JSON
"""

from bot.doctor.base import CheckResult, Status
from bot.doctor.report import Report, main, render_json, render_text, run_doctor

__all__ = ["CheckResult", "Report", "Status", "main", "render_json", "render_text", "run_doctor"]
