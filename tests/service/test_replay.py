"""Learning from feedback: incidents investigated for real (sandbox upstreams, rule-based analyzer),
rated right and wrong in Slack's way, exported with `sitrep eval export`, replayed with
`sitrep eval run`: the printed accuracy and the recorded verdicts reproduced."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import yaml

from bot.analyst.factory import build_analyst
from bot.collectors.factory import build_collectors
from bot.digest.redact import Redactor
from bot.models import InvestigationRequest
from bot.sandbox.server import FakeCloud
from bot.service.feedback import FeedbackService
from bot.service.investigate import Investigator
from bot.settings import Settings
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore
from tests.support import subprocess_env

SECRET_IN_LOGS = "AKIAIOSFODNN7EXAMPLE"


async def investigate_three(cloud: FakeCloud, store: IncidentStore) -> list[int]:
    env = {k.lower(): v for k, v in cloud.env(ANTHROPIC_API_KEY=None, ANTHROPIC_BASE_URL=None).items()}
    settings = Settings(_env_file=None, **env)  # type: ignore[arg-type]
    analyst = build_analyst(settings)
    ids = []
    try:
        async with build_collectors(settings) as collectors:
            investigator = Investigator(collectors=collectors.collectors, analyst=analyst, store=store,
                                        source_budget=4.0, total_budget=5.0,
                                        redactor=Redactor(extra_secrets=settings.secret_values()))
            for _ in range(3):
                incident = store.open_incident(service="checkout", namespace="shop")
                await investigator.investigate(InvestigationRequest.for_last(
                    "checkout", since=timedelta(minutes=30), namespace="shop"), incident_id=incident)
                ids.append(incident)
    finally:
        await analyst.aclose()
    return ids


def sitrep(*args: str, db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(DATABASE_URL=f"sqlite:///{db}", HOME=str(cwd))
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_export_then_replay_reproduces_the_recorded_verdicts(tmp_path: Path) -> None:
    db = tmp_path / "sitrep.db"
    engine = make_engine(f"sqlite:///{db}")
    create_schema(engine)
    store = IncidentStore(engine)
    with FakeCloud() as cloud:
        cloud.loki_lines([f"assume role failed access_key={SECRET_IN_LOGS} region=us-east-1"])
        right, wrong, unrated = asyncio.run(investigate_three(cloud, store))
    feedback = FeedbackService(store)
    asyncio.run(feedback.record(right, user="U0SRE1", correct=True))
    asyncio.run(feedback.record(wrong, user="U0SRE1", correct=False,
                                actual_cause="orders-db ran out of connections after its failover"))
    store.set_status(unrated, "resolved")  # resolved, but no verified fix and no rating: truth unknown
    engine.dispose()

    exported = sitrep("eval", "export", "--out", "cases", db=db, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "2 replay cases written" in exported.stdout
    files = sorted((tmp_path / "cases").glob("*.yaml"))
    assert [f.name for f in files] == [f"incident-{right}.yaml", f"incident-{wrong}.yaml"]
    wrong_case = yaml.safe_load(files[1].read_text())
    assert wrong_case["truth"]["service"] is None or wrong_case["truth"]["service"] == "orders-db"
    assert "orders-db" in wrong_case["truth"]["note"] and wrong_case["recorded"]["verdict"] == "wrong"
    assert wrong_case["results"] and wrong_case["request"]["service"] == "checkout"
    assert all(SECRET_IN_LOGS not in f.read_text() for f in files)  # cases hold redacted evidence only

    replayed = sitrep("eval", "run", "cases", db=db, cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    out = replayed.stdout
    assert "replay of 2 cases with the rule-based analyzer" in out
    assert "accuracy: 1/2 (50%)" in out
    assert "recorded verdicts reproduced: 2/2" in out
