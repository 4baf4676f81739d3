"""What ``sitrep demo`` prints in the terminal: one banner, then one short line per step.

The steps are read from the incidents' timelines (every part of Sitrep appends to them, whichever
process it runs in), so the terminal tells the story the page shows::

    15:02:11  alert fired    checkout: HighErrorRate (critical) → incident #1, investigating
    15:02:14  brief posted   incident #1: root cause checkout (HIGH): p99 201 ms → 8.4 s after deploy v2.14.3; approve …
    15:02:31  approved       Roll back checkout to v1.4.1, by sre-ana
    15:02:32  executed       Roll back checkout to v1.4.1: ok — rollback to history 3 started
    15:02:47  verified       incident #1: recovered — p99 latency back to 0.2 s

Text that came from an alert is shown on one line, without control characters, and shortened.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TextIO

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.markdown import PLAIN, describe_action
from bot.models import Action, Brief, TimelineEventType
from bot.store.tables import BriefRow, IncidentRow, ProposalRow, TimelineEventRow

#: a line's text at most (a terminal line, with the time and the step's name)
LINE_MAX = 110
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def banner(url: str) -> str:
    """What the demo prints once its page answers."""
    return (
        "\n"
        "  Sitrep demo: everything local (sample services, a Slack-like page, SQLite); no account or key.\n"
        "\n"
        f"    Open    {url}/demo\n"
        "    Click   a 'fire scenario' button (try 'bad deploy (checkout)'), read the brief Sitrep posts in\n"
        "            the alert's thread, then 'Approve' the rollback it proposes: Sitrep rolls back and\n"
        "            checks the symptom recovered.\n"
        "    Stop    Ctrl-C\n"
        "\n"
        "  Each step appears below as it happens (LOG_LEVEL=debug shows every log line instead).\n"
    )


def _clean(text: object, limit: int = LINE_MAX) -> str:
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Narrator:
    """Prints the banner when ``url`` is ready, then a line for each new step in the timelines, from a
    thread of its own until ``stop``. ``users`` names the demo's Slack user ids."""

    def __init__(self, database_url: str, *, url: str, out: TextIO | None = None,
                 users: Mapping[str, str] | None = None, interval: float = 0.5,
                 ready: Callable[[], bool] | None = None) -> None:
        self._database_url = database_url
        self._engine: Engine | None = None
        self._url = url
        self._is_ready = ready or self._ready
        self._out = out
        self._users = dict(users or {})
        self._interval = interval
        self._last_id = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Narrator:
        self._thread = threading.Thread(target=self._run, name="demo-narrator", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._engine is not None:
            self._engine.dispose()

    def _print(self, text: str) -> None:
        print(text, file=self._out or sys.stderr, flush=True)

    def _run(self) -> None:
        while not self._stop.is_set() and not self._is_ready():
            self._stop.wait(0.2)
        if self._stop.is_set():
            return
        self._print(banner(self._url))
        while not self._stop.wait(self._interval):
            for line in self.poll():
                self._print(line)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self._url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    # ------------------------------------------------------------------ the lines

    def poll(self) -> list[str]:
        """The lines of the steps recorded since the last call."""
        if self._engine is None:
            # a plain reader: the store's own engine begins every transaction with a write lock
            self._engine = create_engine(self._database_url)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(
                    select(TimelineEventRow.id, TimelineEventRow.incident_id, TimelineEventRow.at,
                           TimelineEventRow.type, TimelineEventRow.actor, TimelineEventRow.data,
                           IncidentRow.service)
                    .join(IncidentRow, IncidentRow.id == TimelineEventRow.incident_id)  # type: ignore[arg-type]
                    .where(TimelineEventRow.id > self._last_id)  # type: ignore[arg-type, operator]
                    .order_by(TimelineEventRow.id)  # type: ignore[arg-type]
                ).all()
                lines = []
                for row in rows:
                    self._last_id = row.id
                    line = self.describe(connection, row)
                    if line is not None:
                        lines.append(f"{_when(row.at)}  {line}")
                return lines
        except SQLAlchemyError:  # the schema is not there yet, or the database is busy: next time
            return []

    def describe(self, connection: Any, row: Any) -> str | None:
        """One step's line, or None for the steps a newcomer need not watch (each source collected...)."""
        data = json.loads(row.data or "{}")
        incident = f"incident #{row.incident_id}"
        who = self._users.get(row.actor, row.actor)
        match row.type:
            case TimelineEventType.ALERT_RECEIVED:
                severity = f" ({_clean(data['severity'], 20)})" if data.get("severity") else ""
                return _step("alert fired", f"{_clean(row.service, 40)}: {_clean(data.get('name', '?'), 60)}"
                                            f"{severity} → {incident}, investigating")
            case TimelineEventType.ALERT_JOINED:
                return _step("alert joined", f"{_clean(data.get('service') or row.service, 40)}: "
                                             f"{_clean(data.get('name', '?'), 60)} → {incident}")
            case TimelineEventType.BRIEF_POSTED:
                return _step("brief posted", f"{incident}: {self._brief_summary(connection, row.incident_id)}")
            case TimelineEventType.BRIEF_FAILED:
                return _step("brief failed", f"{incident}: {_clean(data.get('error', ''))}")
            case TimelineEventType.APPROVAL_GIVEN:
                return _step("approved", f"{self._action(connection, data)}, by {_clean(who, 30)}")
            case TimelineEventType.APPROVAL_REFUSED:
                return _step("not approved", f"{_clean(who, 30)}: {_clean(data.get('reason', ''))}")
            case TimelineEventType.ACTION_REJECTED:
                return _step("rejected", f"{self._action(connection, data)}, by {_clean(who, 30)}")
            case TimelineEventType.EXECUTION_FINISHED:
                outcome = "ok" if data.get("ok") else "failed"
                if data.get("dry_run"):
                    outcome += " (dry run)"
                message = f" — {_clean(data['message'])}" if data.get("message") else ""
                return _step("executed", f"{self._action(connection, data)}: {outcome}{message}")
            case TimelineEventType.VERIFICATION_RESULT if data.get("final"):
                detail = f" — {_clean(data['detail'])}" if data.get("detail") else ""
                return _step("verified", f"{incident}: {_clean(data.get('state', '?'), 30).lower()}{detail}")
            case TimelineEventType.INCIDENT_RESOLVED:
                return _step("resolved", incident)
            case TimelineEventType.JOB_GAVE_UP:
                return _step("gave up", f"{incident}: {_clean(data.get('error') or data.get('reason') or '')}")
        return None

    def _brief_summary(self, connection: Any, incident_id: int) -> str:
        body = connection.execute(select(BriefRow.body).where(BriefRow.incident_id == incident_id)
                                  .order_by(BriefRow.id.desc())).scalars().first()  # type: ignore[union-attr]
        if body is None:
            return "posted in the alert's thread"
        brief = Brief.model_validate_json(body)
        pending = connection.execute(select(ProposalRow.id).where(ProposalRow.incident_id == incident_id)
                                     .where(ProposalRow.state == "pending")).all()
        ask = "; approve or reject it in the thread" if pending else ""
        cause = f"root cause {_clean(brief.root_cause.service, 40)} ({brief.root_cause.confidence.value})"
        return f"{cause}: {_clean(brief.title, 80)}{ask}"

    def _action(self, connection: Any, data: Mapping[str, Any]) -> str:
        action = data.get("action")
        if action is None and data.get("proposal_id") is not None:
            action = connection.execute(select(ProposalRow.action)
                                        .where(ProposalRow.id == data["proposal_id"])).scalars().first()
        try:
            parsed = Action.model_validate_json(action) if isinstance(action, str) else Action.model_validate(action)
        except ValueError:
            return f"proposal #{data.get('proposal_id', '?')}"
        return _clean(describe_action(parsed, style=PLAIN), 70)


def _step(name: str, text: str) -> str:
    return f"{name:<13}  {text}"


def _when(at: datetime | str) -> str:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone().strftime("%H:%M:%S")
