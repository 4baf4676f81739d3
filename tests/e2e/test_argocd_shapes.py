"""Rollbacks on the ArgoCD setups real teams run, end to end through `sitrep serve`: an app that
tracks a branch (HEAD), a Helm chart from a repository, and a multi-source app (chart + values repo)
whose bad deploy is a values-only commit. The brief names the previous deploy by its label and short
sha, the approval request shows what the rollback changes, one approval runs exactly one ArgoCD
rollback to the right history id, and the thread hears the verification."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.scenario import Scenario
from bot.sandbox.server import FakeCloud
from bot.slack.ids import ActionId
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.e2e.test_remediation import ONE_SRE_POLICY, click, rollbacks, start, thread_texts
from tests.support import wait_for

pytestmark = pytest.mark.timeout(120)


def short(revision: str) -> str:
    return revision[:7] if len(revision) == 40 else revision


@pytest.fixture(params=["branch", "helm", "multi"])
def fake_cloud(request: pytest.FixtureRequest) -> Iterator[FakeCloud]:
    with FakeCloud(Scenario(argocd_shape=request.param)) as cloud:
        yield cloud


def test_a_bad_deploy_is_rolled_back_by_identity_after_one_approval(
    fake_cloud: FakeCloud, signer: Any, sitrep_env: dict[str, str], workdir: Path
) -> None:
    scenario = fake_cloud.scenario
    with start(fake_cloud, sitrep_env, workdir, ONE_SRE_POLICY, SITREP_DRY_RUN="false",
               SITREP_ARGOCD_SUSPEND_AUTO_SYNC="true") as sitrep:
        send_incident(sitrep, signer, "checkout p99 high")
        brief_call = wait_for_brief(fake_cloud, timeout=20)
        shown = json.dumps(brief_call["blocks"], ensure_ascii=False)
        # the previous deploy by its label (the image tag that changed) and its short sha / chart version
        previous = f"v2.14.2 ({short(scenario.rollback_revision)})"
        assert f"Roll back *checkout* to `{previous}` (history {scenario.previous_history_id})" in shown
        assert "HEAD" not in shown and "to `main`" not in shown
        # the approval request says what the rollback changes, and that auto-sync goes off first
        assert "This rollback changes: ConfigMap checkout-config DB_POOL_MAX 10 → 50" in shown
        assert "image checkout, checkout/migrate …:v2.14.3 → …:v2.14.2" in shown
        assert "Auto-sync is on (prune=true, selfHeal=true): Sitrep turns it off first" in shown
        assert (f"Goes back from v2.14.3 ({short(scenario.culprit_identity)}, history {scenario.culprit_history_id}) "
                f"to v2.14.2 ({short(scenario.rollback_revision)}, history {scenario.previous_history_id})") in shown
        assert ActionId.APPROVE.value in shown

        click(sitrep, signer, brief_call, user="U0SRE1")
        wait_for(lambda: rollbacks(fake_cloud), timeout=10, what="the rollback")
        verdict = wait_for(lambda: [t for t in json.loads(thread_texts(fake_cloud)) if t and "Verification" in t],
                           timeout=20, what="the verification verdict")
        time.sleep(0.5)
        calls = rollbacks(fake_cloud)
        assert len(calls) == 1 and calls[0]["body"]["id"] == scenario.previous_history_id
        assert calls[0]["body"]["dryRun"] is False
        assert verdict
