"""Who is on call: PagerDuty and Opsgenie as their REST APIs answer (respx), the rota file as fallback."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx
from pydantic import SecretStr

from bot.oncall import OnCallDirectory

PD = "https://pd.test"
OG = "https://og.test"


def directory(tmp_path: Path | None = None, rota: str | None = None) -> OnCallDirectory:
    rota_file = None
    if tmp_path is not None and rota is not None:
        rota_file = str(tmp_path / "rota.yml")
        Path(rota_file).write_text(rota)
    return OnCallDirectory(pagerduty_url=PD, pagerduty_token=SecretStr("pd-token"), opsgenie_url=OG,
                           opsgenie_key=SecretStr("og-key"), rota_file=rota_file, timeout_seconds=0.5)


@respx.mock
async def test_pagerduty_users_on_call_now_with_the_token() -> None:
    route = respx.get(f"{PD}/schedules/PSRE01/users").respond(200, json={"users": [
        {"id": "PXPGF42", "type": "user", "summary": "Ana", "name": "Ana", "email": "ana@example.com",
         "html_url": "https://x.pagerduty.com/users/PXPGF42"}]})
    answer = await directory().who("oncall:pagerduty/PSRE01")
    assert answer.contacts == ("ana@example.com",) and answer.note is None
    request = route.calls.last.request
    assert request.headers["authorization"] == "Token token=pd-token"
    assert {"since", "until"} <= set(request.url.params)


@respx.mock
async def test_opsgenie_flat_on_call_recipients_with_the_genie_key() -> None:
    route = respx.get(f"{OG}/v2/schedules/sre-week/on-calls").respond(200, json={
        "data": {"_parent": {"id": "sre-week", "name": "SRE", "enabled": True},
                 "onCallRecipients": ["ben@example.com"]}, "took": 0.1, "requestId": "r"})
    answer = await directory().who("oncall:opsgenie/sre-week")
    assert answer.contacts == ("ben@example.com",)
    assert route.calls.last.request.headers["authorization"] == "GenieKey og-key"
    assert route.calls.last.request.url.params["flat"] == "true"


@respx.mock
async def test_answers_are_cached_for_a_minute() -> None:
    route = respx.get(f"{PD}/schedules/PSRE01/users").respond(200, json={"users": []})
    d = directory()
    await d.who("oncall:pagerduty/PSRE01")
    await d.who("oncall:pagerduty/PSRE01")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        pytest.param(httpx.Response(401, json={"error": {"message": "Unauthorized", "code": 2006}}),
                     "PagerDuty answered HTTP 401", id="bad-token"),
        pytest.param(httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}}),
                     "PagerDuty does not know this schedule (404)", id="unknown-schedule"),
        pytest.param(httpx.Response(200, text="<html>gateway</html>"), "not JSON", id="html"),
        pytest.param(httpx.Response(200, json={"schedule": {}}), "without a users list", id="other-shape"),
        pytest.param(httpx.ConnectError("refused"), "could not be reached", id="down"),
        pytest.param(httpx.ReadTimeout("slow"), "did not answer within 0.5 s", id="slow"),
    ],
)
@respx.mock
async def test_a_failing_schedule_service_falls_back_to_the_rota_and_says_why(
    tmp_path: Path, response: httpx.Response | Exception, reason: str
) -> None:
    route = respx.get(f"{PD}/schedules/PSRE01/users")
    if isinstance(response, Exception):
        route.mock(side_effect=response)
    else:
        route.mock(return_value=response)
    d = directory(tmp_path, "pagerduty/PSRE01: [U0ANA, ana@example.com]\n")
    answer = await d.who("oncall:pagerduty/PSRE01")
    assert answer.contacts == ("U0ANA", "ana@example.com")
    assert answer.note is not None and reason in answer.note and "used the static rota file" in answer.note


@respx.mock
async def test_a_failing_service_without_a_rota_entry_leaves_nobody_on_call(tmp_path: Path) -> None:
    respx.get(f"{OG}/v2/schedules/sre-week/on-calls").respond(503)
    answer = await directory(tmp_path, "pagerduty/OTHER: [U0ANA]\n").who("oncall:opsgenie/sre-week")
    assert answer.contacts == ()
    assert answer.note is not None and "the rota file has no entry 'opsgenie/sre-week'" in answer.note


async def test_not_configured_uses_the_rota_and_a_rota_schedule_reads_only_the_file(tmp_path: Path) -> None:
    d = OnCallDirectory(rota_file=str(tmp_path / "rota.yml"))
    Path(d.rota_file or "").write_text("pagerduty/PSRE01: [U0ANA]\ncheckout-primary: [U0BEN]\n")
    answer = await d.who("oncall:pagerduty/PSRE01")
    assert answer.contacts == ("U0ANA",) and "PagerDuty is not configured (PAGERDUTY_TOKEN)" in (answer.note or "")
    rota = await d.who("oncall:rota/checkout-primary")
    assert rota.contacts == ("U0BEN",) and rota.note is None


async def test_a_broken_rota_file_is_named_not_a_crash(tmp_path: Path) -> None:
    rota = tmp_path / "rota.yml"
    rota.write_text("checkout: [unclosed\n")
    answer = await OnCallDirectory(rota_file=str(rota)).who("oncall:rota/checkout")
    assert answer.contacts == () and "is not valid YAML at line 2" in (answer.note or "")
