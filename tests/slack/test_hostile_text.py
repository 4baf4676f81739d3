"""Every kind of message Sitrep builds, fed a corpus of hostile strings: no ``<!…>``, no ``<@…>`` the
attacker wrote, no link to a host Sitrep did not build. First each builder's output as data; then the
kinds posted by listeners and notifiers (modals, App Home, a click's result, a verification verdict,
the postmortem upload) as the sandbox's fake Slack receives them. The end-to-end run in
``tests/e2e/test_untrusted_text.py`` covers the thread messages of a real incident."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.intake.messages.flatten import plain
from bot.markdown import slack_code, slack_text
from bot.models import (
    Action, ActionTarget, Analysis, AnalysisStatus, Brief, Category, Confidence, EvidenceRef, EvidenceSource,
    RefusedAction, RootCause,
)
from bot.policy.decision import Decision, DecisionOutcome
from bot.models import TimelineEventType
from bot.sandbox.server import FakeCloud
from bot.sandbox.signer import SlackSigner
from bot.service.container import Services
from bot.service.incidents import IncidentQueries, IncidentSummary
from bot.service.postmortem import PostmortemService
from bot.service.proposals import ClickResult, ProposalView
from bot.service.verify import Verdict, VerdictState
from bot.settings import Settings
from bot.slack.app import create_bolt_app
from bot.slack.blocks import (
    brief_fallback_text, build_brief_blocks, build_error_blocks, build_root_blocks,
)
from bot.slack.home import build_home_view
from bot.slack.ids import ActionId, CallbackId
from bot.slack.notifier import SlackThreadNotifier, verdict_text
from bot.slack.proposals import (
    ProposalRef, build_approval_modal, build_proposal_blocks, build_reject_modal, decision_line,
    revert_request_blocks,
)
from bot.slack.publisher import SlackBriefPublisher
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from bot.store.proposals import NewProposal, ProposalStore

CORPUS = [
    "<!channel>", "<!here|here>", "<!everyone>", "<!subteam^S0EVIL>", "<@U0EVIL>", "<#C0EVIL|general>",
    "<https://evil.example|Approve rollback here>", "<mailto:x@evil.example|mail>", "&lt;!channel&gt;",
    "@channel", "`</code>`<!channel>", "*<https://evil.example>*",
]
HOSTILE = " ".join(CORPUS)
LIVE = re.compile(r"<(?:!|@U0EVIL|#C0EVIL|https?://evil|mailto:)")
NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=lambda block: block.to_dict())


def leaks(data: Any) -> list[str]:
    return LIVE.findall(dumps(data))


def hostile_brief() -> Brief:
    return Brief(
        title=HOSTILE, summary=[HOSTILE], category=Category.ERRORS,
        root_cause=RootCause(statement=HOSTILE, service="checkout", confidence=Confidence.LOW, confidence_score=20),
        evidence=[EvidenceRef(id="logs-1", source=EvidenceSource.LOGS, detail=HOSTILE)],
        actions=[Action(kind="manual", target=ActionTarget(service="checkout"), params={"text": HOSTILE},
                        rationale=HOSTILE)],
        affected_services=[HOSTILE], unknowns=[HOSTILE], next_checks=[HOSTILE],
        refused_actions=[RefusedAction(kind=HOSTILE, reason=HOSTILE)],
        analysis=Analysis(status=AnalysisStatus.DETERMINISTIC, fallback_reason=HOSTILE, suspicious=[HOSTILE],
                          source_notes=[HOSTILE]),
    )


def view(state: str, **extra: Any) -> ProposalView:
    decision = Decision(outcome=DecisionOutcome.APPROVE, rule=HOSTILE, reasons=[HOSTILE], approvers=["@sre"],
                        min_approvals=1, expires_at=NOW + timedelta(minutes=30), preview=[HOSTILE])
    action = Action(kind="runbook", target=ActionTarget(service="cart"), params={"name": HOSTILE},
                    rationale=HOSTILE)
    return ProposalView(id=7, incident_id=3, action=action, decision=decision, state=state, reason=HOSTILE,
                        expires_at=NOW + timedelta(minutes=30), **extra)


def summary() -> IncidentSummary:
    return IncidentSummary(id=3, service=HOSTILE, severity=HOSTILE, status="open", age=timedelta(minutes=5),
                           state="investigating", root_cause=HOSTILE, channel="C0ALERTS", thread_ts="1.2")


MESSAGES = {
    "root": lambda: build_root_blocks(service=HOSTILE, message=HOSTILE, requested_by=HOSTILE, latest=HOSTILE),
    "brief": lambda: build_brief_blocks(hostile_brief(), incident_id=3),
    "brief fallback text": lambda: brief_fallback_text(hostile_brief()),
    "error": lambda: build_error_blocks(service=HOSTILE, reason=HOSTILE),
    "approval request": lambda: build_proposal_blocks([view("pending")], hostile_brief().refused_actions),
    "result": lambda: [decision_line(view(state)) for state in ("executed", "failed", "denied", "rejected")],
    "revert request": lambda: revert_request_blocks(view("pending", reverts=6), user="U0REAL"),
    "verification": lambda: verdict_text(Verdict(state=VerdictState.STILL_FAILING, detail=HOSTILE,
                                                 next_option=HOSTILE)),
    "approval modal": lambda: build_approval_modal(view("pending"), hostile_brief()),
    "reject modal": lambda: build_reject_modal(view("pending")),
    "app home": lambda: build_home_view(incidents=[summary()], awaiting=[view("pending")]),
    "thread line": lambda: f"➕ {slack_code(HOSTILE)} on *{slack_text(HOSTILE)}* joined this incident",
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_no_hostile_string_becomes_a_mention_or_a_link(kind: str) -> None:
    built = MESSAGES[kind]()
    assert leaks(built) == [], kind
    assert "Approve rollback here" in dumps(built) or kind in {"reject modal"}


def test_the_alert_parser_does_not_unescape_into_live_markup() -> None:
    text = plain("FIRING &lt;!channel&gt; &lt;https://evil.example|Approve&gt; p99 &lt; 2s", [])
    assert leaks(text) == [] and "p99 < 2s" in text


def test_sitrep_still_builds_its_own_mentions() -> None:
    blocks = build_root_blocks(service="checkout", message=None, requested_by="U0REAL")
    assert "<@U0REAL>" in json.dumps(blocks)


# --------------------------------------------------------------------------- posted to the fake Slack
#
# The kinds that are more than a builder's output — modals opened from a click, App Home published
# on app_home_opened, the result of a click, a verification verdict, the postmortem upload — posted
# by Sitrep's own listeners and notifier (signed requests into the real Bolt app) to the sandbox's
# fake Slack Web API, one server for the module. What the fake received is checked.

SIGNING_SECRET = "hostile-text-signing-secret-0123456789"
CHANNEL = "C0INCIDENT"


def critical(view_: ProposalView) -> ProposalView:
    return replace(view_, decision=view_.decision.model_copy(update={"critical": True, "two_person": True}))


def executed(proposal_id: int) -> ProposalView:
    """Executed for real and revertible, so the result and the verdict offer a Revert button."""
    revert = Action(kind="runbook", target=ActionTarget(service="cart"), params={"name": HOSTILE},
                    rationale=HOSTILE)
    return replace(view("executed", revert=revert, execution={"ok": True, "dry_run": False, "message": HOSTILE}),
                   id=proposal_id)


class HostileRemediation:
    """Stands in for ``RemediationService``: every proposal it shows is made of hostile text.
    Proposal 7 is critical (Approve opens the confirmation modal), 8 is not (Approve executes it),
    9 was executed and can be reverted."""

    def __init__(self, incident_id: int) -> None:
        self.incident_id = incident_id
        self.views = {7: critical(view("pending")), 8: replace(view("pending"), id=8), 9: executed(9)}
        self.views = {pid: replace(v, incident_id=incident_id) for pid, v in self.views.items()}

    async def view(self, proposal_id: int) -> ProposalView:
        return self.views[proposal_id]

    async def approve(self, proposal_id: int, **_: Any) -> ClickResult:
        return ClickResult(proposal=replace(executed(proposal_id), incident_id=self.incident_id), counted=True)

    async def for_incident(self, incident_id: int) -> list[ProposalView]:
        return list(self.views.values())

    async def awaiting(self, user: str, **_: Any) -> list[ProposalView]:
        return [v for v in self.views.values() if v.needs_buttons]


class HostileIncidents:
    """Stands in for ``IncidentCommands`` where App Home asks for the open incidents."""

    access: Any = None

    async def open_incidents(self, viewer: Any) -> list[IncidentSummary]:
        return [summary()]


@dataclass
class Rig:
    cloud: FakeCloud
    signer: SlackSigner
    app: Any  # slack_bolt AsyncApp
    services: Services
    client: AsyncWebClient
    incident: int
    brief_ts: str

    async def send(self, body: str) -> None:
        from slack_bolt.request.async_request import AsyncBoltRequest

        response = await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=self.signer.headers(body)))
        assert response.status == 200, response.body

    async def click(self, action: ActionId, proposal_id: int) -> None:
        payload = self.signer.block_actions_payload(
            action_id=action.value, value=ProposalRef(proposal_id=proposal_id).model_dump_json(),
            user_id="U0SRE1", channel_id=CHANNEL, message_ts=self.brief_ts)
        await self.send(self.signer.interactivity_body(payload))

    async def until(self, what: str, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll the fake until ``predicate`` holds (the listener runs after the ack)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (found := await asyncio.to_thread(predicate)):
            assert asyncio.get_running_loop().time() < deadline, f"no {what} reached the fake Slack"
            await asyncio.sleep(0.02)
        return found


def hostile_incident(store: IncidentStore) -> int:
    """An incident whose stored fields, brief, timeline and proposal all carry hostile text."""
    incident = store.open_incident(service="checkout", namespace=HOSTILE, message=HOSTILE, severity=HOSTILE,
                                   slack_channel=CHANNEL)
    store.save_brief(incident, hostile_brief())
    store.add_event(incident, TimelineEventType.INVESTIGATION_STARTED, actor=HOSTILE, data={"message": HOSTILE})
    store.add_event(incident, TimelineEventType.SOURCE_COLLECTED,
                    data={"source": "loki", "status": "error", "elapsed_s": 1.0, "error": HOSTILE})
    store.add_event(incident, TimelineEventType.EXECUTION_FINISHED, actor=HOSTILE,
                    data={"ok": False, "message": HOSTILE})
    store.add_event(incident, TimelineEventType.VERIFICATION_RESULT, data={"state": HOSTILE, "detail": HOSTILE})
    proposals = ProposalStore(store.engine)
    pending = view("pending")
    [pid] = proposals.add(incident, [NewProposal(action=pending.action.model_dump_json(),
                                                 decision=pending.decision.model_dump_json(), state="pending",
                                                 expires_at=None)], requester="U0DEV")
    proposals.add_approval(pid, "U0SRE1")
    proposals.transition(pid, from_states=["pending"], to_state="rejected", decided_by="U0SRE2", reason=HOSTILE)
    return incident


@pytest.fixture
async def rig(cloud: FakeCloud, tmp_path: Path) -> AsyncIterator[Rig]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sitrep.db'}")
    create_schema(engine)
    store = IncidentStore(engine)
    incident = hostile_incident(store)
    services = Services(
        investigator=None, tasks=None, feedback=None,  # type: ignore[arg-type]  (not reached)
        queries=IncidentQueries(store), postmortems=PostmortemService(store),
        remediation=HostileRemediation(incident), incidents=HostileIncidents(),  # type: ignore[arg-type]
    )
    env = cloud.env()
    settings = Settings(_env_file=None, slack_bot_token=env["SLACK_BOT_TOKEN"],  # type: ignore[call-arg]
                        slack_signing_secret=SIGNING_SECRET, slack_api_url=env["SLACK_API_URL"])
    client = AsyncWebClient(token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"])
    # the thread as the worker leaves it: a root message, then the brief with its proposals
    root = (await client.chat_postMessage(channel=CHANNEL, text="root"))["ts"]
    publisher = SlackBriefPublisher(client, channel=CHANNEL, thread_ts=root, service="checkout")
    brief_ts = await publisher.brief_ready(incident_id=incident, brief=hostile_brief(),
                                           proposals=list(HostileRemediation(incident).views.values()))
    assert brief_ts is not None
    store.update_slack(incident, root_ts=root, brief_ts=brief_ts)
    yield Rig(cloud=cloud, signer=cloud.signer(SIGNING_SECRET), app=create_bolt_app(settings, services),
              services=services, client=client, incident=incident, brief_ts=brief_ts)
    engine.dispose()


def posted(cloud: FakeCloud) -> list[dict[str, Any]]:
    """Every Web API call that put something in front of people (messages, views, files)."""
    return [c for c in cloud.slack_calls() if c["method"].startswith(("chat.", "views.", "files."))]


def assert_inert(calls: list[dict[str, Any]]) -> None:
    text = dumps(calls)
    assert LIVE.findall(text) == [], [(c["method"], LIVE.findall(dumps(c))) for c in calls if LIVE.search(dumps(c))]
    assert "Approve rollback here" in text  # the hostile text was shown, as text


async def test_modals_opened_by_clicks_carry_no_live_markup(rig: Rig) -> None:
    await rig.click(ActionId.APPROVE, 7)  # critical: the confirmation modal with evidence and change
    await rig.until("approval modal", lambda: rig.cloud.slack_calls("views.open"))
    await rig.click(ActionId.REJECT, 8)  # the reason modal
    opened = await rig.until("reject modal", lambda: len(rig.cloud.slack_calls("views.open")) == 2
                             and rig.cloud.slack_calls("views.open"))
    assert {c["params"]["view"]["callback_id"] for c in opened} == {
        CallbackId.APPROVE_CONFIRM.value, CallbackId.REJECT_REASON.value}
    assert_inert(opened)


async def test_app_home_carries_no_live_markup(rig: Rig) -> None:
    event = {"type": "app_home_opened", "user": "U0SRE1", "channel": "D0HOME", "tab": "home",
             "event_ts": "1700000000.000300"}
    await rig.send(rig.signer.event_body(event))
    published = await rig.until("App Home", lambda: rig.cloud.slack_calls("views.publish"))
    assert_inert(published)


async def test_the_result_of_a_click_carries_no_live_markup(rig: Rig) -> None:
    await rig.click(ActionId.APPROVE, 8)
    await rig.until("click result", lambda: any("approved proposal 8" in (c.get("text") or "")
                                                for c in rig.cloud.slack_calls("chat.postMessage")))
    calls = posted(rig.cloud)
    assert any(c["method"] == "chat.update" and c["params"].get("ts") == rig.brief_ts for c in calls)  # re-rendered
    assert "<@U0SRE1> approved proposal 8" in dumps(calls)  # Sitrep's own mention of the clicker stays
    assert_inert(calls)


async def test_a_verification_verdict_carries_no_live_markup(rig: Rig) -> None:
    notifier = SlackThreadNotifier(rig.client, rig.services)
    await notifier.verification_result(incident_id=rig.incident, proposal_id=9, final=True,
                                       verdict=Verdict(state=VerdictState.STILL_FAILING, detail=HOSTILE,
                                                       next_option=HOSTILE))
    [verdict] = [c for c in rig.cloud.slack_calls("chat.postMessage") if "Verification" in (c.get("text") or "")]
    assert "consider reverting it" in verdict["text"]  # the revert offer, with its button
    assert_inert(posted(rig.cloud))


def markdown_live(text: str) -> list[str]:
    """What a Markdown reader would see as live markup: outside code spans, not backslash-escaped."""
    outside_code = re.sub(r"(`+)[\s\S]*?\1", "", text)
    return LIVE.findall(re.sub(r"\\[\\<>\[\]`]", "", outside_code))


async def test_the_postmortem_upload_carries_no_live_markup(rig: Rig) -> None:
    body = rig.signer.slash_command_body(text=f"postmortem {rig.incident}", user_id="U0DEV", channel_id=CHANNEL)
    await rig.send(body)
    await rig.until("postmortem file", lambda: rig.cloud.slack_calls("files.completeUploadExternal"))
    [upload] = [f for f in rig.cloud.slack_files() if str(f.get("name", "")).startswith("postmortem")]
    assert upload["channel_id"] == CHANNEL and upload["title"] == f"Postmortem draft — incident {rig.incident}"
    content = upload["content"]
    assert "Approve rollback here" in content and "## Timeline" in content
    assert markdown_live(content) == [], content  # the draft is Markdown: nothing in it renders as a link
    assert LIVE.findall(dumps([upload["title"], upload["name"]])) == []
    complete = rig.cloud.slack_calls("files.completeUploadExternal")
    assert complete and LIVE.findall(dumps(complete)) == []  # title and initial comment of the file message
