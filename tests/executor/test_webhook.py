"""Runbook webhooks: only configured URLs, a signature a receiver can verify, no call in a dry run."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from pydantic import SecretStr

from bot.executor.webhook import RunbookExecutor, sign, verify_signature
from tests.executor.conftest import TIMEOUT, action

SECRET = "runbook-secret-not-for-results"
HOOK = "https://hooks.test/runbooks/drain"
NOW = 1_764_042_720


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as made:
        yield made


def runbooks(client: httpx.AsyncClient, **urls: str) -> RunbookExecutor:
    return RunbookExecutor(client, runbooks=urls or {"drain": HOOK}, secret=SecretStr(SECRET), clock=lambda: NOW)


@respx.mock
async def test_a_runbook_call_is_signed_so_the_receiver_can_verify_it(client: httpx.AsyncClient) -> None:
    route = respx.post(HOOK).respond(202, json={"accepted": True})

    result = await runbooks(client).execute(action("runbook", name="drain"), dry_run=False, incident_id=42)

    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-sitrep-timestamp"] == str(NOW)
    expected = hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers["x-sitrep-signature"] == f"sha256={expected}"
    assert json.loads(request.content) == {"runbook": "drain", "service": "checkout", "namespace": "shop",
                                           "incident_id": 42, "dry_run": False, "timestamp": NOW}
    assert verify_signature(SECRET, body=request.content, signature=request.headers["x-sitrep-signature"], now=NOW)
    assert result.ok and result.sent and result.response is not None and result.response.status == 202
    assert result.request is not None and result.request.url == HOOK
    assert result.message == "runbook drain called for checkout"
    assert SECRET not in result.model_dump_json()


def test_a_tampered_body_or_an_old_timestamp_does_not_verify() -> None:
    body = json.dumps({"runbook": "drain", "timestamp": NOW}).encode()
    signature = sign(SECRET, body)
    assert verify_signature(SECRET, body=body, signature=signature, now=NOW + 10)
    assert not verify_signature(SECRET, body=body.replace(b"drain", b"nuke!"), signature=signature, now=NOW)
    assert not verify_signature("another-secret", body=body, signature=signature, now=NOW)
    assert not verify_signature(SECRET, body=body, signature=signature, now=NOW + 3600)


async def test_a_dry_run_calls_nothing_and_shows_what_it_would_send(client: httpx.AsyncClient) -> None:
    with respx.mock:  # nothing mocked: any call fails the test
        result = await runbooks(client).execute(action("runbook", name="drain"), dry_run=True)
    assert result.ok and result.dry_run and not result.sent and result.response is None
    assert result.request is not None and result.request.url == HOOK
    assert result.request.body == {"runbook": "drain", "service": "checkout", "namespace": "shop",
                                   "dry_run": True, "timestamp": NOW}
    assert result.message == "dry run: would call runbook drain for checkout; nothing sent"


@pytest.mark.parametrize("name", ["restart-db", "http://evil.example/hook", HOOK])
async def test_an_unknown_runbook_name_is_refused(client: httpx.AsyncClient, name: str) -> None:
    with respx.mock:
        result = await runbooks(client).execute(action("runbook", name=name), dry_run=False)
    assert not result.ok and result.request is None
    assert result.error is not None and result.error.startswith("no runbook named")
    assert "(known: drain)" in result.error


async def test_a_configured_url_that_is_not_http_is_refused(client: httpx.AsyncClient) -> None:
    with respx.mock:
        result = await runbooks(client, drain="file:///etc/passwd").execute(action("runbook", name="drain"),
                                                                            dry_run=False)
    assert not result.ok and result.error == "runbook drain has an invalid URL in SITREP_RUNBOOKS: nothing sent"


@pytest.mark.parametrize(("mock", "reason"), [
    ({"return_value": httpx.Response(500, text="boom")}, "runbook drain 500 boom"),
    ({"return_value": httpx.Response(401, json={"message": "bad signature"})}, "runbook drain 401 bad signature"),
    ({"side_effect": httpx.ReadTimeout("slow")}, "runbook drain timeout after 10 s"),
])
@respx.mock
async def test_webhook_failures_are_reported(client: httpx.AsyncClient, mock: dict[str, object],
                                             reason: str) -> None:
    respx.post(HOOK).mock(**mock)  # type: ignore[arg-type]
    result = await runbooks(client).execute(action("runbook", name="drain"), dry_run=False)
    assert not result.ok and result.error == reason and result.message == f"runbook drain failed: {reason}"


@respx.mock
async def test_secrets_in_a_runbook_url_stay_out_of_the_result(client: httpx.AsyncClient) -> None:
    url = "https://user:pw@hooks.test/run?token=abc123&team=sre"
    respx.post("https://hooks.test/run").respond(204)
    result = await runbooks(client, drain=url).execute(action("runbook", name="drain"), dry_run=False)
    assert result.ok and result.request is not None
    assert result.request.url == "https://hooks.test/run?token=***&team=sre"
    assert "abc123" not in result.model_dump_json() and "pw@" not in result.model_dump_json()
