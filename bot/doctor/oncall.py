"""PagerDuty and Opsgenie, when set or when the policy names their schedules (``oncall:pagerduty/…``,
``oncall:opsgenie/…`` approvers): the key works, and each schedule the policy names is known
(the calls of ``bot.oncall``). Without a key, a named schedule falls back to ``SITREP_ONCALL_ROTA``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from bot.doctor.base import Context, Section, Status, Step, http_reason, json_body, plural


def schedules(ctx: Context, provider: str) -> list[str]:
    """The schedule ids the policy names for ``provider`` as approvers or owners."""
    from bot.policy.decision import ON_CALL_PREFIX

    if ctx.policy is None:
        return []
    names = [*(a for rule in ctx.policy.rules for a in rule.approvers),
             *(o for spec in ctx.policy.services.values() for o in spec.owners)]
    prefix = f"{ON_CALL_PREFIX}{provider}/"
    return list(dict.fromkeys(str(n)[len(prefix):] for n in names if str(n).startswith(prefix)))


async def check_pagerduty(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    named = schedules(ctx, "pagerduty")
    if settings.pagerduty_token is None:
        _unset(ctx, section, named, setting="PAGERDUTY_TOKEN", provider="pagerduty")
        return
    section.url, section.url_setting = settings.pagerduty_api_url, "PAGERDUTY_API_URL"
    headers = {"Authorization": f"Token token={settings.pagerduty_token.get_secret_value()}",
               "Accept": "application/vnd.pagerduty+json;version=2"}
    async with ctx.client(settings.pagerduty_api_url, headers=headers) as client:
        if not named:
            step = section.step("API key")
            response = await step.get(client, "/abilities")
            if response.is_success:
                step.ok("the key is accepted; the policy names no oncall:pagerduty/… schedule yet")
            else:
                step.fail(f"PagerDuty answered {http_reason(response)}", fix=_key_fix("PAGERDUTY_TOKEN"))
            return
        now = datetime.now(UTC)
        window = {"since": now.isoformat(), "until": (now + timedelta(seconds=1)).isoformat()}
        for schedule in named:
            step = section.step(f"schedule {schedule}")
            response = await step.get(client, f"/schedules/{quote(schedule, safe='')}/users", params=window)
            _schedule_result(step, response, schedule=schedule, setting="PAGERDUTY_TOKEN",
                                   people=lambda body: body.get("users"))


async def check_opsgenie(ctx: Context, section: Section) -> None:
    settings = ctx.settings
    named = schedules(ctx, "opsgenie")
    if settings.opsgenie_api_key is None:
        _unset(ctx, section, named, setting="OPSGENIE_API_KEY", provider="opsgenie")
        return
    section.url, section.url_setting = settings.opsgenie_api_url, "OPSGENIE_API_URL"
    headers = {"Authorization": f"GenieKey {settings.opsgenie_api_key.get_secret_value()}"}
    async with ctx.client(settings.opsgenie_api_url, headers=headers) as client:
        if not named:
            step = section.step("API key")
            response = await step.get(client, "/v2/account")
            if response.is_success:
                step.ok("the key is accepted; the policy names no oncall:opsgenie/… schedule yet")
            else:
                step.fail(f"Opsgenie answered {http_reason(response)}", fix=_key_fix("OPSGENIE_API_KEY"))
            return
        for schedule in named:
            step = section.step(f"schedule {schedule}")
            response = await step.get(client, f"/v2/schedules/{quote(schedule, safe='')}/on-calls",
                                      params={"flat": "true"})
            _schedule_result(step, response, schedule=schedule, setting="OPSGENIE_API_KEY",
                                   people=lambda body: (body.get("data") or {}).get("onCallRecipients"))


def _key_fix(setting: str) -> str:
    return f"set {setting} to a valid read-only REST API key"


def _schedule_result(step: Step, response: httpx.Response, *, schedule: str, setting: str,
                     people: Callable[[dict[str, Any]], Any]) -> None:
    if response.status_code in (401, 403):
        step.fail(f"the key was refused ({http_reason(response)})", fix=_key_fix(setting))
    elif response.status_code == 404:
        step.fail(f"no schedule {schedule!r}", fix="check the schedule id in the policy (it is in the schedule "
                                                    "page's URL)")
    elif response.is_error:
        step.fail(f"answered {http_reason(response)}", fix="check the API URL setting")
    else:
        body = json_body(response)
        found = people(body) if isinstance(body, dict) else None
        count = len(found) if isinstance(found, list) else 0
        step.ok(f"known; {plural(count, 'person', 'people')} on call now")


def _unset(ctx: Context, section: Section, named: list[str], *, setting: str, provider: str) -> None:
    if not named:
        section.skipped(f"set {setting} only if the policy names oncall:{provider}/… approvers")
    elif ctx.settings.sitrep_oncall_rota:
        section.add("schedules", Status.OK, f"the policy names {plural(len(named), 'schedule')} "
                    f"({', '.join(named)}); without {setting} the rota file SITREP_ONCALL_ROTA answers for them")
    else:
        section.add("schedules", Status.FAIL, f"the policy names oncall:{provider}/{named[0]} but {setting} and "
                    "SITREP_ONCALL_ROTA are unset: nobody counts as on call for it",
                    fix=f"set {setting}, or list the people in a rota file (SITREP_ONCALL_ROTA)")
