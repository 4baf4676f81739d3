"""Slack's limits honoured: every call through one ``PacedWebClient`` against the sandbox Slack.

A storm of briefs and thread lines while Slack answers 429 to every second call loses nothing,
duplicates nothing, keeps each thread in order and says on each incident's timeline that it waited;
new messages are paced per channel; a waiting progress update is replaced by a newer one; 5xx and
timeouts are retried, then fail loudly; ``views.open`` never waits; Bolt's listeners get the client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from structlog.testing import capture_logs

from bot.models import EvidenceRef, EvidenceSource, SourceName, SourceResult, SourceStatus, TimelineEventType
from bot.runtime import slack_wait_recorder
from bot.sandbox.server import FakeCloud
from bot.sandbox.slack_api import FakeSlack
from bot.slack.blocks import brief_fallback_text
from bot.slack.pacing import Pacing, PacedWebClient, SlackWait, use_in_listeners
from bot.slack.threads import SlackIncidentThreads
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from tests.slack.test_blocks import rule_based_brief

pytestmark = pytest.mark.timeout(60)

#: every second Web API call answered 429 + Retry-After: 1 (the client scales the wait down)
EVERY_SECOND_CALL_RATE_LIMITED = {"status": 429, "retry_after": 1, "fraction": 0.5}


@pytest.fixture
def slack(cloud: FakeCloud) -> FakeSlack:
    return cloud.sandbox.slack


@pytest.fixture
def store(tmp_path: Path) -> Iterator[IncidentStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sitrep.db'}")
    create_schema(engine)
    yield IncidentStore(engine)
    engine.dispose()


def paced(cloud: FakeCloud, **pacing: Any) -> PacedWebClient:
    """The client as ``create_bolt_app`` builds it, with Slack's waits scaled down 50×."""
    options: dict[str, Any] = {"post_interval": 0.0, "retry_after_scale": 0.02, "backoff": 0.01, **pacing}
    return PacedWebClient(token=cloud.credentials.slack_bot_token, base_url=f"{cloud.url}/slack/api/",
                          pacing=Pacing(**options))


def ok_calls(slack: FakeSlack, method: str) -> list[dict[str, Any]]:
    return [c for c in slack.calls if c["method"] == method and c.get("ok")]


async def test_a_storm_rate_limited_every_second_call_loses_nothing_and_keeps_each_thread_in_order(
    cloud: FakeCloud, slack: FakeSlack, store: IncidentStore,
) -> None:
    client = paced(cloud, post_interval=0.01, burst=2)
    client.on_wait = slack_wait_recorder(store)
    services = {"checkout": "C0ALERTS", "cart": "C0ALERTS", "orders": "C0INCIDENT", "search": "C0INCIDENT"}
    threads = SlackIncidentThreads(client, channel_for=services.__getitem__)
    evidence = [EvidenceRef(id=f"logs-{i}", source=EvidenceSource.LOGS, detail="x" * 200) for i in range(120)]
    cloud.set_faults(slack=EVERY_SECOND_CALL_RATE_LIMITED)

    async def investigate(service: str) -> tuple[int, list[str]]:
        """What the investigate job and the say jobs of one incident send, as the worker runs them."""
        incident_id = store.open_incident(service=service, message=f"{service} p99 high")
        with structlog.contextvars.bound_contextvars(incident_id=incident_id):  # as bot.service.worker does
            channel, root = await threads.ensure_root(store.get(incident_id))
            store.update_slack(incident_id, channel=channel, root_ts=root)

            async def on_posted(ts: str) -> None:
                store.update_slack(incident_id, brief_ts=ts)

            publisher = threads.publisher(store.get(incident_id), channel=channel, thread_ts=root,
                                          on_posted=on_posted)
            await publisher.started(incident_id=incident_id)
            await asyncio.gather(*(  # every source answers at once: their progress updates race
                publisher.source_finished(incident_id=incident_id, result=SourceResult(
                    source=source, status=SourceStatus.OK, elapsed_s=0.1 * i))
                for i, source in enumerate(SourceName)))
            brief = rule_based_brief(evidence=evidence).model_copy(update={"title": f"{service} is slow"})
            await publisher.brief_ready(incident_id=incident_id, brief=brief)
            lines = [f"{service}: thread line {n}" for n in range(4)]
            await asyncio.gather(*(threads.say(channel=channel, thread_ts=root, text=line) for line in lines))
        return incident_id, [brief_fallback_text(brief), *lines]

    started = time.monotonic()
    results = await asyncio.gather(*(investigate(service) for service in services))
    elapsed = time.monotonic() - started
    cloud.clear_faults()

    served = len(slack.calls)  # the fake records only the calls that got past the 429s
    waits = 0
    for (incident_id, expected), service in zip(results, services):
        row = store.get(incident_id)
        channel = services[service]
        roots = [m for (c, _), m in slack.messages.items() if c == channel and m["text"].startswith(
            f"Investigating {service}")]
        assert [m["ts"] for m in roots] == [row.slack_ts], f"{service}: one root message"
        thread = sorted((m for (c, _), m in slack.messages.items() if c == channel and m.get("thread_ts") == row.slack_ts),
                        key=lambda m: float(m["ts"]))
        texts = [m["text"] for m in thread]
        assert thread[0]["ts"] == row.brief_ts and texts[0] == expected[0], f"{service}: the brief, updated in place"
        assert thread[0]["metadata"]["event_type"] == "sitrep_brief"
        continued = [t for t in texts if t.startswith(f"Evidence of incident {incident_id}, continued")]
        assert continued and texts[1:1 + len(continued)] == continued, f"{service}: the continuation below the brief"
        assert texts[1 + len(continued):] == expected[1:], f"{service}: every line once, in the order asked"
        events = [e for e in store.timeline(incident_id) if e.type == TimelineEventType.SLACK_RATE_LIMITED.value]
        assert all(json.loads(e.data)["retry_after_s"] == pytest.approx(0.02) for e in events)
        waits += len(events)
    # the sandbox answered 429 to every second request: each one was waited out and recorded
    assert waits in (served, served - 1) and waits > 20
    assert elapsed < 20


async def test_new_messages_are_paced_per_channel_and_channels_do_not_wait_for_each_other(
    cloud: FakeCloud, slack: FakeSlack,
) -> None:
    client = paced(cloud, post_interval=0.1, burst=1)
    await asyncio.gather(*(client.chat_postMessage(channel=channel, text=f"{channel} {n}")
                           for n in range(4) for channel in ("C0ALERTS", "C0INCIDENT")))
    at = {channel: [c["at"] for c in ok_calls(slack, "chat.postMessage") if c["channel"] == channel]
          for channel in ("C0ALERTS", "C0INCIDENT")}
    for times in at.values():
        assert len(times) == 4
        assert all(later - earlier >= 0.08 for earlier, later in zip(times, times[1:]))  # ~1 per 0.1 s
    assert at["C0INCIDENT"][0] < at["C0ALERTS"][-1] - 0.2  # the other channel went on meanwhile


async def test_progress_updates_waiting_on_a_429_are_replaced_by_the_newest(
    cloud: FakeCloud, slack: FakeSlack,
) -> None:
    client = paced(cloud, retry_after_scale=0.3)
    ts = (await client.chat_postMessage(channel="C0ALERTS", text="Collecting context…"))["ts"]
    waiting = asyncio.Event()

    async def on_wait(wait: SlackWait) -> None:
        waiting.set()

    client.on_wait = on_wait
    cloud.set_faults(slack={"status": 429, "retry_after": 1, "times": 1, "path": "chat.update"})
    first = asyncio.create_task(client.chat_update(channel="C0ALERTS", ts=ts, text="loki ok"))
    await asyncio.wait_for(waiting.wait(), timeout=5)  # Slack said "wait": the update is held back
    later = [client.chat_update(channel="C0ALERTS", ts=ts, text=f"{n} sources answered") for n in (2, 3, 4)]
    answers = await asyncio.gather(first, *later)

    assert all(answer["ok"] for answer in answers)  # every caller is answered
    assert [c["text"] for c in ok_calls(slack, "chat.update")] == ["4 sources answered"]  # sent once: the latest
    assert slack.messages[("C0ALERTS", ts)]["text"] == "4 sources answered"


async def test_5xx_and_timeouts_are_retried_then_fail_loudly(cloud: FakeCloud, slack: FakeSlack) -> None:
    client = paced(cloud, retries=2)
    cloud.set_faults(slack={"status": 503, "times": 2, "path": "chat.postMessage"})
    assert (await client.chat_postMessage(channel="C0ALERTS", text="after two 503s"))["ok"]

    cloud.set_faults(slack={"hang": True, "times": 1, "path": "chat.postMessage"})
    hurried = PacedWebClient(token=client.token, base_url=client.base_url, timeout=1,  # type: ignore[arg-type]
                             pacing=client.pacing)
    assert (await hurried.chat_postMessage(channel="C0ALERTS", text="after a timeout"))["ok"]
    assert [c["text"] for c in ok_calls(slack, "chat.postMessage")] == ["after two 503s", "after a timeout"]

    cloud.set_faults(slack={"status": 500, "times": 5, "path": "chat.postMessage"})
    with capture_logs() as logs, pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel="C0ALERTS", text="Slack is down")
    assert failed.value.response.status_code == 500
    errors = [e for e in logs if e["event"] == "slack_call_failed"]
    assert errors == [{"event": "slack_call_failed", "log_level": "error", "method": "chat.postMessage",
                       "channel": "C0ALERTS", "status": 500, "error": "internal_error", "retries": 2,
                       "incident_id": None}]
    assert client.token not in json.dumps(logs, default=str)


async def test_views_open_is_sent_at_once_and_never_waits_out_a_429(cloud: FakeCloud, slack: FakeSlack) -> None:
    client = paced(cloud, retry_after_scale=1.0)
    cloud.set_faults(slack={"status": 429, "retry_after": 5, "times": 1, "path": "views.open"})
    started = time.monotonic()
    with pytest.raises(SlackApiError):  # the trigger_id expires in 3 s: no point waiting 5
        await client.views_open(trigger_id="1.2.abc", view={"type": "modal", "title": {
            "type": "plain_text", "text": "Approve"}, "blocks": []})
    assert time.monotonic() - started < 1


async def test_bolt_listeners_get_the_paced_client(cloud: FakeCloud) -> None:
    client = paced(cloud)
    app = AsyncApp(client=client, signing_secret="unused", request_verification_enabled=False)
    use_in_listeners(app, client)
    seen: list[object] = []

    @app.action("sitrep_approve")
    async def handle(ack: Any, client: Any) -> None:
        await ack()
        seen.append(client)

    payload = {"type": "block_actions", "team": {"id": "T0SITREP"}, "user": {"id": "U0SRE1"},
               "api_app_id": "A0SITREP", "token": "legacy", "trigger_id": "1.2.abc",
               "actions": [{"action_id": "sitrep_approve", "value": "{}", "type": "button"}]}
    response = await app.async_dispatch(AsyncBoltRequest(body=f"payload={json.dumps(payload)}",
                                                         headers={"content-type": ["application/x-www-form-urlencoded"]}))
    assert response.status == 200
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen == [client]
