"""What `sitrep demo` prints: the banner, one short line per step of an incident, and none of the
libraries' bookkeeping (APScheduler's 2-second runs, Alembic's plugins) unless LOG_LEVEL=debug."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bot.cli import terminal_log_level
from bot.logs import configure_logging
from bot.models import Analysis, AnalysisStatus, Brief, Category, Confidence, RootCause, TimelineEventType
from bot.sandbox.demo import USER
from bot.sandbox.narrator import Narrator
from bot.settings import Settings
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from bot.store.proposals import NewProposal, ProposalStore
from tests.support import wait_for

ROLLBACK = {"kind": "rollback", "target": {"service": "checkout", "namespace": "shop", "app": "checkout"},
            "params": {"to_revision": "v2.14.2"}, "rationale": "bad deploy"}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def library_chatter() -> None:
    """What the demo's process logged on every start and every 2 seconds."""
    logging.getLogger("apscheduler.executors.default").info(
        'Running job "PolicyWatcher.check (trigger: interval[0:00:02])"')
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("alembic.runtime.plugins").info("setup plugin alembic.autogenerate.schemas")
    logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:3000")
    structlog.get_logger("bot.service.investigate").info("source_collected", source="loki")


def an_incident_from_alert_to_verification(database: Path) -> None:
    engine = make_engine(f"sqlite:///{database}")
    create_schema(engine)
    store = IncidentStore(engine)
    incident = store.open_incident(service="checkout", severity="critical")
    store.add_event(incident, TimelineEventType.ALERT_RECEIVED, data={
        "name": "HighLatencyP99\x1b[31m\nFAKE LINE", "service": "checkout", "severity": "critical"})
    store.add_event(incident, TimelineEventType.SOURCE_COLLECTED, data={"source": "loki", "status": "ok"})
    store.save_brief(incident, Brief(
        title="checkout p99 after deploy v2.14.3", summary=["p99 0.2 s → 8.2 s"], category=Category.DEPLOY_REGRESSION,
        root_cause=RootCause(statement="v2.14.3", service="checkout", confidence=Confidence.HIGH, confidence_score=85),
        analysis=Analysis(status=AnalysisStatus.DETERMINISTIC)))
    [proposal] = ProposalStore(engine).add(incident, [NewProposal(
        action=json.dumps(ROLLBACK), decision='{"outcome": "approve", "rule": "r"}', state="pending",
        expires_at=None)], requester=None)
    store.add_event(incident, TimelineEventType.BRIEF_POSTED, data={"ts": "1.2"})
    store.add_event(incident, TimelineEventType.APPROVAL_GIVEN, actor=USER, data={"proposal_id": proposal})
    store.add_event(incident, TimelineEventType.EXECUTION_FINISHED, data={
        "proposal_id": proposal, "ok": True, "dry_run": False, "message": "rollback to history 3 started"})
    store.add_event(incident, TimelineEventType.VERIFICATION_RESULT, data={
        "proposal_id": proposal, "state": "RECOVERED", "detail": "p99 back to 0.21 s", "final": True})
    engine.dispose()


def test_the_demo_terminal_shows_the_banner_and_each_step_but_no_library_chatter(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None)
    configure_logging(level=terminal_log_level("demo", settings), fmt=settings.log_format)
    library_chatter()
    an_incident_from_alert_to_verification(tmp_path / "demo.db")
    terminal = io.StringIO()
    with Narrator(f"sqlite:///{tmp_path / 'demo.db'}", url="http://127.0.0.1:3000", out=terminal,
                  users={USER: "sre-ana"}, ready=lambda: True, interval=0.05):
        wait_for(lambda: "verified" in terminal.getvalue(), timeout=10, what="the verification line")
    printed = capsys.readouterr().err + terminal.getvalue()

    assert "Open    http://127.0.0.1:3000/demo" in printed and "Ctrl-C" in printed  # the banner
    for chatter in ("Running job", "Context impl", "setup plugin", "Uvicorn running", "source_collected"):
        assert chatter not in printed
    steps = [line.split(None, 1)[1] for line in terminal.getvalue().splitlines() if line[:2].isdigit()]
    assert steps == [
        "alert fired    checkout: HighLatencyP99 [31m FAKE LINE (critical) → incident #1, investigating",
        "brief posted   incident #1: root cause checkout (HIGH): checkout p99 after deploy v2.14.3;"
        " approve or reject it in the thread",
        "approved       Roll back checkout to v2.14.2 in shop, by sre-ana",
        "executed       Roll back checkout to v2.14.2 in shop: ok — rollback to history 3 started",
        "verified       incident #1: recovered — p99 back to 0.21 s",
    ]  # an alert's escape sequence and line break never reach the terminal


def test_log_level_debug_shows_the_libraries_again(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, log_level="debug")
    configure_logging(level=terminal_log_level("demo", settings), fmt=settings.log_format)
    library_chatter()
    err = capsys.readouterr().err
    assert "Running job" in err and "Context impl" in err and "source_collected" in err
