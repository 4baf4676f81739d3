"""A postmortem draft in Markdown from what Sitrep recorded: the brief, every timeline event,
each proposal's decision and what ran. Every recorded value is untrusted text (alert fields, model
text, people's words): it goes in through ``MarkdownStyle`` (escaped, or a code span it cannot close),
so nothing in the draft renders as a link or markup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from bot.markdown import MarkdownStyle, describe_action, one_line
from bot.models import Brief
from bot.service.proposals import ProposalView, load_views
from bot.store.incidents import IncidentStore
from bot.store.proposals import ProposalStore
from bot.store.tables import IncidentRow, TimelineEventRow

MD = MarkdownStyle()


def _event_line(event: TimelineEventRow) -> str:
    data: dict[str, Any] = json.loads(event.data or "{}")
    match event.type:
        case "SOURCE_COLLECTED":
            detail = f"{data.get('source')}: {data.get('status')} in {data.get('elapsed_s')} s"
            if data.get("error"):
                detail += f" ({data['error']})"
        case "ANALYSIS_COMPLETED":
            detail = f"{data.get('status')} by {data.get('model') or 'rule-based analyzer'}; root cause " \
                     f"{data.get('root_cause_service')} ({data.get('confidence')})"
        case "ACTION_PROPOSED":
            action = data.get("action") or {}
            detail = f"{action.get('kind')} on {(action.get('target') or {}).get('service')}: " \
                     f"{data.get('outcome')} ({data.get('rule')})"
        case "EXECUTION_FINISHED":
            detail = f"{'ok' if data.get('ok') else 'failed'}{' (dry run)' if data.get('dry_run') else ''}: " \
                     f"{data.get('message')}"
        case "VERIFICATION_RESULT":
            detail = f"{data.get('state')}: {data.get('detail')}"
        case _:
            detail = ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, "", [], {}))
    return one_line(detail, limit=300)


def render_postmortem(*, incident: IncidentRow, brief: Brief | None, timeline: Sequence[TimelineEventRow],
                      proposals: Sequence[ProposalView]) -> str:
    lines = [f"# Postmortem draft: incident {incident.id} — {MD.text(incident.service)}", ""]
    opened = incident.opened_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    lines += [f"- **Service:** {MD.code(incident.service)}"
              + (f" (namespace {MD.code(incident.namespace)})" if incident.namespace else ""),
              f"- **Severity:** {MD.text(incident.severity or 'not set')}",
              f"- **Status:** {incident.status}; opened {opened}"
              + (f", resolved {incident.resolved_at:%Y-%m-%d %H:%M:%S} UTC" if incident.resolved_at else ""),
              f"- **Reported as:** {MD.text(incident.message or '—')}", ""]
    if brief is not None:
        rc = brief.root_cause
        lines += ["## Root cause (as briefed)", "",
                  f"{MD.text(rc.statement)} — **{rc.confidence.value}**, {rc.confidence_score}/100 "
                  f"(service {MD.code(rc.service)}, {brief.category.value}; {brief.analysis.status.value}"
                  f"{', ' + brief.analysis.model if brief.analysis.model else ''})", ""]
        if brief.summary:
            lines += ["## Summary", "", *[f"- {MD.text(s)}" for s in brief.summary], ""]
        if brief.evidence:
            lines += ["## Evidence", "", *[f"- {MD.code(e.id)} ({e.source.value}): {MD.text(one_line(e.detail, limit=300))}"
                                             for e in brief.evidence], ""]
    lines += ["## Timeline (UTC)", "", "| time | event | by | detail |", "|---|---|---|---|"]
    for event in timeline:
        actor, detail = (MD.text(one_line(text, limit=300)).replace("|", "\\|")  # a | would end the cell
                         for text in (event.actor, _event_line(event)))
        lines.append(f"| {event.at:%H:%M:%S} | {event.type} | {actor} | {detail} |")
    lines.append("")
    if proposals:
        lines += ["## Decisions and actions", ""]
        for view in proposals:
            lines.append(f"- {describe_action(view.action, style=MD)} — policy: {MD.text(view.decision.describe())} "
                         f"(rule: {MD.text(view.decision.rule)}); state **{view.state}**"
                         + (f"; approved by {', '.join(view.approvals)}" if view.approvals else "")
                         + (f"; {MD.text(view.reason)}" if view.reason else ""))
            if view.execution:
                lines.append(f"  - result: {MD.text(str(view.execution.get('message')))}")
        lines.append("")
    if brief is not None and (brief.unknowns or brief.next_checks):
        lines += ["## Follow-ups", "", *[f"- [ ] {MD.text(x)}" for x in [*brief.unknowns, *brief.next_checks]], ""]
    return "\n".join(lines)


class PostmortemService:
    def __init__(self, store: IncidentStore) -> None:
        self._store = store
        self._proposals = ProposalStore(store.engine)

    async def build(self, incident_id: int) -> tuple[str, str]:
        """(file name, Markdown). Raises ``IncidentNotFoundError``."""
        incident = await asyncio.to_thread(self._store.get, incident_id)
        brief = await asyncio.to_thread(self._store.latest_brief, incident_id)
        timeline = await asyncio.to_thread(self._store.timeline, incident_id)
        proposals = await asyncio.to_thread(load_views, self._proposals, incident_id)
        text = render_postmortem(incident=incident, brief=brief, timeline=timeline, proposals=proposals)
        return f"postmortem-incident-{incident_id}.md", text
