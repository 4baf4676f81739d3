"""Rollbacks on the ArgoCD setups real teams run, end to end through `sitrep serve`: an app that
tracks a branch (HEAD), a Helm chart from a repository, and a multi-source app (chart + values repo)
whose bad deploy is a values-only commit. The brief names the previous deploy by its label and short
sha, the approval request shows what the rollback changes, one approval runs exactly one ArgoCD
rollback to the right history id, and the thread hears the verification."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from bot.sandbox.scenario import Scenario
from bot.sandbox.server import FakeCloud
from bot.slack.ids import ActionId
from tests.e2e.test_incident_command import send_incident, wait_for_brief
from tests.e2e.test_remediation import ONE_SRE_POLICY, click, rollbacks, start, thread_texts
from tests.support import SitrepPool, SitrepProcess, settle, wait_for

Serve = Callable[..., SitrepProcess]

pytestmark = pytest.mark.timeout(120)


def short(revision: str) -> str:
    return revision[:7] if len(revision) == 40 else revision


@pytest.fixture(scope="module")
def shape_clouds(sitrep_pool: SitrepPool) -> Iterator[tuple[ExitStack, dict[str, FakeCloud]]]:
    """One fake cloud per ArgoCD shape for the module (and so one `sitrep serve` per shape)."""
    with ExitStack() as stack:
        clouds: dict[str, FakeCloud] = {}
        yield stack, clouds
        for cloud in clouds.values():  # their servers are of no use to other modules
            sitrep_pool.stop_using(cloud.url)


@pytest.fixture(params=["branch", "helm", "multi"])
def fake_cloud(request: pytest.FixtureRequest, shape_clouds: tuple[ExitStack, dict[str, FakeCloud]]) -> FakeCloud:
    stack, clouds = shape_clouds
    if request.param not in clouds:
        clouds[request.param] = stack.enter_context(FakeCloud(Scenario(argocd_shape=request.param)))
    cloud = clouds[request.param]
    cloud.reset()
    return cloud


ROLLBACK_AND_SYNC_POLICY = ONE_SRE_POLICY + """
  - name: syncs of checkout need one SRE
    action: sync
    match: {service: checkout}
    decision: approve
    approvers: ["@sre"]
"""

#: One configuration for the tests here, so that each shape's tests share one `sitrep serve`: an approved
#: rollback really runs (auto-sync suspended first). The sync rule changes none of the rollback tests'
#: briefs: the sandbox's model proposes no sync.
REAL_RUNS = {"SITREP_DRY_RUN": "false", "SITREP_ARGOCD_SUSPEND_AUTO_SYNC": "true"}


def test_a_bad_deploy_is_rolled_back_by_identity_after_one_approval(
    fake_cloud: FakeCloud, signer: Any, sitrep_env: dict[str, str], serve: Serve
) -> None:
    scenario = fake_cloud.scenario
    sitrep = start(serve, sitrep_env, ROLLBACK_AND_SYNC_POLICY, **REAL_RUNS)
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
    assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))  # nothing else is going to run
    calls = rollbacks(fake_cloud)
    assert len(calls) == 1 and calls[0]["body"]["id"] == scenario.previous_history_id
    assert calls[0]["body"]["dryRun"] is False
    assert verdict


@pytest.mark.parametrize("fake_cloud", ["branch"], indirect=True)
def test_a_model_naming_a_branch_the_running_sha_or_an_unknown_revision_gets_no_button(
    fake_cloud: FakeCloud, signer: Any, sitrep_env: dict[str, str], serve: Serve
) -> None:
    scenario = fake_cloud.scenario
    target = {"service": "checkout", "namespace": "shop", "app": "checkout"}

    def rollback(to: str, history_id: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"to_revision": to} | ({"history_id": history_id} if history_id else {})
        return {"kind": "rollback", "target": target, "params": params, "rationale": f"go back to {to}"}

    fake_cloud.anthropic_mode("reply", input={
        "title": "checkout broken", "summary": ["p99 up"], "category": "deploy_regression",
        "root_cause": {"statement": "the last deploy is bad", "service": "checkout", "confidence": "MEDIUM",
                       "confidence_score": 60},
        "evidence": [{"id": "deploys-1", "source": "deploys", "detail": "a deploy"}],
        "actions": [
            rollback("main"),
            rollback("HEAD", scenario.previous_history_id),
            rollback(scenario.culprit_identity, scenario.culprit_history_id),
            rollback("0123456789abcdef0123456789abcdef01234567"),
            {"kind": "sync", "target": target, "params": {"revision": "feedface" * 5}, "rationale": "sync it"},
        ],
    })
    sitrep = start(serve, sitrep_env, ROLLBACK_AND_SYNC_POLICY, **REAL_RUNS)
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    shown = json.dumps(brief_call["blocks"], ensure_ascii=False)
    assert ActionId.APPROVE.value not in shown  # not one of them can be approved
    assert shown.count("invariant: rollback target") == 4 and shown.count("invariant: sync revision") == 1
    assert "main is a branch ref that checkout tracks, not a deploy" in shown
    assert "HEAD is a branch ref that checkout tracks, not a deploy" in shown
    assert f"{scenario.culprit_identity} is what runs now on checkout" in shown
    assert "0123456789abcdef0123456789abcdef01234567 is not in the ArgoCD history of checkout" in shown
    assert "is neither in the ArgoCD history of checkout nor the head ArgoCD reports" in shown
    assert fake_cloud.argocd_operations() == []


@pytest.mark.parametrize("fake_cloud", ["branch"], indirect=True)
def test_hanging_manifests_still_give_a_brief_in_time_that_says_the_diff_is_missing(
    fake_cloud: FakeCloud, signer: Any, sitrep_env: dict[str, str], serve: Serve
) -> None:
    fake_cloud.set_faults(argocd={"hang": True, "path": "/manifests"})
    fake_cloud.anthropic_mode("error", status=500, times=10)  # the rule-based brief shows what was read
    # a server of its own: one that read the manifests of these revisions before keeps them (a cache)
    sitrep = start(serve, sitrep_env, ONE_SRE_POLICY)
    started = time.monotonic()
    send_incident(sitrep, signer, "checkout p99 high")
    brief_call = wait_for_brief(fake_cloud, timeout=20)
    took = time.monotonic() - started
    shown = json.dumps(brief_call["blocks"], ensure_ascii=False)
    # the collection budget is 2.5 s here (FAST_BUDGETS); the model is down, so the rest is quick
    assert took < 12
    assert "ArgoCD: the change of c4d5e6f is unknown (manifests: timeout)" in shown
    assert "This rollback changes: unknown — the manifests could not be read (manifests: timeout)" in shown
    assert ActionId.APPROVE.value in shown  # the rollback itself is still offered
