"""Run every check (concurrently, each part within its budget) and render the report as text or JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx
import structlog

from bot.doctor.base import CheckResult, Context, Section, Status, Unreachable
from bot.doctor.deploys import check_argocd, check_kubernetes
from bot.doctor.local import check_database, check_policy
from bot.doctor.model import check_model
from bot.doctor.oncall import check_opsgenie, check_pagerduty
from bot.doctor.slack import check_slack
from bot.doctor.sources import check_jaeger, check_loki, check_prometheus
from bot.executor.kubernetes import SERVICE_ACCOUNT_DIR
from bot.settings import Settings

log = structlog.get_logger(__name__)

SYMBOL = {Status.OK: "✓", Status.FAIL: "✗", Status.SKIPPED: "–"}

Check = Callable[[Context, Section], Awaitable[None]]


@dataclass
class Report:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return not any(r.status is Status.FAIL for r in self.results)

    def count(self, status: Status) -> int:
        return sum(r.status is status for r in self.results)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1


async def run_doctor(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None,
                     service_account_dir: Path = SERVICE_ACCOUNT_DIR) -> Report:
    """Every check against ``settings``; ``transport`` (tests) replaces the network for HTTP checks."""
    policy_section = Section("policy", "Policy")
    policy = check_policy(settings, policy_section)
    tls = await asyncio.to_thread(httpx.create_ssl_context) if transport is None else None
    ctx = Context(settings=settings, policy=policy, transport=transport, tls=tls)
    source_budget = settings.sitrep_source_timeout * 3
    model_budget = settings.sitrep_llm_timeout * 2

    async def kubernetes(ctx: Context, section: Section) -> None:
        await check_kubernetes(ctx, section, service_account_dir=service_account_dir)

    plan: list[tuple[Section, Check, float]] = [
        (Section("slack", "Slack", url_setting="SLACK_API_URL"), check_slack, source_budget),
        (Section("loki", "Loki", url_setting="LOKI_URL"), check_loki, source_budget),
        (Section("prometheus", "Prometheus", url_setting="PROMETHEUS_URL"), check_prometheus, source_budget),
        (Section("argocd", "ArgoCD", url_setting="ARGOCD_URL"), check_argocd, source_budget),
        (Section("jaeger", "Jaeger", url_setting="JAEGER_URL"), check_jaeger, source_budget),
        (Section("kubernetes", "Kubernetes", url_setting="KUBERNETES_API_URL"), kubernetes, source_budget),
        (Section("model", "Model", url_setting="ANTHROPIC_BASE_URL"), check_model, model_budget),
        (Section("database", "Database", url_setting="DATABASE_URL"), check_database, source_budget),
        (Section("pagerduty", "PagerDuty", url_setting="PAGERDUTY_API_URL"), check_pagerduty, source_budget),
        (Section("opsgenie", "Opsgenie", url_setting="OPSGENIE_API_URL"), check_opsgenie, source_budget),
    ]
    await asyncio.gather(*(_guarded(ctx, section, check, budget) for section, check, budget in plan))
    sections = [section for section, _, _ in plan]
    sections.insert(8, policy_section)  # after the database, as the report reads top-down
    results = [result for section in sections for result in section.results]
    return Report(scrub(results, secrets=_secrets(settings)))


async def _guarded(ctx: Context, section: Section, check: Check, budget: float) -> None:
    """Run one part; whatever happens becomes a line of the report, never an exception."""
    try:
        await asyncio.wait_for(check(ctx, section), timeout=budget)
    except Unreachable as exc:
        section.abort(exc.detail, fix=exc.fix)
    except TimeoutError:
        section.abort(f"no complete answer within {budget:g} s",
                      fix=section.reach_fix() + " (budgets: SITREP_SOURCE_TIMEOUT, SITREP_LLM_TIMEOUT)")
    except Exception as exc:  # a bug in a check must not hide the other parts' results
        log.warning("doctor_check_crashed", section=section.key, error=type(exc).__name__)
        section.abort(f"the check itself failed ({type(exc).__name__})",
                      fix="run with LOG_LEVEL=debug and report it; the other parts are unaffected")


def _secrets(settings: Settings) -> list[str]:
    values = list(settings.secret_values())
    try:
        from sqlalchemy.engine import make_url

        password = make_url(settings.database_url).password
    except Exception:  # an unparsable URL: the database check says so
        password = None
    if password:
        values.append(str(password))
    for url in (settings.slack_api_url, settings.loki_url, settings.prometheus_url, settings.argocd_url,
                settings.jaeger_url, settings.kubernetes_api_url, settings.anthropic_base_url,
                settings.openai_base_url, settings.pagerduty_api_url, settings.opsgenie_api_url):
        try:  # a password in a URL (https://user:password@loki…) is a secret too
            if url and (password := httpx.URL(url).password):
                values.append(password)
        except httpx.InvalidURL:
            continue
    return [v for v in values if len(v) >= 4]


def scrub(results: list[CheckResult], *, secrets: list[str]) -> list[CheckResult]:
    """The last guard: no configured secret value survives anywhere in the report."""
    ordered = sorted(set(secrets), key=len, reverse=True)

    def clean(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, "***")
        return text

    for result in results:
        result.detail = clean(result.detail)
        result.fix = clean(result.fix) if result.fix else result.fix
        result.called = [clean(c) for c in result.called]
    return results


# ---------------------------------------------------------------------------- rendering


def _compact(calls: list[str]) -> list[str]:
    """Repeated requests to one path as one line: ``GET …/api/v1/query ×13``."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for call in calls:
        method, _, rest = call.partition(" ")
        url, _, note = rest.partition(" ")
        path = str(httpx.URL(url).copy_with(query=None)) if "://" in url else url
        groups.setdefault(f"{method} {path}", []).append((call, note.strip(" ()")))
    lines = []
    for key, members in groups.items():
        if len(members) == 1:
            lines.append(members[0][0])
            continue
        notes = [n for n in dict.fromkeys(note for _, note in members) if n]
        lines.append(f"{key} ×{len(members)}" + (f" ({', '.join(notes)})" if notes else ""))
    return lines


def render_text(report: Report) -> str:
    lines = ["Sitrep doctor", ""]
    title = None
    for result in report.results:
        if result.title != title:
            if title is not None:
                lines.append("")
            title = result.title
            lines.append(title)
        symbol = SYMBOL[result.status]
        gap = "  " if result.status is Status.SKIPPED else " "
        lines.append(f"  {symbol}{gap}{result.name}: {result.detail}")
        for call in _compact(result.called):
            lines.append(f"      called: {call}")
        if result.fix:
            lines.append(f"      fix: {result.fix}")
    failed, passed, skipped = (report.count(Status.FAIL), report.count(Status.OK), report.count(Status.SKIPPED))
    lines += ["", f"{passed} ✓, {failed} ✗, {skipped} not configured — "
              + ("ready." if report.ok else "fix each ✗ above, then run `sitrep doctor` again.")]
    return "\n".join(lines)


def render_json(report: Report) -> str:
    return json.dumps({
        "ok": report.ok,
        "summary": {"ok": report.count(Status.OK), "fail": report.count(Status.FAIL),
                    "skipped": report.count(Status.SKIPPED)},
        "checks": [r.as_dict() for r in report.results],
    }, indent=2, ensure_ascii=False)


def main(settings: Settings, *, as_json: bool = False, out: TextIO) -> int:
    """``sitrep doctor [--json]``: print the report on ``out``; 1 when a check failed."""
    report = asyncio.run(run_doctor(settings))
    print(render_json(report) if as_json else render_text(report), file=out)
    return report.exit_code
