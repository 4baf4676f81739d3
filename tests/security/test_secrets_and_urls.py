"""What an attacker or an accident could leak or trigger through Sitrep, end to end:

* every secret of the run (tokens, keys, a password typed into `/incident`) is absent from Sitrep's
  logs, from everything it posted to Slack and from every prompt sent to the model;
* the policy file's text (a comment planted in it) is never shown in Slack;
* no URL taken from an alert, a message or the model's answer is ever fetched: a canary server
  named in all of them receives nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_alerts import post_webhook
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.e2e.test_remediation import ONE_SRE_POLICY, click, rollbacks
from tests.support import REPO_ROOT, run_sitrep, wait_for

pytestmark = pytest.mark.timeout(120)
WEBHOOK_TOKEN = "whk-secret-FAKE-7c1d2e"
API_TOKEN = "api-secret-FAKE-9a8b7c"
TYPED_PASSWORD = "hunter2-FAKE-s3cr3t-pw"
POLICY_CANARY = "policy-comment-canary-5f2e"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "upstream"


class Canary:
    """An HTTP server that records every request: nobody should ever call it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(f"GET {self.path}")
                self.send_response(200)
                self.end_headers()

            do_POST = do_PUT = do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    yield server
    server.close()


def test_no_secret_leaks_no_policy_text_shown_and_no_foreign_url_fetched(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], workdir: Path, canary: Canary,
) -> None:
    policies = workdir / "policies"
    policies.mkdir()
    (policies / "policy.yml").write_text(f"# {POLICY_CANARY}\n{ONE_SRE_POLICY}")
    env = {**sitrep_env, "SITREP_POLICY_DIR": str(policies), "SITREP_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "SITREP_API_TOKEN": API_TOKEN, "SITREP_ALERT_CHANNELS": "C0ALERTS", "LOG_FORMAT": "json",
           "LOG_LEVEL": "debug"}
    # the model answers with links and a "runbook" pointing at the canary
    fake_cloud.anthropic_mode("reply", input={
        "title": f"checkout broken, see {canary.url}/model-title",
        "summary": [f"details at {canary.url}/model-summary"], "category": "errors",
        "root_cause": {"statement": f"read {canary.url}/model-cause", "service": "checkout",
                       "confidence": "LOW", "confidence_score": 20},
        "evidence": [{"id": "logs-1", "source": "logs", "detail": "x", "link": f"{canary.url}/model-link"}],
        "actions": [{"kind": "runbook", "target": {"service": "checkout"},
                     "params": {"name": f"{canary.url}/model-runbook"}, "rationale": "run it"}],
        "affected_services": ["checkout"], "unknowns": [], "next_checks": [f"GET {canary.url}/model-check"],
    })
    alert = json.loads((FIXTURES / "alertmanager" / "webhook_firing.json").read_text())
    alert["externalURL"] = f"{canary.url}/alertmanager"
    for item in alert["alerts"]:
        item["startsAt"] = fake_cloud.scenario.onset.isoformat().replace("+00:00", "Z")
        item["generatorURL"] = f"{canary.url}/generator"
        item["annotations"]["runbook_url"] = f"{canary.url}/runbook"
        item["annotations"]["description"] = f"see {canary.url}/description"

    with run_sitrep(env, workdir=workdir) as sitrep:
        send_incident(sitrep, signer, f"checkout down, login password={TYPED_PASSWORD} see {canary.url}/typed")
        brief = wait_for_brief(fake_cloud, timeout=30)
        fake_cloud.anthropic_mode("scenario")
        assert post_webhook(sitrep, alert, token=WEBHOOK_TOKEN).status_code == 202
        wait_for(lambda: len([c for c in fake_cloud.slack_calls() if "sitrep_brief" in json.dumps(c)]) >= 2,
                 timeout=30, what="the webhook incident's brief")
        if any(e.get("action_id") == "sitrep_approve" for b in brief.get("blocks") or []
               for e in b.get("elements") or []):
            click(sitrep, signer, brief, user="U0SRE1")
            wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
        incidents = httpx.get(f"{sitrep.url}/api/v1/incidents",
                              headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
        assert incidents.status_code == 200
        logs = sitrep.logs()

    secrets = [*fake_cloud.credentials.__dict__.values(), WEBHOOK_TOKEN, API_TOKEN, TYPED_PASSWORD,
               sitrep_env["SLACK_SIGNING_SECRET"]]
    secrets = [s for s in secrets if isinstance(s, str) and len(s) >= 8]
    posted = json.dumps(fake_cloud.slack_calls(), ensure_ascii=False)
    prompts = json.dumps(fake_cloud.anthropic_calls(), ensure_ascii=False)
    for secret in secrets:
        assert secret not in logs, f"a secret is in Sitrep's logs: {secret[:6]}…"
        assert secret not in posted, f"a secret was posted to Slack: {secret[:6]}…"
        assert secret not in prompts, f"a secret was sent to the model: {secret[:6]}…"
    assert POLICY_CANARY not in posted and POLICY_CANARY not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    collected = [line for line in lines if line.get("event") == "source_collected"]
    assert collected and all({"job_id", "incident_id", "source"} <= line.keys() for line in collected)
    assert fake_cloud.anthropic_calls(), "the model was asked (the prompts were really checked)"
    assert canary.hits == [], f"Sitrep fetched a URL it was only told about: {canary.hits}"
