"""Untrusted text stays data, end to end, in one server run: hostile alert titles, labels, model text
and /incident text never reach Slack as a mention or a foreign link; an incident of a private channel
is invisible from elsewhere; a Slack Connect member of another organization is refused; an /incident
flood is rate-limited while webhooks keep being accepted."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_alerts import ALERTS, TOKEN, alertmanager_body, briefs, post_webhook
from tests.support import REPO_ROOT, SitrepProcess, run_sitrep, wait_for

pytestmark = pytest.mark.timeout(150)

HOSTILE = "<!channel> <!here> <@U0EVIL> <#C0EVIL> <https://evil.example|Approve rollback here> &lt;!everyone&gt;"
#: what must never reach Slack: a live mention, a channel link, or a link to a host Sitrep did not build
LIVE = re.compile(r"<(?:!|@U0EVIL|#C0EVIL|https?://evil)")
PRIVATE = "G0PRIVATE"


def command(sitrep: SitrepProcess, signer: SlackSigner, text: str, *, user: str = "U0DEV",
            channel: str = "C0INCIDENT", team: str | None = None, enterprise: str | None = None) -> str:
    body = signer.slash_command_body(text=text, user_id=user, channel_id=channel, team_id=team,
                                     enterprise_id=enterprise)
    response = signer.post(f"{sitrep.url}/slack/events", body)
    assert response.status_code == 200, response.text
    return response.text


def everything_posted(cloud: FakeCloud) -> list[dict[str, Any]]:
    return [c for c in cloud.slack_calls() if c["method"] in {
        "chat.postMessage", "chat.update", "chat.postEphemeral", "views.publish", "views.open"}]


def hostile_alert(cloud: FakeCloud, *, status: str = "firing") -> dict[str, Any]:
    body = copy.deepcopy(alertmanager_body(cloud))
    [alert] = body["alerts"]
    alert["labels"] = {**alert["labels"], "alertname": f"Evil {HOSTILE}", "cluster": HOSTILE}
    alert["annotations"] = {"summary": HOSTILE, "description": HOSTILE}
    alert["fingerprint"] = "e0e0e0e0e0e0e0e0"
    alert["status"] = status
    if status == "resolved":
        alert["endsAt"] = alert["startsAt"]
    body["status"] = status
    return body


def test_hostile_text_private_channels_and_floods(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], workdir: Path
) -> None:
    fake_cloud.anthropic_mode("reply", input={
        "title": f"checkout {HOSTILE}", "summary": [f"p99 up {HOSTILE}"], "category": "deploy_regression",
        "root_cause": {"statement": f"v2.14.3 {HOSTILE}", "service": "checkout", "confidence": "MEDIUM",
                       "confidence_score": 60},
        "evidence": [{"id": "deploys-1", "source": "deploys", "detail": HOSTILE}],
        "actions": [{"kind": "manual", "target": {"service": "checkout"}, "params": {"text": HOSTILE},
                     "rationale": HOSTILE}],
        "unknowns": [HOSTILE], "next_checks": [HOSTILE],
    })
    env = {**sitrep_env, "SITREP_ALERT_CHANNELS": ALERTS, "SITREP_WEBHOOK_TOKEN": TOKEN,
           "SITREP_POLICY_DIR": str(REPO_ROOT / "policies"), "SITREP_GROUP_WAIT_SECONDS": "1",
           "SITREP_INCIDENT_PER_USER": "3", "SITREP_METRICS_TOKEN": "metrics-token-0123456789"}
    with run_sitrep(env, workdir=workdir) as sitrep:
        # an alert, then a hostile one joining it, then the hostile one resolving ("still firing")
        assert post_webhook(sitrep, alertmanager_body(fake_cloud)).status_code == 202
        wait_for(lambda: briefs(fake_cloud), timeout=30, what="the first brief")
        assert post_webhook(sitrep, hostile_alert(fake_cloud)).status_code == 202
        wait_for(lambda: any("joined this incident" in (c.get("text") or "")
                             for c in fake_cloud.slack_calls("chat.postMessage")), timeout=20, what="joined")
        assert post_webhook(sitrep, hostile_alert(fake_cloud, status="resolved")).status_code == 202
        wait_for(lambda: any("Still firing" in (c.get("text") or "")
                             for c in fake_cloud.slack_calls("chat.postMessage")), timeout=20, what="resolved")
        # a person's hostile words: the root message, the brief, its fallback text
        command(sitrep, signer, f"cart {HOSTILE}", user="U0ONE")
        # an incident in a private channel, by someone who is no owner of recommendations
        command(sitrep, signer, "recommendations slow", user="U0PRIV", channel=PRIVATE)
        wait_for(lambda: [c for c in fake_cloud.slack_calls("chat.postMessage") if c.get("channel") == PRIVATE],
                 timeout=20, what="the private incident's root")

        # -------------------------------------------------------------- who sees what
        elsewhere = command(sitrep, signer, "list", user="U0DEV", channel="C0OTHER")
        inside = command(sitrep, signer, "list", user="U0DEV", channel=PRIVATE)
        assert "recommendations" not in elsewhere and "cart" in elsewhere
        assert "recommendations" in inside
        private_id = re.search(r"#(\d+) recommendations", inside).group(1)  # type: ignore[union-attr]
        for verb in ("status", "resolve", "reopen"):
            answer = command(sitrep, signer, f"{verb} {private_id}", user="U0DEV", channel="C0OTHER")
            assert f"There is no incident {private_id}" in answer, (verb, answer)

        # -------------------------------------------------------------- Slack Connect: another organization
        # a member of a partner's workspace types /incident in a shared channel: the payload's
        # team_id (and enterprise_id) are their organization's, not Sitrep's
        outsider = command(sitrep, signer, "recommendations please restart recommendations", user="U0OUTSIDER",
                           team="T0PARTNER", enterprise="E0PARTNER")
        assert "another organization" in outsider, outsider
        assert "another organization" in command(sitrep, signer, "list", user="U0OUTSIDER", team="T0PARTNER")

        # -------------------------------------------------------------- an /incident flood
        answers = [command(sitrep, signer, f"cart flood {i}", user="U0FLOOD") for i in range(5)]
        limited = [a for a in answers if "investigations in the last" in a]
        assert len(limited) == 2 and "the limit is 3" in limited[0]
        assert post_webhook(sitrep, alertmanager_body(fake_cloud)).status_code == 202  # alerts still taken

        # -------------------------------------------------------------- /metrics wants its token
        assert httpx.get(f"{sitrep.url}/metrics", timeout=10).status_code == 401
        scraped = httpx.get(f"{sitrep.url}/metrics", timeout=10,
                            headers={"Authorization": "Bearer metrics-token-0123456789"})
        assert scraped.status_code == 200 and "sitrep_alerts_total" in scraped.text

        # -------------------------------------------------------------- nothing live reached Slack
        wait_for(lambda: len(briefs(fake_cloud)) >= 3, timeout=40, what="the briefs")
    posted = everything_posted(fake_cloud)
    leaks = [(c["method"], m.group(0)) for c in posted for m in LIVE.finditer(json.dumps(c, ensure_ascii=False))]
    assert leaks == [], leaks[:5]
    texts = json.dumps(posted, ensure_ascii=False)
    assert "Approve rollback here" in texts  # shown, as text
    assert "U0OUTSIDER" not in texts  # the outsider's /incident opened nothing and listed nothing
