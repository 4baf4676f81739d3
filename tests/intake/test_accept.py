"""Accepting alerts on SQLite and PostgreSQL: stored with their job, deduplicated, grouped, resolved."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.intake.accept import AlertIntake, Delivery, IntakeLimits, count_rows
from bot.intake.grouping import DependencyGraph
from bot.models import Alert, AlertSource, AlertState
from bot.store.queue import JobQueue
from bot.store.tables import AlertRow, DeadLetterRow, IncidentRow, JobRow

ONSET = datetime(2026, 11, 25, 3, 41, tzinfo=UTC)
GRAPH = DependencyGraph([("frontend", "checkout"), ("checkout", "payments")])


def am(service: str, *, name: str = "HighErrorRate", state: AlertState = AlertState.FIRING,
       fingerprint: str | None = None, labels: dict[str, str] | None = None,
       source: AlertSource = AlertSource.ALERTMANAGER) -> Alert:
    return Alert(source=source, name=name, service=service, namespace="shop", severity="critical",
                 state=state, starts_at=ONSET, fingerprint=fingerprint or f"fp-{service}-{name}",
                 labels={"alertname": name, "service": service, **(labels or {})})


def intake(engine: Engine, **limits: object) -> AlertIntake:
    return AlertIntake(engine, JobQueue(engine), limits=IntakeLimits(**limits),  # type: ignore[arg-type]
                       graph=lambda: GRAPH)


def jobs(engine: Engine, kind: str) -> list[JobRow]:
    with Session(engine) as session:
        return list(session.exec(select(JobRow).where(col(JobRow.kind) == kind)).all())


def incidents(engine: Engine) -> list[IncidentRow]:
    with Session(engine) as session:
        return list(session.exec(select(IncidentRow).order_by(col(IncidentRow.id))).all())


def test_a_firing_alert_opens_an_incident_with_its_investigation_queued(engine: Engine) -> None:
    result = intake(engine).accept([am("checkout")], Delivery(origin="alertmanager", key="g1"))
    [outcome] = result.alerts
    assert outcome.outcome == "opened"
    [incident] = incidents(engine)
    assert (incident.service, incident.origin, incident.status) == ("checkout", "alert", "open")
    [job] = jobs(engine, "investigate")
    assert json.loads(job.payload) == {"incident_id": incident.id} and job.state == "queued"


def test_a_slack_retry_of_the_same_event_is_taken_once(engine: Engine) -> None:
    alerts = intake(engine)
    delivery = Delivery(origin="slack", key="Ev0001", slack_channel="C0ALERTS", slack_ts="1.1")
    first = alerts.accept([am("checkout", source=AlertSource.GRAFANA)], delivery)
    again = [alerts.accept([am("checkout", source=AlertSource.GRAFANA)], delivery) for _ in range(2)]
    assert not first.repeated_delivery and all(r.repeated_delivery for r in again)
    assert count_rows(engine, AlertRow) == 1 and len(jobs(engine, "investigate")) == 1


def test_the_same_alert_by_webhook_and_in_slack_is_one_incident_threaded_under_the_message(engine: Engine) -> None:
    alerts = intake(engine)
    alerts.accept([am("checkout")], Delivery(origin="alertmanager", key="g1"))
    twin = am("checkout", fingerprint="synthetic-from-slack")  # Slack's message carries no fingerprint
    result = alerts.accept([twin], Delivery(origin="slack", key="Ev2", slack_channel="C0ALERTS", slack_ts="9.9"))
    assert result.alerts[0].outcome == "duplicate"
    [incident] = incidents(engine)
    assert (incident.slack_channel, incident.slack_ts) == ("C0ALERTS", "9.9")  # the brief goes in its thread
    assert len(jobs(engine, "investigate")) == 1 and count_rows(engine, AlertRow) == 2  # both kept


def test_alertmanager_re_sends_of_a_group_do_not_open_more_incidents(engine: Engine) -> None:
    alerts = intake(engine)
    for n in range(4):  # repeat_interval
        alerts.accept([am("checkout")], Delivery(origin="alertmanager", key=f"resend-{n}"))
    assert len(incidents(engine)) == 1
    assert [a.outcome for a in _alert_rows(engine)] == ["opened", "duplicate", "duplicate", "duplicate"]


def test_a_new_alert_on_the_same_service_joins_and_is_said_in_the_thread(engine: Engine) -> None:
    alerts = intake(engine)
    alerts.accept([am("checkout")], Delivery(origin="alertmanager"))
    result = alerts.accept([am("checkout", name="HighLatencyP99")], Delivery(origin="alertmanager"))
    assert result.alerts[0].outcome == "joined"
    [say] = jobs(engine, "say")
    assert "HighLatencyP99" in json.loads(say.payload)["text"]


def test_linked_services_join_one_incident_that_investigates_the_deepest_dependency(engine: Engine) -> None:
    alerts = intake(engine)
    alerts.accept([am("frontend")], Delivery(origin="alertmanager"))
    alerts.accept([am("checkout")], Delivery(origin="alertmanager"))
    alerts.accept([am("payments")], Delivery(origin="alertmanager"))
    [incident] = incidents(engine)
    assert incident.service == "payments"  # retargeted while the investigation still waited
    assert len(jobs(engine, "investigate")) == 1


def test_unrelated_services_get_their_own_incidents(engine: Engine) -> None:
    alerts = intake(engine)
    alerts.accept([am("checkout")], Delivery(origin="alertmanager"))
    alerts.accept([am("search")], Delivery(origin="alertmanager"))
    assert [i.service for i in incidents(engine)] == ["checkout", "search"]


def test_the_incident_resolves_when_all_its_alerts_have(engine: Engine) -> None:
    alerts = intake(engine)
    alerts.accept([am("checkout"), am("checkout", name="HighLatencyP99")], Delivery(origin="alertmanager"))
    alerts.accept([am("checkout", state=AlertState.RESOLVED)], Delivery(origin="alertmanager"))
    assert incidents(engine)[0].status == "open"
    alerts.accept([am("checkout", name="HighLatencyP99", state=AlertState.RESOLVED)],
                  Delivery(origin="alertmanager"))
    assert incidents(engine)[0].status == "resolved"
    lines = [json.loads(j.payload)["text"] for j in jobs(engine, "say")]
    assert any("Still firing: HighLatencyP99" in line for line in lines)
    assert any("incident closed" in line for line in lines)


def test_a_resolved_alert_nobody_knows_is_kept(engine: Engine) -> None:
    result = intake(engine).accept([am("checkout", state=AlertState.RESOLVED)], Delivery(origin="alertmanager"))
    assert result.alerts[0].outcome == "unmatched" and count_rows(engine, AlertRow) == 1


def test_a_flapping_service_is_not_investigated_beyond_its_hourly_rate(engine: Engine) -> None:
    alerts = intake(engine, investigations_per_hour=2)
    for _ in range(4):
        alerts.accept([am("checkout")], Delivery(origin="alertmanager"))
        alerts.accept([am("checkout", state=AlertState.RESOLVED)], Delivery(origin="alertmanager"))
    assert len(jobs(engine, "investigate")) == 2
    assert any("not investigated again" in json.loads(j.payload)["text"] for j in jobs(engine, "say"))


def test_slash_commands_always_open_a_fresh_investigation_at_once(engine: Engine) -> None:
    alerts = intake(engine)
    alerts.accept([am("checkout")], Delivery(origin="alertmanager"))
    person = Alert(source=AlertSource.SLASH_COMMAND, name="/incident", service="checkout", fingerprint="x")
    alerts.accept([person], Delivery(origin="slash_command", slack_channel="C1", requested_by="U1"))
    assert len(incidents(engine)) == 2
    now_job = [j for j in jobs(engine, "investigate") if json.loads(j.payload)["incident_id"] == 2][0]
    assert now_job.run_after.replace(tzinfo=UTC) <= datetime.now(UTC) + timedelta(seconds=0.5)


def test_unreadable_bodies_are_kept_with_the_reason(engine: Engine) -> None:
    intake(engine).dead_letter(route="/alerts/alertmanager", reason="body is not JSON", body=b"<html>")
    with Session(engine) as session:
        [row] = session.exec(select(DeadLetterRow)).all()
    assert (row.reason, row.body, row.size) == ("body is not JSON", "<html>", 6)


def test_concurrent_deliveries_of_one_alert_open_one_incident(engine: Engine) -> None:
    alerts = intake(engine)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda n: alerts.accept([am("checkout")], Delivery(origin="alertmanager", key=str(n))),
                      range(12)))
    assert len(incidents(engine)) == 1 and count_rows(engine, AlertRow) == 12


def _alert_rows(engine: Engine) -> list[AlertRow]:
    with Session(engine) as session:
        return list(session.exec(select(AlertRow).order_by(col(AlertRow.id))).all())


def test_a_deeper_root_arriving_after_the_brief_is_investigated_again(engine: Engine) -> None:
    queue = JobQueue(engine)
    alerts = AlertIntake(engine, queue, limits=IntakeLimits(group_wait=timedelta(0)), graph=lambda: GRAPH)
    alerts.accept([am("frontend")], Delivery(origin="alertmanager"))
    assert queue.claim("worker-1") is not None  # the first investigation is under way
    result = alerts.accept([am("payments")], Delivery(origin="alertmanager"))
    assert result.alerts[0].outcome == "joined"
    [incident] = incidents(engine)
    assert incident.service == "payments"
    again = [json.loads(j.payload) for j in jobs(engine, "investigate") if j.state == "queued"]
    assert again == [{"incident_id": incident.id, "again": True}]
    [say] = jobs(engine, "say")
    assert "investigating *payments* now" in json.loads(say.payload)["text"]


def test_a_common_dependency_alerting_merges_the_incidents_of_its_callers(engine: Engine) -> None:
    graph = DependencyGraph([("login", "auth"), ("profile", "accounts"), ("accounts", "auth")])
    queue = JobQueue(engine)
    alerts = AlertIntake(engine, queue, graph=lambda: graph)
    alerts.accept([am("login")], Delivery(origin="alertmanager"))
    alerts.accept([am("profile")], Delivery(origin="slack", key="Ev1", slack_channel="C0ALERTS", slack_ts="5.5"))
    assert [i.status for i in incidents(engine)] == ["open", "open"]  # not linked yet
    result = alerts.accept([am("auth")], Delivery(origin="alertmanager"))
    first, second = incidents(engine)
    assert result.alerts[0].incident_id == first.id
    assert (first.status, first.service) == ("open", "auth")  # the common cause is investigated
    assert second.status == "resolved"
    assert {r.service for r in _alert_rows(engine) if r.incident_id == first.id} == {"login", "profile", "auth"}
    queued = [json.loads(j.payload)["incident_id"] for j in jobs(engine, "investigate") if j.state == "queued"]
    assert queued == [first.id]  # the merged incident's waiting investigation was dropped
    lines = {json.loads(j.payload)["incident_id"]: json.loads(j.payload)["text"] for j in jobs(engine, "say")
             if "Merged into" in json.loads(j.payload)["text"]}
    assert list(lines) == [second.id]  # said under the profile alert's own message
