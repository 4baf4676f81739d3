"""The Slack publisher's calls: the placeholder updated in place per source, then the brief, its
continuation and the chart in the same thread."""

from __future__ import annotations

import json
from typing import Any

from bot.analyst.chart import Chart
from bot.models import EvidenceRef, EvidenceSource, SourceName, SourceResult, SourceStatus
from bot.slack.publisher import SlackBriefPublisher
from tests.slack.test_blocks import rule_based_brief


class RecordingClient:
    """Stands in for ``AsyncWebClient``: records each Web API call and answers like Slack."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, method: str) -> Any:
        async def call(**kwargs: Any) -> dict[str, Any]:
            self.calls.append((method, kwargs))
            return {"ok": True, "ts": f"17000.{len(self.calls):06d}"}
        return call


async def test_progress_then_brief_then_continuation_and_chart_in_one_thread() -> None:
    client = RecordingClient()
    publisher = SlackBriefPublisher(client, channel="C1", thread_ts="100.1", service="checkout")  # type: ignore[arg-type]
    await publisher.started(incident_id=1)
    await publisher.source_finished(incident_id=1, result=SourceResult(
        source=SourceName.LOKI, status=SourceStatus.OK, elapsed_s=0.42))
    await publisher.source_finished(incident_id=1, result=SourceResult(
        source=SourceName.JAEGER, status=SourceStatus.TIMEOUT, elapsed_s=2.0, error="timeout"))
    progress = json.dumps(client.calls[-1][1]["blocks"], ensure_ascii=False)
    assert client.calls[-1][0] == "chat_update"
    assert "*Loki*\\n✅ ok 0.4 s" in progress and "*Jaeger*\\n⏱️ timeout 2.0 s" in progress

    evidence = [EvidenceRef(id=f"logs-{i}", source=EvidenceSource.LOGS, detail="x" * 200) for i in range(120)]
    await publisher.brief_ready(incident_id=1, brief=rule_based_brief(evidence=evidence))
    await publisher.chart_ready(incident_id=1, chart=Chart(png=b"\x89PNG", filename="c.png", title="t",
                                                          metrics=("p99_latency",)))
    methods = [m for m, _ in client.calls]
    assert methods[:4] == ["chat_postMessage", "chat_update", "chat_update", "chat_update"]  # one message, updated
    continued = [kw for m, kw in client.calls if m == "chat_postMessage" and "continued" in kw.get("text", "")]
    assert continued and all(kw["thread_ts"] == "100.1" for kw in continued)
    upload = client.calls[-1]
    assert upload[0] == "files_upload_v2" and upload[1]["thread_ts"] == "100.1" and upload[1]["content"] == b"\x89PNG"


class ThreadClient(RecordingClient):
    """Also answers ``conversations_replies`` with the messages posted in the thread so far."""

    def __init__(self, earlier: list[dict[str, Any]]) -> None:
        super().__init__()
        self.earlier = earlier

    async def conversations_replies(self, **kwargs: Any) -> dict[str, Any]:
        posted = [{"text": kw.get("text", "")} for m, kw in self.calls if m == "chat_postMessage"]
        return {"ok": True, "messages": self.earlier + posted}


async def test_a_retried_job_does_not_post_the_continuation_twice() -> None:
    evidence = [EvidenceRef(id=f"logs-{i}", source=EvidenceSource.LOGS, detail="x" * 200) for i in range(120)]
    brief = rule_based_brief(evidence=evidence)
    first = ThreadClient([])
    await SlackBriefPublisher(first, channel="C1", thread_ts="100.1", service="checkout").brief_ready(  # type: ignore[arg-type]
        incident_id=7, brief=brief)
    continued = [{"text": kw["text"]} for m, kw in first.calls if m == "chat_postMessage" and "continued" in kw["text"]]
    assert continued

    # the job failed after that (say the chart upload) and runs again: the brief message is known
    retry = ThreadClient(continued)
    publisher = SlackBriefPublisher(retry, channel="C1", thread_ts="100.1", service="checkout",  # type: ignore[arg-type]
                                    brief_ts="17000.000001")
    await publisher.brief_ready(incident_id=7, brief=brief)
    assert [m for m, _ in retry.calls] == ["chat_update"]  # the brief updated in place, nothing posted again

    # an earlier attempt that died before the continuation: it is posted now
    unfinished = ThreadClient([])
    await SlackBriefPublisher(unfinished, channel="C1", thread_ts="100.1", service="checkout",  # type: ignore[arg-type]
                              brief_ts="17000.000001").brief_ready(incident_id=7, brief=brief)
    assert len([m for m, _ in unfinished.calls if m == "chat_postMessage"]) == len(continued)
