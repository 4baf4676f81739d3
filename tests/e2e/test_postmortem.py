"""Audit end to end: after a brief and an approval, the timeline API and `/incident postmortem`
tell the whole story."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.e2e.test_remediation import API_TOKEN, ONE_SRE_POLICY, click, rollbacks, start
from tests.support import SitrepProcess, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)


def test_timeline_api_and_postmortem_file_record_every_step(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0DEV")   # refused
    click(sitrep, signer, brief_call, user="U0SRE1")  # runs (dry run)
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")

    def timeline() -> list[dict]:
        response = httpx.get(f"{sitrep.url}/api/v1/incidents/1/timeline",
                             headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert response.status_code == 200
        return response.json()["items"]

    items = wait_for(lambda: [i for i in timeline() if i["type"] == "EXECUTION_FINISHED"] and timeline(),
                     timeout=10, what="the execution on the timeline")
    types = [i["type"] for i in items]
    for expected in ("INVESTIGATION_STARTED", "SOURCE_COLLECTED", "ANALYSIS_COMPLETED", "ACTION_PROPOSED",
                     "BRIEF_POSTED", "APPROVAL_REFUSED", "APPROVAL_GIVEN", "EXECUTION_STARTED",
                     "EXECUTION_FINISHED"):
        assert expected in types, f"{expected} missing from {types}"
    assert types.index("INVESTIGATION_STARTED") < types.index("BRIEF_POSTED") < types.index("APPROVAL_GIVEN")
    assert {"U0DEV", "U0SRE1"} <= {i["actor"] for i in items}

    body = signer.slash_command_body(text="postmortem 1")
    assert signer.post(f"{sitrep.url}/slack/events", body).status_code == 200
    files = wait_for(lambda: [f for f in fake_cloud.slack_files() if f.get("content") and "thread_ts" in f],
                     timeout=10,
                     what="the postmortem file")
    root_ts = [c for c in fake_cloud.slack_calls("chat.postMessage") if not c.get("thread_ts")][0]["ts"]
    postmortem = files[0]
    assert postmortem["name"] == "postmortem-incident-1.md" and postmortem["thread_ts"] == root_ts
    text = postmortem["content"]
    for expected in ("# Postmortem draft: incident 1", "## Timeline (UTC)", "APPROVAL_GIVEN", "U0SRE1",
                     "## Decisions and actions", "v2.14.2", fake_cloud.scenario.culprit_revision):
        assert expected in text
    for secret in (sitrep_env["SLACK_BOT_TOKEN"], sitrep_env["ARGOCD_TOKEN"], API_TOKEN):
        assert secret not in text


def test_postmortem_of_an_unknown_incident_says_what_to_type(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    for text, expected in (("postmortem 99", "no incident 99"), ("postmortem", "/incident postmortem 12")):
        response = signer.post(f"{sitrep.url}/slack/events", signer.slash_command_body(text=text))
        assert response.status_code == 200 and expected in response.json()["text"]
