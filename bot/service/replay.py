"""Learning from your own incidents: export replay cases, replay them against the current analyzer.

    sitrep eval export [--out DIR]    one YAML file per case: every brief marked Wrong (with the actual
                                      cause someone typed) or Right, and every resolved incident
    sitrep eval run [DIR]             each case's evidence through today's analyzer/model: accuracy

A case is the redacted evidence the brief was made from (request + every source's result, exactly as
kept with the brief), the ground truth and what was recorded then:

    name: incident-12
    truth: {service: orders-db, from: feedback, note: "orders-db ran out of connections"}
    recorded: {service: checkout, confidence: MEDIUM, action: rollback, verdict: wrong}
    request: {...}            # InvestigationRequest
    results: [...]            # SourceResult list

Ground truth, in order of trust: feedback marked Wrong with an actual cause (the service it names —
a known service mentioned in the text — else the text alone, graded by whether the answer's service
appears in it); feedback marked Right (the brief's own root cause); a resolved incident whose action
was verified "recovered" (the brief's root cause and that action). Resolved incidents with neither are
skipped: their truth is unknown. Evidence is redacted before it is kept, so a case file holds no secret.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.analyst.chain import Analyst
from bot.models import Brief, IncidentStatus, InvestigationRequest, SourceResult
from bot.store.incidents import IncidentStore
from bot.store.tables import ExecutionRow, FeedbackRow, IncidentRow, ProposalRow, TimelineEventRow

_RESULTS = TypeAdapter(list[SourceResult])


class ReplayCaseError(ValueError):
    """A case file that cannot be read: ``str(exc)`` names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class ReplayCase:
    name: str
    truth: dict[str, Any]  # service (or None), note, action, from
    recorded: dict[str, Any]  # service, confidence, action, verdict (right/wrong/None)
    request: InvestigationRequest
    results: list[SourceResult]

    def to_yaml(self) -> str:
        body = {"name": self.name, "truth": self.truth, "recorded": self.recorded,
                "request": json.loads(self.request.model_dump_json()),
                "results": json.loads(_RESULTS.dump_json(self.results))}
        return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=120)

    @classmethod
    def load(cls, path: Path) -> ReplayCase:
        try:
            data = yaml.safe_load(path.read_text())
            return cls(name=str(data["name"]), truth=dict(data["truth"]), recorded=dict(data.get("recorded") or {}),
                       request=InvestigationRequest.model_validate(data["request"]),
                       results=_RESULTS.validate_python(data["results"]))
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
            raise ReplayCaseError(f"{path}: not a replay case ({type(exc).__name__}: {str(exc)[:200]})") from exc


def grade(brief: Brief, truth: dict[str, Any]) -> bool:
    """Is ``brief``'s root cause the true one? By service when the truth names one, else by whether the
    truth's words mention the brief's service."""
    service = brief.root_cause.service.strip().lower()
    if truth.get("service"):
        return service == str(truth["service"]).strip().lower()
    note = str(truth.get("note") or "").lower()
    return bool(service) and re.search(rf"\b{re.escape(service)}\b", note) is not None


def _first_action(brief: Brief) -> str | None:
    actions = [a for a in brief.sorted_actions() if a.kind.value != "manual"] or brief.sorted_actions()
    return actions[0].kind.value if actions else None


def _named_service(text: str, services: Sequence[str]) -> str | None:
    lowered = text.lower()
    found = [s for s in services if re.search(rf"\b{re.escape(s.lower())}\b", lowered)]
    return max(found, key=len) if found else None


# ------------------------------------------------------------------------------------------ export


def export_cases(store: IncidentStore, out: Path) -> list[Path]:
    """Write a case file per incident with a ground truth; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    engine: Engine = store.engine
    with Session(engine) as session:
        incidents = list(session.exec(select(IncidentRow).order_by(IncidentRow.id)))  # type: ignore[arg-type]
        feedback = list(session.exec(select(FeedbackRow).order_by(FeedbackRow.id)))  # type: ignore[arg-type]
    services = sorted({i.service for i in incidents} | {s for i in incidents for s in _alert_services(store, i)})
    written = []
    for incident in incidents:
        assert incident.id is not None
        kept = [(brief, basis) for brief, basis in store.briefs_with_basis(incident.id) if basis is not None]
        if not kept:
            continue
        brief, basis = kept[-1]
        truth = _truth(store, engine, incident, brief, [f for f in feedback if f.incident_id == incident.id],
                       services)
        if truth is None:
            continue
        verdict = {True: "right", False: "wrong"}.get(truth.pop("verdict", None))  # type: ignore[arg-type]
        case = ReplayCase(
            name=f"incident-{incident.id}", truth=truth,
            recorded={"service": brief.root_cause.service, "confidence": brief.root_cause.confidence.value,
                      "action": _first_action(brief), "analysis": brief.analysis.status.value,
                      "model": brief.analysis.model, "verdict": verdict},
            request=basis.request, results=basis.results)
        path = out / f"{case.name}.yaml"
        path.write_text(case.to_yaml())
        written.append(path)
    return written


def _alert_services(store: IncidentStore, incident: IncidentRow) -> set[str]:
    assert incident.id is not None
    return {a.service for a in store.alerts(incident.id) if a.service}


def _truth(store: IncidentStore, engine: Engine, incident: IncidentRow, brief: Brief,
           feedback: list[FeedbackRow], services: Sequence[str]) -> dict[str, Any] | None:
    latest: dict[str, FeedbackRow] = {}
    for row in feedback:  # the latest verdict per person
        latest[row.user_id] = row
    verdicts = [row.correct for row in latest.values()]
    if verdicts:
        right = statistics.mode(verdicts)
        if not right:
            causes = [row.actual_cause for row in latest.values() if not row.correct and row.actual_cause]
            note = causes[-1] if causes else None
            return {"service": _named_service(note or "", services), "note": note, "action": None,
                    "from": "feedback", "verdict": False}
        return {"service": brief.root_cause.service, "note": None, "action": None, "from": "feedback",
                "verdict": True}
    if incident.status != IncidentStatus.RESOLVED.value:
        return None
    recovered = _recovered_action(engine, incident)
    if recovered is None:
        return None
    return {"service": brief.root_cause.service, "note": None, "action": recovered, "from": "resolution",
            "verdict": True}


def _recovered_action(engine: Engine, incident: IncidentRow) -> str | None:
    """The kind of the action verified "recovered" in this incident, if any."""
    with Session(engine) as session:
        events = list(session.exec(select(TimelineEventRow).where(
            TimelineEventRow.incident_id == incident.id, TimelineEventRow.type == "VERIFICATION_RESULT")))
        for event in events:
            data = json.loads(event.data or "{}")
            if data.get("state") != "recovered" or not data.get("proposal_id"):
                continue
            proposal = session.get(ProposalRow, int(data["proposal_id"]))
            executed = session.exec(select(ExecutionRow).where(ExecutionRow.proposal_id == data["proposal_id"])).first()
            if proposal is not None and executed is not None:
                return str(json.loads(proposal.action)["kind"])
    return None


# ------------------------------------------------------------------------------------------ replay


@dataclass(frozen=True, slots=True)
class ReplayRow:
    name: str
    truth: str
    answer: str
    right: bool
    recorded: str | None  # right | wrong | None
    tokens: int
    cost_usd: float

    @property
    def reproduces(self) -> bool | None:
        """Whether today's verdict is the recorded one (None when nothing was recorded)."""
        return None if self.recorded is None else (self.recorded == "right") == self.right


@dataclass(frozen=True, slots=True)
class ReplayReport:
    rows: list[ReplayRow]
    analyzer: str

    @property
    def accuracy(self) -> float:
        return sum(r.right for r in self.rows) / len(self.rows) if self.rows else 0.0

    def table(self) -> str:
        lines = [f"replay of {len(self.rows)} cases with {self.analyzer}",
                 f"{'case':<16} {'truth':<24} {'answer':<28} {'verdict':<8} {'recorded':<9} tokens  cost$"]
        for r in self.rows:
            lines.append(f"{r.name:<16} {r.truth[:24]:<24} {r.answer[:28]:<28} {'right' if r.right else 'wrong':<8} "
                         f"{r.recorded or '-':<9} {r.tokens:>6}  {r.cost_usd:.4f}")
        same = [r.reproduces for r in self.rows if r.reproduces is not None]
        lines.append(f"accuracy: {sum(r.right for r in self.rows)}/{len(self.rows)} ({self.accuracy:.0%}); "
                     f"recorded verdicts reproduced: {sum(same)}/{len(same)}; "
                     f"tokens {sum(r.tokens for r in self.rows)}, cost ${sum(r.cost_usd for r in self.rows):.4f}")
        return "\n".join(lines)


def load_cases(folder: Path) -> list[ReplayCase]:
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        raise ReplayCaseError(f"{folder}: no case files (*.yaml); make some with `sitrep eval export`")
    return [ReplayCase.load(path) for path in files]


async def replay(cases: Sequence[ReplayCase], analyst: Analyst, *, analyzer: str) -> ReplayReport:
    rows = []
    for case in cases:
        brief = await analyst.analyse(case.request, case.results)
        truth = case.truth.get("service") or f"“{str(case.truth.get('note') or '?')[:20]}”"
        rows.append(ReplayRow(
            name=case.name, truth=str(truth),
            answer=f"{brief.root_cause.service} {brief.root_cause.confidence.value}/{_first_action(brief) or '-'}",
            right=grade(brief, case.truth), recorded=case.recorded.get("verdict"),
            tokens=brief.analysis.input_tokens + brief.analysis.output_tokens, cost_usd=brief.analysis.cost_usd))
    return ReplayReport(rows=rows, analyzer=analyzer)

