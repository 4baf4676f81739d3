"""Alert messages of each product, as a bot in the alert channel receives them.

Alertmanager and Grafana bodies are the shared upstream fixtures (Alertmanager's
``template/default.tmpl`` and ``notify/slack``; Grafana's Slack contact point); the others follow
the products' documented default Slack notifications (see tests/fixtures/alerts/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.intake.errors import AlertParseError
from bot.intake.messages import alert_identity, parse_slack_message
from bot.intake.webhooks import parse_alertmanager
from bot.models import AlertSource, AlertState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    if "event" in data:
        return dict(data["event"])
    return {"type": "message", "subtype": "bot_message", "ts": "1764042091.000200", **data}


def test_alertmanagers_default_message_with_labels_only_in_the_title() -> None:
    [alert] = parse_slack_message(load("upstream/alertmanager/slack_message_event.json"))
    assert alert.source is AlertSource.ALERTMANAGER and alert.state is AlertState.FIRING
    assert (alert.name, alert.service, alert.namespace, alert.severity) == (
        "HighLatencyP99", "checkout", "shop", "critical")
    assert alert.links["alert"].startswith("http://alertmanager.example.com:9093")
    assert alert.starts_at is not None and alert.starts_at.year == 2025  # the message's time


def test_a_known_service_beats_the_position_heuristic() -> None:
    event = load("upstream/alertmanager/slack_message_event.json")
    event["attachments"][0]["title"] = "[FIRING:2] DiskFull (payments prod-eu1 warning)"
    [alert] = parse_slack_message(event, known_services={"payments"})
    assert (alert.service, alert.severity) == ("payments", "warning")


def test_grouped_label_values_outside_the_parentheses_are_read() -> None:
    event = load("upstream/alertmanager/slack_message_event.json")
    event["attachments"][0]["title"] = "[FIRING:1] HighLatencyP99 checkout (shop critical)"
    [alert] = parse_slack_message(event)
    assert (alert.service, alert.namespace) == ("checkout", "shop")


def test_labels_written_in_a_customised_text_win_over_guesses() -> None:
    [alert] = parse_slack_message(load("upstream/alertmanager/slack_message_custom_text.json"))
    assert (alert.service, alert.namespace) == ("checkout", "shop")
    assert alert.summary == "checkout p99 latency above 2s"


def test_resolved_alertmanager_message() -> None:
    event = load("upstream/alertmanager/slack_message_event.json")
    event["attachments"][0]["title"] = "[RESOLVED] HighLatencyP99 (prod-eu1 shop checkout critical)"
    [alert] = parse_slack_message(event)
    assert alert.state is AlertState.RESOLVED


def test_the_slack_message_and_the_webhook_of_one_alert_are_recognised_as_the_same() -> None:
    [message] = parse_slack_message(load("upstream/alertmanager/slack_message_event.json"))
    [webhook] = parse_alertmanager((FIXTURES / "upstream/alertmanager/webhook_firing.json").read_bytes())
    assert alert_identity(message) == alert_identity(webhook)
    assert message.namespace == webhook.namespace


def test_grafana_contact_point_message() -> None:
    [alert] = parse_slack_message(load("upstream/grafana/slack_message.json"))
    assert alert.source is AlertSource.GRAFANA
    assert (alert.name, alert.service, alert.severity) == ("CheckoutErrorRate", "checkout", "critical")
    assert alert.summary == "checkout 5xx ratio above 5%"
    assert alert.links["source"].startswith("https://grafana.example.com/alerting/grafana/")


@pytest.mark.parametrize(
    ("fixture", "source", "name", "service", "severity", "state"),
    [
        ("datadog_triggered.json", AlertSource.DATADOG, "Checkout error rate is high", "checkout", "p1", "firing"),
        ("datadog_recovered.json", AlertSource.DATADOG, "Checkout error rate is high", "checkout", "p1", "resolved"),
        ("sentry_issue.json", AlertSource.SENTRY,
         "TimeoutError: timeout acquiring connection from pool orders-db", "checkout", "error", "firing"),
        ("pagerduty_triggered.json", AlertSource.PAGERDUTY, "[checkout] p99 latency above 2s", "checkout", "high",
         "firing"),
        ("pagerduty_resolved.json", AlertSource.PAGERDUTY, "[checkout] p99 latency above 2s", "checkout", "high",
         "resolved"),
        ("opsgenie_alert.json", AlertSource.OPSGENIE, "orders-db connection pool exhausted", "orders-db", "p1",
         "firing"),
        ("opsgenie_closed.json", AlertSource.OPSGENIE, "orders-db connection pool exhausted", "orders-db", "p1",
         "resolved"),
    ],
)
def test_each_products_default_message(fixture: str, source: AlertSource, name: str, service: str,
                                        severity: str, state: str) -> None:
    [alert] = parse_slack_message(load(f"alerts/{fixture}"))
    assert (alert.source, alert.name, alert.service, alert.severity, alert.state.value) == (
        source, name, service, severity, state)
    assert alert.links  # a way back to the product


def test_tags_carry_namespace_and_shared_resources() -> None:
    [datadog] = parse_slack_message(load("alerts/datadog_triggered.json"))
    assert datadog.namespace == "shop"
    [opsgenie] = parse_slack_message(load("alerts/opsgenie_alert.json"))
    assert opsgenie.labels["database"] == "orders-pg-1"  # links it to other alerts on that database


def test_the_same_alert_posted_again_has_the_same_fingerprint_and_others_differ() -> None:
    first = parse_slack_message(load("alerts/pagerduty_triggered.json"))[0]
    again = parse_slack_message({**load("alerts/pagerduty_triggered.json"), "ts": "1764049999.000100"})[0]
    other = parse_slack_message(load("alerts/opsgenie_alert.json"))[0]
    assert first.fingerprint == again.fingerprint != other.fingerprint


def test_a_person_naming_a_service_is_read_as_a_plain_text_alert() -> None:
    event = {"type": "message", "user": "U0DEV", "ts": "1764042200.000100", "channel": "C0ALERTS",
             "text": "checkout is throwing 502s since 03:40"}
    [alert] = parse_slack_message(event, known_services={"checkout", "payments"})
    assert (alert.source, alert.service) == (AlertSource.TEXT, "checkout")
    [tagged] = parse_slack_message({**event, "text": "service=search latency is awful"})
    assert tagged.service == "search"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"type": "message", "ts": "1.0", "text": ""}, "empty message"),
        ({"type": "message", "ts": "1.0", "text": "lunch is here"}, "no service named"),
        ({"type": "message", "ts": "1.0", "username": "Alertmanager",
          "attachments": [{"title": "something odd", "text": ""}]}, "[FIRING:n]"),
        ({"type": "message", "ts": "1.0", "attachments": "not a list of attachments"}, ""),
    ],
    ids=["empty", "no-service", "alertmanager-without-status", "odd-shape"],
)
def test_what_cannot_be_read_raises_with_a_reason(event: dict[str, Any], reason: str) -> None:
    with pytest.raises(AlertParseError) as caught:
        parse_slack_message(event)
    assert reason in caught.value.reason and caught.value.reason
