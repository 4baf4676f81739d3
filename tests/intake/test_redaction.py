"""Intake keeps nothing unredacted: alert fields and labels before storage, dead letters, parse errors."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.intake.accept import AlertIntake, Delivery
from bot.intake.errors import AlertParseError
from bot.models import Alert, AlertSource
from bot.store.queue import JobQueue
from bot.store.tables import AlertRow, DeadLetterRow

TOKEN = "Zq7xLm2Pw9Rt4Kv8Nb3Hc6Jd1Fg5Ys0"
GHP = "ghp_" + "FAKE0test0EXAMPLE0" * 2


def stored_alert(engine: Engine) -> AlertRow:
    with Session(engine) as session:
        return session.exec(select(AlertRow)).one()


def test_an_alerts_labels_summary_and_links_are_redacted_before_storage(engine: Engine) -> None:
    alert = Alert(source=AlertSource.ALERTMANAGER, name="TokenRejected", service="checkout", namespace="shop",
                  fingerprint="fp1", summary=f"github rejected {GHP}; owner jane.doe@example.com",
                  labels={"service": "checkout", "node": "ip-10-0-3-17", "api_token": TOKEN,
                          "owner": "jane.doe@example.com"},
                  annotations={"description": "password is Harbor-Falcon-2024!"},
                  links={"generatorURL": f"http://prometheus:9090/graph?g0.expr=up&api_key={TOKEN}"})
    AlertIntake(engine, JobQueue(engine)).accept([alert], Delivery(origin="alertmanager", key="g1"))
    row = stored_alert(engine)
    kept = json.dumps(row.model_dump(), default=str)
    assert TOKEN not in kept and GHP not in kept and "jane.doe@example.com" not in kept
    labels = json.loads(row.labels)
    # what on-call needs stays: the service, the node; the secret is named by its placeholder
    assert labels == {"service": "checkout", "node": "ip-10-0-3-17", "api_token": "<secret:token>",
                      "owner": "<email>"}
    assert row.summary == "github rejected <secret:github_token>; owner <email>"
    assert row.service == "checkout" and row.namespace == "shop"


def test_the_same_alert_redacted_twice_is_still_one_alert(engine: Engine) -> None:
    intake = AlertIntake(engine, JobQueue(engine))
    alert = Alert(source=AlertSource.ALERTMANAGER, name="HighErrorRate", service="checkout", fingerprint="fp2",
                  labels={"service": "checkout", "api_token": TOKEN})
    first = intake.accept([alert], Delivery(origin="alertmanager", key="g1"))
    again = intake.accept([alert], Delivery(origin="alertmanager", key="g2"))
    assert first.alerts[0].outcome == "opened" and again.alerts[0].outcome == "duplicate"


def test_a_dead_letter_keeps_the_body_and_reason_redacted_and_the_raw_size(engine: Engine) -> None:
    body = f'{{"alerts": [{{"labels": {{"token": "{GHP}"}}, "note": "call +44 20 7946 0958"'.encode()
    AlertIntake(engine, JobQueue(engine)).dead_letter(route="/alerts/alertmanager", reason=f"bad body near {GHP}",
                                                     body=body)
    with Session(engine) as session:
        row = session.exec(select(DeadLetterRow)).one()
    assert GHP not in row.body and "+44 20 7946 0958" not in row.body and GHP not in row.reason
    assert '"labels": {"token": "<secret:' in row.body and "<phone>" in row.body
    assert row.size == len(body)


@pytest.mark.parametrize("reason", [f"bad token {GHP}", f"alerts.0.labels: api_key={TOKEN} is not a string"])
def test_a_parse_error_never_quotes_a_secret(reason: str) -> None:
    error = AlertParseError(reason)
    assert GHP not in error.reason and TOKEN not in error.reason and "<secret:" in error.reason
    assert GHP not in str(error) and TOKEN not in str(error)

