"""Loki, Prometheus and Jaeger: reachable, and holding what the collectors will ask for.

- Loki: ``/loki/api/v1/labels`` (with ``X-Scope-OrgID`` when ``LOKI_TENANT`` is set); the label that
  ``SITREP_LOKI_SELECTOR`` selects services by exists.
- Prometheus: ``/api/v1/status/buildinfo``; ``SITREP_SERVICE_LABEL`` has values; every PromQL template the
  collector runs (``Settings.promql_for``) answers for one service. The saturation templates answer only
  when something is wrong (an OOM kill, an HPA at its maximum...), so for them no data is fine.
- Jaeger: ``/api/services``.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx

from bot.doctor.base import Context, Section, http_reason, json_body, listed, plural

#: a core template that may have no series on a healthy service: no 5xx ever counted
MAY_BE_EMPTY = frozenset({"error_ratio"})


def data_of(response: httpx.Response) -> Any:
    """``data`` of a Loki/Prometheus/Jaeger answer (``{"status": …, "data": …}``), or None."""
    if not response.is_success:
        return None
    body = json_body(response)
    return body.get("data") if isinstance(body, dict) else None


def selector_label(selector: str) -> str | None:
    """The label a LogQL selector template matches the service on: ``{app="{service}"}`` → ``app``."""
    match = re.search(r'([A-Za-z_][A-Za-z0-9_]*)\s*=~?\s*"[^"]*\{service\}', selector)
    return match.group(1) if match else None


async def check_loki(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    if not settings.loki_url:
        section.skipped("set LOKI_URL=http://loki:3100 (and LOKI_TENANT for multi-tenant Loki)")
        return
    section.url = settings.loki_url
    tenant = settings.loki_tenant
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    note = f" (X-Scope-OrgID: {tenant})" if tenant else ""
    async with ctx.client(settings.loki_url, headers=headers) as client:
        step = section.step("labels")
        response = await step.get(client, "/loki/api/v1/labels", note=note)
        if response.status_code in (401, 403):
            reason = http_reason(response)
            if tenant:
                step.fail(f"Loki refused tenant {tenant!r} ({reason})",
                          fix="set LOKI_TENANT to a tenant (X-Scope-OrgID) this Loki accepts")
            else:
                step.fail(f"Loki refused the request ({reason}): a multi-tenant Loki wants X-Scope-OrgID",
                          fix="set LOKI_TENANT to the tenant (org id) that holds your services' logs")
            return
        if response.is_error:
            step.fail(f"Loki answered {http_reason(response)}",
                      fix="check LOKI_URL: it is the base URL, without /loki/api/v1 (e.g. http://loki:3100)")
            return
        labels = data_of(response)
        if not isinstance(labels, list):
            step.fail("the answer has no label list", fix="check that LOKI_URL points at Loki's HTTP API")
            return
        step.ok(plural(len(labels), "label") + (f" for tenant {tenant}" if tenant else ""))

        label = selector_label(settings.sitrep_loki_selector)
        step = section.step("service label")
        if label is None:
            step.fail(f"SITREP_LOKI_SELECTOR={settings.sitrep_loki_selector} names no label with {{service}}",
                      fix='write it as a stream selector with {service} in a label value, e.g. {app="{service}"}')
            return
        if label not in labels:
            empty = " Loki has no labels at all for this tenant: is LOKI_TENANT right?" if not labels and tenant \
                else ""
            step.fail(f"no label {label!r} in Loki (it has {listed(sorted(labels)) or 'none'}).{empty}",
                      fix="set SITREP_LOKI_SELECTOR to select a service by a label your logs carry, e.g. "
                          '{app="{service}"}' + (" — or fix LOKI_TENANT" if tenant else ""))
            return
        values = data_of(await step.get(client, f"/loki/api/v1/label/{label}/values", note=note))
        shown = f": {listed(sorted(values))}" if isinstance(values, list) and values else ""
        count = plural(len(values), "value") if isinstance(values, list) else "its values unreadable"
        step.ok(f"{label!r} exists ({count}{shown})")


async def check_prometheus(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    if not settings.prometheus_url:
        section.skipped("set PROMETHEUS_URL=http://prometheus:9090")
        return
    section.url = settings.prometheus_url
    label = settings.sitrep_service_label
    async with ctx.client(settings.prometheus_url) as client:
        step = section.step("build info")
        response = await step.get(client, "/api/v1/status/buildinfo")
        if response.is_error:
            step.fail(f"Prometheus answered {http_reason(response)}",
                      fix="check PROMETHEUS_URL: the base URL, without /api/v1 (e.g. http://prometheus:9090)")
            return
        build = data_of(response)
        version = build.get("version") if isinstance(build, dict) else None
        step.ok(f"Prometheus {version or '(version not said)'}")

        step = section.step("service label")
        response = await step.get(client, f"/api/v1/label/{label}/values")
        values = data_of(response)
        if not isinstance(values, list):
            step.fail(f"could not list the values of {label!r}: {http_reason(response)}",
                      fix="check PROMETHEUS_URL")
            return
        if not values:
            step.fail(f"no series carry the label {label!r}",
                      fix="set SITREP_SERVICE_LABEL to the label your metrics name the service by (often app, "
                          "job or service), or relabel your scrape configs to add it")
            return
        step.ok(f"{label!r} has {plural(len(values), 'value')}: {listed(sorted(values))}")

        known = [s for s in ctx.policy_services() if s in values]
        service = known[0] if known else sorted(values)[0]
        await _templates(ctx, section, client, service=service)


async def _templates(ctx: Context, section: Section, client: httpx.AsyncClient, *, service: str) -> None:
    from bot.digest.saturation import SATURATION_QUERIES

    queries = ctx.settings.promql_for(service)
    step = section.step(f"PromQL templates for {service}")
    at = f"{time.time():.3f}"
    responses = await asyncio.gather(*(step.get(client, "/api/v1/query", params={"query": q, "time": at})
                                       for q in queries.values()))
    answered, empty, broken = [], [], []
    for name, response in zip(queries, responses, strict=True):
        if response.is_error:
            broken.append(f"{name} ({http_reason(response)})")
            continue
        data = data_of(response)
        result = data.get("result") if isinstance(data, dict) else None
        (answered if result else empty).append(name)
    core_empty = [n for n in empty if n not in SATURATION_QUERIES and n not in MAY_BE_EMPTY]
    quiet = [n for n in empty if n not in core_empty]
    detail = f"{len(answered)} of {len(queries)} return data"
    if quiet:
        detail += f"; no data (fine until it happens): {listed(quiet, limit=12)}"
    if broken:
        step.fail(f"{listed(broken)} failed; {detail}",
                  fix="fix the query in SITREP_PROMQL (a JSON object of name → PromQL, {service} and {label} "
                      "substituted), or remove it to use the built-in one")
    elif core_empty:
        step.fail(f"no data for {listed(core_empty)} ({detail})",
                  fix=f"check that the metrics behind them carry {ctx.settings.sitrep_service_label}="
                      f"\"{service}\" (SITREP_SERVICE_LABEL), or override those templates in SITREP_PROMQL")
    else:
        step.ok(detail)


async def check_jaeger(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    if not settings.jaeger_url:
        section.skipped("set JAEGER_URL=http://jaeger-query:16686")
        return
    section.url = settings.jaeger_url
    async with ctx.client(settings.jaeger_url) as client:
        step = section.step("services")
        response = await step.get(client, "/api/services")
        if response.is_error:
            step.fail(f"Jaeger answered {http_reason(response)}",
                      fix="check JAEGER_URL: the query service's base URL (port 16686), without /api")
            return
        services = data_of(response)
        if not isinstance(services, list):
            step.fail("the answer has no service list", fix="check that JAEGER_URL points at jaeger-query")
            return
        untraced = [s for s in ctx.policy_services() if s not in services]
        detail = f"{plural(len(services), 'service')} traced"
        if untraced:
            detail += f"; not in Jaeger (no traces to read for them): {listed(untraced)}"
        step.ok(detail)
