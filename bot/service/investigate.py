"""The main use case: collect context for a service, analyse it, record and publish a brief.

    request ─▶ gather_sources (parallel, budgets) ─▶ Analyst (model chain or rule-based) ─▶ Brief
             └─ every step appends a timeline event to the incident

A brief is always produced: missing sources and a missing model make it partial or rule-based.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import structlog

from bot.analyst.chain import Analyst
from bot.analyst.chart import incident_chart
from bot.collectors.base import Collector
from bot.collectors.gather import gather_sources
from bot.collectors.names import DEFAULT_NAMES, NameRule
from bot.digest.injection import find_suspicious
from bot.digest.redact import Redactor
from bot.digest.scrub import scrub_results
from bot.models import (
    Brief,
    Deploy,
    InvestigationRequest,
    SourceName,
    SourceResult,
    SourceStatus,
    TimelineEventType,
)
from bot.service.proposals import ProposalView
from bot.service.publisher import BriefPublisher
from bot.service.remediation import RemediationService
from bot.service.suspects import Suspect, pick_suspects
from bot.store.incidents import BriefBasis, IncidentStore

log = structlog.get_logger(__name__)

#: extra time for the suspects' round, on top of the collection budget (issue: collect + 3 s at most)
FOLLOW_BUDGET = 3.0
#: what is read of a suspect: its logs, metrics (saturation), deploys and events; its traces are
#: already in the alerting service's
FOLLOW_SOURCES = frozenset(s for s in SourceName if s is not SourceName.JAEGER)


class Investigator:
    def __init__(
        self,
        *,
        collectors: Mapping[SourceName, Collector | None],
        analyst: Analyst,
        source_budget: float,
        total_budget: float,
        store: IncidentStore | None = None,
        remediation: RemediationService | None = None,
        redactor: Redactor | None = None,
        on_traces: Callable[[list[SourceResult]], None] | None = None,
        known_services: Callable[[], Iterable[str]] | None = None,
        callees: Callable[[str], Iterable[str]] | None = None,
        namespace_for: Callable[[str], str | None] | None = None,
        follow_budget: float = FOLLOW_BUDGET,
        names: NameRule = DEFAULT_NAMES,
    ) -> None:
        self._collectors = collectors
        self._analyst = analyst
        self._source_budget = source_budget
        self._total_budget = total_budget
        self._store = store
        self._remediation = remediation
        self._redactor = redactor or Redactor()
        self._on_traces = on_traces  # learns the service call graph (grouping)
        self._known_services = known_services  # the policy's services: names error lines may mention
        self._callees = callees  # the learned call graph: who the alerting service calls
        self._follow_budget = follow_budget
        self._namespace_for = namespace_for  # the policy's namespace of a service, for /incident
        self._names = names  # what a service or namespace must look like to be queried

    async def open_incident(
        self,
        request: InvestigationRequest,
        *,
        origin: str,
        requested_by: str | None = None,
        slack_channel: str | None = None,
    ) -> int:
        store = self._require_store()
        return await asyncio.to_thread(
            store.open_incident,
            service=request.service,
            namespace=request.namespace,
            message=request.message,
            severity=request.severity,
            origin=origin,
            requested_by=requested_by,
            slack_channel=slack_channel,
        )

    async def record_slack(
        self, incident_id: int, *, channel: str | None = None, root_ts: str | None = None,
        brief_ts: str | None = None,
    ) -> None:
        """Remember where the incident lives in Slack (root message and brief message)."""
        store = self._require_store()
        await asyncio.to_thread(
            store.update_slack, incident_id, channel=channel, root_ts=root_ts, brief_ts=brief_ts
        )

    async def investigate(
        self,
        request: InvestigationRequest,
        *,
        incident_id: int | None = None,
        publisher: BriefPublisher | None = None,
        requester: str | None = None,
    ) -> Brief:
        """Collect, analyse and (when given) record and publish. Never raises for a source
        or model failure: those become a partial or rule-based brief."""
        bound = log.bind(incident_id=incident_id, service=request.service)
        bound.info("investigation_started")
        await self._event(incident_id, TimelineEventType.INVESTIGATION_STARTED,
                          service=request.service, message=request.message)
        if publisher and incident_id is not None:
            await _quietly(publisher.started(incident_id=incident_id), what="publish_started")

        async def on_result(result: SourceResult) -> None:
            bound.info("source_collected", source=result.source.value, status=result.status.value,
                       elapsed_s=round(result.elapsed_s, 3), error=result.error)
            await self._event(incident_id, TimelineEventType.SOURCE_COLLECTED,
                              source=result.source.value, status=result.status.value,
                              elapsed_s=round(result.elapsed_s, 3), error=result.error,
                              evidence=len(result.evidence))
            if publisher and incident_id is not None:
                await _quietly(publisher.source_finished(incident_id=incident_id, result=result),
                               what="publish_progress")

        results, removed = await self.collect(request, on_result=on_result, log=bound)
        if request.message:
            request = request.model_copy(update={"message": self._redactor.redact_text(request.message)})
        brief = await self._analyst.analyse(request, results)
        if suspicious := find_suspicious(results):
            bound.warning("suspicious_evidence", items=[(s.evidence_id, s.kind) for s in suspicious])
            brief.analysis.suspicious = [s.describe() for s in suspicious]
        bound.info("analysis_completed", status=brief.analysis.status.value,
                   model=brief.analysis.model, latency_ms=brief.analysis.latency_ms)
        await self._event(incident_id, TimelineEventType.ANALYSIS_COMPLETED,
                          status=brief.analysis.status.value, model=brief.analysis.model,
                          root_cause_service=brief.root_cause.service,
                          confidence=brief.root_cause.confidence.value,
                          fallback_reason=brief.analysis.fallback_reason)
        for refused in brief.refused_actions:
            await self._event(incident_id, TimelineEventType.ACTION_PROPOSED, action=refused.model_dump(),
                              outcome="deny", rule=refused.rule, reasons=[refused.reason])
        proposals: list[ProposalView] = []
        if self._store is not None and incident_id is not None:
            basis = BriefBasis(request=request, results=results, redactions=dict(removed))
            await asyncio.to_thread(self._store.save_brief, incident_id, brief, basis=basis)
            if self._remediation is not None and brief.actions:
                proposals = await self._remediation.propose(
                    incident_id, brief, requester=requester, history=deploy_history(results)
                )
        if publisher and incident_id is not None:
            try:
                ts = await publisher.brief_ready(incident_id=incident_id, brief=brief, proposals=proposals)
            except Exception as exc:  # the brief exists; record that posting it failed
                bound.error("brief_post_failed", error=repr(exc))
                await self._event(incident_id, TimelineEventType.BRIEF_FAILED, error=repr(exc))
                raise
            await self._event(incident_id, TimelineEventType.BRIEF_POSTED, ts=ts)
            await _quietly(self._post_chart(publisher, incident_id, request.service, results),
                           what="publish_chart")
        return brief

    async def _post_chart(self, publisher: BriefPublisher, incident_id: int, service: str,
                          results: list[SourceResult]) -> None:
        """The key series as a PNG in the thread, after the brief; nothing when no metric has data."""
        chart = await asyncio.to_thread(incident_chart, results, service=service, incident_id=incident_id)
        if chart is not None:
            await publisher.chart_ready(incident_id=incident_id, chart=chart)

    async def collect(self, request: InvestigationRequest, *,
                      on_result: Callable[[SourceResult], Awaitable[None]] | None = None,
                      log: Any = log) -> tuple[list[SourceResult], Counter[str]]:
        """Every source in parallel under its budget, then the suspects' logs, deploys and
        saturation (``follow``), redacted: the results and the kinds removed."""
        started = time.monotonic()
        if request.namespace is None and self._namespace_for is not None:
            # "/incident checkout" names no namespace: the policy knows it (Kubernetes events need it)
            request = request.model_copy(update={"namespace": self._namespace_for(request.service)})
        results = await gather_sources(
            self._collectors,
            request,
            source_budget=self._source_budget,
            total_budget=self._total_budget,
            on_result=on_result,
            names=self._names,
        )
        left = self._total_budget + self._follow_budget - (time.monotonic() - started)
        results = await self.follow(request, results, budget=min(self._follow_budget, left), log=log)
        if self._on_traces is not None:
            try:
                await asyncio.to_thread(self._on_traces, results)
            except Exception as exc:
                log.warning("call_graph_not_learned", error=repr(exc))
        # nothing collected reaches the model, Slack or the store unredacted
        results, removed = await asyncio.to_thread(scrub_results, results, self._redactor)
        if removed:
            log.info("evidence_redacted", kinds=dict(removed))
        return results, removed

    async def follow(self, request: InvestigationRequest, results: list[SourceResult], *, budget: float,
                     log: Any = log) -> list[SourceResult]:
        """Follow the failure: collect logs, deploys and saturation of at most two suspect services
        (``bot.service.suspects``) in parallel within ``budget``; their evidence joins each source's
        result, ids and details labelled with the service, and the examined services are noted."""
        try:
            known = set(self._known_services()) if self._known_services is not None else set()
        except Exception as exc:
            log.warning("known_services_failed", error=repr(exc))
            known = set()
        suspects = pick_suspects(results, service=request.service, known=known, callees=self._callees)
        if not suspects or budget <= 0.2:
            return results
        collectors = {source: (c if source in FOLLOW_SOURCES else None) for source, c in self._collectors.items()}
        rounds = await asyncio.gather(*(
            gather_sources(collectors, request.model_copy(update={
                "service": s.service,
                "namespace": self._namespace_for(s.service) if self._namespace_for is not None else None}),
                           source_budget=min(self._source_budget, budget), total_budget=budget,
                           names=self._names)
            for s in suspects
        ))
        log.info("followed_the_failure", suspects=[s.describe() for s in suspects])
        return merge_followed(results, list(zip(suspects, rounds, strict=True)))

    async def _event(self, incident_id: int | None, type: TimelineEventType, **data: object) -> None:
        if self._store is None or incident_id is None:
            return
        await asyncio.to_thread(self._store.add_event, incident_id, type, data=dict(data))

    def _require_store(self) -> IncidentStore:
        if self._store is None:
            raise RuntimeError("this Investigator has no store")
        return self._store


def merge_followed(results: list[SourceResult],
                   followed: list[tuple[Suspect, list[SourceResult]]]) -> list[SourceResult]:
    """Each suspect's evidence appended to the first round's result of the same source, its id
    ``<id>-<service>`` (``logs-payments-2``) and its detail starting ``[payments]``; a suspect's
    failed source is noted in the result's ``error``; the services examined are in ``examined``."""
    by_source = {r.source: r for r in results}
    for suspect, rounds in followed:
        for extra in rounds:
            main = by_source.get(extra.source)
            if main is None or extra.status is SourceStatus.SKIPPED:
                continue
            evidence = [
                e.model_copy(update={"id": f"{e.id}-{suspect.service}",
                                     "detail": f"[{suspect.service}] {e.detail}"})
                for e in extra.evidence
            ]
            update: dict[str, Any] = {"evidence": [*main.evidence, *evidence],
                                      "examined": [*main.examined, suspect.describe()]}
            if extra.status in (SourceStatus.ERROR, SourceStatus.TIMEOUT) and not _absent(extra):
                note = f"{suspect.service}: {extra.describe().split(': ', 1)[-1]}"
                update["error"] = f"{main.error}; {note}" if main.error else note
            if evidence and main.status is SourceStatus.NO_DATA:
                update["status"] = SourceStatus.OK
            by_source[extra.source] = main.model_copy(update=update)
    return [by_source[r.source] for r in results]


def _absent(result: SourceResult) -> bool:
    """A suspect that a source simply does not know (a database has no ArgoCD app): not a failure."""
    return result.status is SourceStatus.ERROR and "not found" in (result.error or "")


def deploy_history(results: list[SourceResult]) -> list[Deploy]:
    """The ArgoCD history entries collected, oldest first (what the policy checks rollbacks against)."""
    deploys = [e.payload for r in results for e in r.evidence if isinstance(e.payload, Deploy)]
    return sorted(deploys, key=lambda d: d.history_id)


async def _quietly(coro: object, *, what: str) -> None:
    """Progress updates are best effort: a failed placeholder must not stop the brief."""
    try:
        await coro  # type: ignore[misc]
    except Exception as exc:
        log.warning(what + "_failed", error=repr(exc))
