"""On-call approvers end to end: a policy names a PagerDuty or Opsgenie schedule, the fake schedule
services (shaped like their REST APIs) say who is on call, and only that person's click counts; with
the schedule service down the static rota file answers and the approver is told so. Whoever made the
deploy a rollback undoes may not approve it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.sandbox.scenario import Scenario
from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from tests.e2e.conftest import FAST_BUDGETS, SIGNING_SECRET
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.e2e.test_remediation import ONE_SRE_POLICY, click, ephemerals, policy_dir, rollbacks, start, thread_texts
from tests.support import SitrepProcess, run_sitrep, settle, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)

PAGERDUTY_POLICY = ONE_SRE_POLICY.replace('approvers: ["@sre"]', 'approvers: ["oncall:pagerduty/PSRE01"]')
OPSGENIE_POLICY = ONE_SRE_POLICY.replace('approvers: ["@sre"]', 'approvers: ["oncall:opsgenie/checkout-sre"]')


def test_only_the_person_on_call_in_pagerduty_may_approve(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.on_call(pagerduty={"PSRE01": ["sre-ben@example.com"]})  # U0SRE2 in the fake workspace
    sitrep = start(serve, sitrep_env, PAGERDUTY_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    assert "needs 1 approval from the on-call of PagerDuty PSRE01" in json.dumps(brief_call["blocks"])
    click(sitrep, signer, brief_call, user="U0SRE1")  # an SRE, but not on call
    refusal = wait_for(lambda: ephemerals(fake_cloud, "U0SRE1"), timeout=10, what="a refusal")
    assert "not allowed" in refusal[0]
    assert rollbacks(fake_cloud) == []
    click(sitrep, signer, brief_call, user="U0SRE2")
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
    wait_for(lambda: "<@U0SRE2> approved" in thread_texts(fake_cloud), timeout=10, what="the approval")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))  # all said and done
    calls = fake_cloud.upstream_calls("pagerduty")
    assert calls and all(c["path"].endswith("/schedules/PSRE01/users") for c in calls)
    assert ephemerals(fake_cloud, "U0SRE2") == []  # nothing to say: PagerDuty answered
    assert len(rollbacks(fake_cloud)) == 1


def test_opsgenie_schedule_decides_who_may_approve(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.on_call(opsgenie={"checkout-sre": ["sre-chen@example.com"]})  # U0SRE3
    sitrep = start(serve, sitrep_env, OPSGENIE_POLICY)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE3")
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
    assert fake_cloud.upstream_calls("opsgenie")


def test_pagerduty_down_falls_back_to_the_rota_file_and_says_so(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve, workdir: Path
) -> None:
    fake_cloud.on_call(pagerduty={"PSRE01": ["sre-ben@example.com"]})
    fake_cloud.set_faults(pagerduty={"status": 503})
    rota = workdir / "rota.yml"
    rota.write_text("# who is on call when PagerDuty cannot say\npagerduty/PSRE01: [sre-ana@example.com]\n")
    sitrep = start(serve, sitrep_env, PAGERDUTY_POLICY, SITREP_ONCALL_ROTA=str(rota))
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE1")  # on call by the rota file
    wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
    note = wait_for(lambda: ephemerals(fake_cloud, "U0SRE1"), timeout=10, what="the fallback note")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
    assert "PagerDuty answered HTTP 503" in note[0]
    assert "used the static rota file instead" in note[0]


def test_without_pagerduty_or_a_rota_nobody_counts_as_on_call_and_the_approver_is_told_why(
    fake_cloud: FakeCloud, signer: SlackSigner, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.set_faults(pagerduty={"hang": True})
    env = {**sitrep_env}
    # a server of its own: one that asked PagerDuty before remembers who was on call for a while
    sitrep = start(serve, env, PAGERDUTY_POLICY, fresh=True)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    click(sitrep, signer, brief_call, user="U0SRE2")
    said = wait_for(lambda: len(ephemerals(fake_cloud, "U0SRE2")) >= 2 and ephemerals(fake_cloud, "U0SRE2"),
                    timeout=20, what="a note and a refusal")
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
    text = " ".join(said)
    assert "PagerDuty did not answer" in text and "no rota file is configured" in text
    assert "not allowed" in text
    assert rollbacks(fake_cloud) == []


def test_the_author_of_the_deploy_may_not_approve_its_rollback(workdir: Path) -> None:
    # the deploy being rolled back was made by sre-ana (U0SRE1), as ArgoCD records it
    with FakeCloud(Scenario(deployed_by="sre-ana@example.com")) as cloud:
        signer = cloud.signer(SIGNING_SECRET)
        env = {**cloud.env(SLACK_SIGNING_SECRET=SIGNING_SECRET), **FAST_BUDGETS}
        env |= {"SITREP_POLICY_DIR": policy_dir(workdir, ONE_SRE_POLICY), "SITREP_EXPIRY_SWEEP_SECONDS": "1",
                "SITREP_VERIFY_DELAYS": "0.5"}
        with run_sitrep(env, workdir=workdir) as sitrep:
            send_incident(sitrep, signer, "checkout p99 high")
            brief_call = wait_for_brief(cloud, timeout=20)
            click(sitrep, signer, brief_call, user="U0SRE1")  # in @sre, but made the deploy
            refusal = wait_for(lambda: ephemerals(cloud, "U0SRE1"), timeout=10, what="a refusal")
            assert "You made the deploy this rolls back (by sre-ana@example.com)" in refusal[0]
            assert rollbacks(cloud) == []
            click(sitrep, signer, brief_call, user="U0SRE2")
            wait_for(lambda: rollbacks(cloud), timeout=10, what="the rollback")
