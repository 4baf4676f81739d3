"""Secrets planted in every input Sitrep reads never reach the model, Slack, the database or the logs.

One `sitrep serve` against the fake cloud. Each input path gets secrets of its own (none of them one of
Sitrep's configured tokens, so only the redactor can catch them) next to a marker that is not secret:

* an Alertmanager webhook: label values, annotations, the generator URL;
* an alert posted in an alert channel (its text), and a person's message there (kept as a dead letter);
* a webhook body that cannot be parsed (kept as a dead letter);
* the text of `/incident`;
* log lines in Loki, read by the investigation;
* Jaeger span tags (the fake cannot carry extra tags: checked at the collector, below).

The markers show that each path was really taken (the alert is stored, the log line reached the prompt),
so the absence of the secrets means they were redacted, not that nothing was read.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.collectors.jaeger import describe_trace, parse_trace
from bot.digest.redact import Redactor
from bot.digest.scrub import scrub_results
from bot.models import Evidence, EvidenceSource, SourceName, SourceResult, SourceStatus
from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_alerts import ALERTS, TOKEN, post_webhook
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.support import REPO_ROOT, run_sitrep, wait_for

pytestmark = pytest.mark.timeout(150)
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "upstream"

# Synthetic secrets of the kinds the redactor knows, one set per path. None is configured anywhere.
LABEL_TOKEN = "Zq7xLm2Pw9Rt4Kv8Nb3Hc6Jd1Fg5Ys0"  # a label named api_token
LABEL_EMAIL = "jane.doe.oncall@example.com"  # a label value
ANNOTATION_BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJGQUtFLXRlc3QtdXNlciJ9.c2lnbmF0dXJlRkFLRXRlc3Qx"
ANNOTATION_PASSWORD = "Harbor-Falcon-2024!"
GENERATOR_KEY = "AIzaSyFAKE0test0EXAMPLE-key0123456789ab"  # in the generator URL's query
SLACK_AWS_KEY = "AKIAFAKE7TEST0EXAMPL"
SLACK_PHONE = "+44 20 7946 0958"
DEAD_LETTER_PASSWORD = "Winter2024!dead-letter"
DEAD_LETTER_SSN = "536-22-8197"
BAD_BODY_TOKEN = "glpat-FAKEtest0EXAMPLE0badbody"
INCIDENT_STRIPE = "sk_live_FAKE0test0EXAMPLE0incident0key"
INCIDENT_CARD = "4111 1111 1111 1111"
LOKI_SECRET = "cs_FAKE0test0EXAMPLE0loki0secret0"
LOKI_PGPASSWORD = "Maple-Rocket-77#"
LOKI_EMAIL = "customer.loki@example.org"

PLANTED = [LABEL_TOKEN, LABEL_EMAIL, ANNOTATION_BEARER, ANNOTATION_PASSWORD, GENERATOR_KEY, SLACK_AWS_KEY,
           SLACK_PHONE, DEAD_LETTER_PASSWORD, DEAD_LETTER_SSN, BAD_BODY_TOKEN, INCIDENT_STRIPE, INCIDENT_CARD,
           LOKI_SECRET, LOKI_PGPASSWORD, LOKI_EMAIL]


def webhook_with_secrets(cloud: FakeCloud) -> dict[str, Any]:
    body = json.loads((FIXTURES / "alertmanager" / "webhook_firing.json").read_text())
    for alert in body["alerts"]:
        alert["startsAt"] = cloud.scenario.onset.isoformat().replace("+00:00", "Z")
        alert["labels"] |= {"api_token": LABEL_TOKEN, "owner": LABEL_EMAIL, "marker": "marker-webhook-label"}
        alert["annotations"]["summary"] = (
            f"marker-webhook-annotation: checkout p99 above 2s, the admin password is {ANNOTATION_PASSWORD}")
        alert["annotations"]["description"] = f"upstream sent Authorization: Bearer {ANNOTATION_BEARER}"
        alert["generatorURL"] += f"&api_key={GENERATOR_KEY}"
    return body


def slack_alert_event(signer: SlackSigner) -> dict[str, Any]:
    text = ("*Alert:* PaymentsDown - critical\n"
            f"*Description:* marker-slack-alert: card processor refused key {SLACK_AWS_KEY}; "
            f"customer callback {SLACK_PHONE}\n"
            "*Details:*\n • *alertname:* `PaymentsDown`\n • *service:* `checkout`\n • *severity:* `critical`")
    return signer.message_event(channel=ALERTS, text=text, bot_id="B0ALERTMGR", ts="1764042999.000100")


def database_text(path: Path) -> str:
    """Every value of every table, as one string."""
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute("select name from sqlite_master where type = 'table'")]
        return "\n".join(str(row) for table in tables for row in db.execute(f'select * from "{table}"'))


MARKERS = ("marker-webhook-label", "marker-webhook-annotation", "marker-slack-alert", "marker-person",
           "marker-bad-body", "marker-incident")


def all_stored(path: Path) -> str | None:
    text = database_text(path)
    return text if all(marker in text for marker in MARKERS) else None


def test_secrets_planted_in_every_input_reach_neither_model_nor_slack_nor_database_nor_logs(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], workdir: Path,
) -> None:
    env = {**sitrep_env, "SITREP_ALERT_CHANNELS": ALERTS, "SITREP_WEBHOOK_TOKEN": TOKEN,
           "SITREP_POLICY_DIR": str(REPO_ROOT / "policies"), "SITREP_GROUP_WAIT_SECONDS": "1",
           "LOG_FORMAT": "json", "LOG_LEVEL": "debug"}
    fake_cloud.loki_lines([
        json.dumps({"level": "error", "msg": "marker-loki-json token exchange failed", "client_secret": LOKI_SECRET,
                    "user": LOKI_EMAIL}),
        f"marker-loki-env: + PGPASSWORD={LOKI_PGPASSWORD} psql -h orders-db -U app -c 'select 1' failed",
    ])

    with run_sitrep(env, workdir=workdir) as sitrep:
        response, _ = send_incident(sitrep, signer, f"checkout marker-incident: charges fail with {INCIDENT_STRIPE}, "
                                                    f"customer card {INCIDENT_CARD}")
        assert response.status_code == 200
        wait_for_brief(fake_cloud, timeout=40)
        assert post_webhook(sitrep, webhook_with_secrets(fake_cloud), token=TOKEN).status_code == 202
        assert post_webhook(sitrep, f'{{"alerts": [{{"token": "{BAD_BODY_TOKEN}" marker-bad-body'.encode(),
                            token=TOKEN).status_code == 400
        for event in (slack_alert_event(signer),
                      signer.message_event(channel=ALERTS, user="U0DEV", text=(
                          f"marker-person: the db password: {DEAD_LETTER_PASSWORD} and my SSN {DEAD_LETTER_SSN}"))):
            assert signer.post(f"{sitrep.url}/slack/events", signer.event_body(event)).status_code == 200
        try:
            stored = wait_for(lambda: all_stored(workdir / "sitrep.db"), timeout=30, what="every input stored")
        except AssertionError:
            missing = [m for m in MARKERS if m not in database_text(workdir / "sitrep.db")]
            raise AssertionError(f"not stored: {missing}\n{sitrep.logs()[-3000:]}") from None
        logs = sitrep.logs()

    prompts = json.dumps(fake_cloud.anthropic_calls(), ensure_ascii=False)
    posted = json.dumps(fake_cloud.slack_calls(), ensure_ascii=False)
    # each path was taken: its marker is there, around the placeholders
    assert "marker-incident" in prompts and "marker-loki" in prompts, "the typed text and the log lines reached the model"
    assert "<secret:" in prompts and "<secret:" in stored
    for secret in PLANTED:
        assert secret not in prompts, f"sent to the model: {secret}"
        assert secret not in posted, f"posted to Slack: {secret}"
        assert secret not in stored, f"kept in the database: {secret}"
        assert secret not in logs, f"written to the logs: {secret}"


def test_jaeger_span_tags_with_secrets_never_reach_the_evidence() -> None:
    """Span tags are read for the status code and the error flag only; an operation name is scrubbed."""
    secret = "Xk9Lm2Qw7Rt4Vb8Nc3Hd6Jf1Gs5Ya0Zp"
    item = {
        "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
        "processes": {"p1": {"serviceName": "checkout", "tags": [{"key": "api_key", "value": secret}]}},
        "spans": [{
            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7", "processID": "p1",
            "operationName": f"GET /reset?token={secret}", "startTime": 1_764_042_091_000_000, "duration": 8_200_000,
            "references": [],
            "tags": [{"key": "http.status_code", "value": 503}, {"key": "error", "value": True},
                     {"key": "http.request.header.authorization", "value": f"Bearer {secret}"},
                     {"key": "db.statement", "value": f"select * from users where password = '{secret}'"}],
        }],
    }
    trace = parse_trace(item)
    assert trace is not None and trace.error and trace.spans[0].status_code == 503
    evidence = [Evidence(id="traces-1", source=EvidenceSource.TRACES, detail=describe_trace(trace), payload=trace)]
    results, removed = scrub_results(
        [SourceResult(source=SourceName.JAEGER, status=SourceStatus.OK, evidence=evidence)], Redactor())
    kept = results[0].model_dump_json()
    assert secret not in kept
    assert "GET /reset?token=<secret:token>" in kept
    assert removed["token"] >= 1
