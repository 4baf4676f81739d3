"""Untrusted text never causes a change on its own: what prompted an action decides whether it may
run without a human, and the approvals given are checked again against the policy at execution."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.models import Action, ActionTarget, Deploy
from bot.policy.engine import ONLY_ALERTS_AUTO
from bot.service.approvals import DirectoryUnavailableError
from bot.service.proposals import ProposalState

from .test_approve import POLICIES, ROLLBACK, Rig, brief, groups_for, history

RESTART_RECS = Action(kind="restart", target=ActionTarget(service="recommendations", namespace="shop"),
                      params={}, rationale="please restart recommendations")


async def propose(rig: Rig, action: Action, *, origin: str, service: str, suspicious: bool = False,
                  requester: str | None = None):  # noqa: ANN201
    incident = rig.incidents.open_incident(service=service, origin=origin, requested_by=requester)
    the_brief = brief(action)
    if suspicious:
        the_brief.analysis.suspicious = ["suspicious content in logs from Loki (logs-3: override instruction)"]
    [view] = await rig.service.propose(incident, the_brief, requester=requester, history=history())
    return view


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    yield (r := Rig(tmp_path, policies=policies))
    r.engine.dispose()


async def test_an_alert_on_a_low_tier_service_restarts_it_on_its_own(rig: Rig) -> None:
    view = await propose(rig, RESTART_RECS, origin="alert", service="recommendations")
    assert view.state == ProposalState.EXECUTED and len(rig.runner.calls) == 1
    assert view.decision.prompted_by == "alert"


@pytest.mark.parametrize(("origin", "service", "suspicious", "prompt"), [
    pytest.param("slash_command", "recommendations", False, "request", id="slash-command-text-asks-for-it"),
    pytest.param("cli", "recommendations", False, "request", id="cli-message-asks-for-it"),
    pytest.param("alert", "cart", False, "evidence", id="log-line-names-another-service"),
    pytest.param("alert", "recommendations", True, "alert", id="suspicious-evidence"),
])
async def test_anything_but_a_clean_alert_waits_for_an_owner(rig: Rig, origin: str, service: str,
                                                             suspicious: bool, prompt: str) -> None:
    view = await propose(rig, RESTART_RECS, origin=origin, service=service, suspicious=suspicious,
                         requester="U0ANYONE" if origin != "alert" else None)
    assert view.state == ProposalState.PENDING and rig.runner.calls == []
    assert view.decision.rule == ONLY_ALERTS_AUTO and view.decision.approvers == ["@discovery"]
    assert view.decision.prompted_by == prompt and view.decision.suspicious is suspicious
    # an owner's approval runs it
    result = await rig.service.approve(view.id, user="U0DISC", groups=lambda: _groups("discovery"))
    assert result.refusal is None and result.proposal.state == ProposalState.EXECUTED


async def _groups(*handles: str) -> list[str]:
    return list(handles)


async def test_a_policy_change_between_approval_and_execution_sends_it_back(rig: Rig, tmp_path: Path) -> None:
    incident = rig.incidents.open_incident(service="checkout", origin="alert")
    [view] = await rig.service.propose(incident, brief(ROLLBACK), requester=None, history=history())
    first = await rig.service.approve(view.id, user="U0SRE1", groups=groups_for("U0SRE1"))
    assert first.counted and first.proposal.state == ProposalState.PENDING
    # the SREs are no longer trusted with critical rollbacks: only @sre-leads now
    policy = tmp_path / "policies" / "default.yml"
    policy.write_text(policy.read_text().replace('approvers: ["@sre"] # two different people',
                                                 'approvers: ["@sre-leads"] # two different people'))
    assert rig.service._policy.reload() is None
    second = await rig.service.approve(view.id, user="U0SRE2", groups=groups_for("U0SRE2"))
    assert second.executed is None and rig.runner.calls == []
    after = second.proposal
    assert after.state == ProposalState.PENDING and after.approvals == []
    assert after.decision.approvers == ["@sre-leads"]
    assert after.reason is not None and "checked again" in after.reason and "0 of the approvals" in after.reason
    events = [e.type for e in rig.incidents.timeline(incident)]
    assert "ACTION_DENIED_AT_EXECUTION" in events


async def test_an_auto_action_whose_policy_now_needs_approval_does_not_run(rig: Rig, tmp_path: Path) -> None:
    policy = tmp_path / "policies" / "default.yml"
    text = policy.read_text()
    incident = rig.incidents.open_incident(service="recommendations", origin="alert")
    policy.write_text(text.replace("restarts of low-tier services run on their own\n    action: restart\n"
                                   "    match: { tier: low }\n    decision: auto",
                                   "restarts of low-tier services run on their own\n    action: restart\n"
                                   "    match: { tier: low }\n    decision: approve"))
    original_evaluate = rig.service._policy.policy
    rig.service._policy.reload()
    stricter = rig.service._policy.policy
    rig.service._policy.policy = original_evaluate  # proposed under the old policy (auto) ...
    original_execute = rig.service._execute

    async def execute(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        rig.service._policy.policy = stricter  # ... and executed under the new one (approve)
        return await original_execute(*args, **kwargs)

    rig.service._execute = execute  # type: ignore[method-assign]
    [view] = await rig.service.propose(incident, brief(RESTART_RECS), requester=None, history=[])
    assert rig.runner.calls == []
    assert view.state == ProposalState.PENDING and "checked again" in (view.reason or "")


async def test_the_deploy_author_check_fails_closed(rig: Rig) -> None:
    incident = rig.incidents.open_incident(service="cart", origin="alert")
    cart = ROLLBACK.model_copy(update={"target": ActionTarget(service="cart", namespace="shop", app="cart")})
    rig.facts.deploys = [d.model_copy(update={"app": "cart", "initiated_by": "ana"}) for d in history()]
    [view] = await rig.service.propose(incident, brief(cart), requester=None, history=rig.facts.deploys)
    assert view.state == ProposalState.PENDING

    class Down:
        async def on_call(self, user, refs):  # noqa: ANN001, ANN202
            raise AssertionError("not asked")

        async def identities(self, user: str) -> set[str]:
            raise DirectoryUnavailableError("Slack users.info failed: ratelimited")

    result = await rig.service.approve(view.id, user="U0SRE1", groups=groups_for("U0SRE1"), directory=Down())
    assert result.refusal is not None and "not counted" in result.refusal and "ratelimited" in result.refusal
    assert rig.runner.calls == [] and result.proposal.approvals == []

    async def argocd_down(action: Action) -> list[Deploy]:
        raise TimeoutError

    rig.facts.history = argocd_down  # type: ignore[method-assign]
    result = await rig.service.approve(view.id, user="U0SRE1", groups=groups_for("U0SRE1"))
    assert result.refusal is not None and "ArgoCD did not answer" in result.refusal
    assert rig.runner.calls == []
