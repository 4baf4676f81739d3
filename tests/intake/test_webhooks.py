"""Webhook bodies: Alertmanager v4 and Grafana, and the reasons bad bodies are refused with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.intake.errors import AlertParseError
from bot.intake.webhooks import parse_alertmanager, parse_grafana
from bot.models import AlertSource, AlertState

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"


def body(name: str) -> bytes:
    return (UPSTREAM / name).read_bytes()


def test_alertmanager_firing() -> None:
    [alert] = parse_alertmanager(body("alertmanager/webhook_firing.json"))
    assert alert.source is AlertSource.ALERTMANAGER and alert.state is AlertState.FIRING
    assert (alert.name, alert.service, alert.namespace, alert.severity, alert.fingerprint) == (
        "HighLatencyP99", "checkout", "shop", "critical", "c4a2f1e0b9d8c7a6")
    assert alert.ends_at is None  # Alertmanager's zero time while firing
    assert alert.summary == "checkout p99 latency above 2s"
    assert alert.links["runbook"] == "https://runbooks.example.com/checkout-latency"
    assert alert.labels["cluster"] == "prod-eu1"


def test_alertmanager_resolved() -> None:
    [alert] = parse_alertmanager(body("alertmanager/webhook_resolved.json"))
    assert alert.state is AlertState.RESOLVED and alert.ends_at is not None


def test_grafana_firing_with_its_links() -> None:
    [alert] = parse_grafana(body("grafana/webhook_firing.json"))
    assert (alert.source, alert.name, alert.service, alert.namespace) == (
        AlertSource.GRAFANA, "CheckoutErrorRate", "checkout", "shop")
    assert {"silence", "dashboard", "panel", "generator"} <= set(alert.links)


def test_another_service_label_and_fallbacks() -> None:
    data = json.loads(body("alertmanager/webhook_firing.json"))
    labels = data["alerts"][0]["labels"]
    labels["app"] = labels.pop("service")
    [alert] = parse_alertmanager(json.dumps(data).encode())
    assert alert.service == "checkout"
    labels["component"] = "cart"
    [custom] = parse_alertmanager(json.dumps(data).encode(), service_label="component")
    assert custom.service == "cart"


def mutate(**changes: object) -> bytes:
    data = json.loads(body("alertmanager/webhook_firing.json"))
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<html>", "body is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (mutate(alerts="x"), "alerts"),
        (mutate(alerts=[]), "alerts"),
        (mutate(alerts__0__labels=None), "alerts.0.labels"),
        (mutate(alerts__0__startsAt="yesterday"), "alerts.0.startsAt"),
        (mutate(alerts__0__status="burning"), "alerts.0.status"),
        (mutate(alerts__0__labels={"service": "checkout"}), "alertname"),
        (mutate(version="3"), "version 4"),
    ],
    ids=["html", "array", "alerts-string", "no-alerts", "no-labels", "bad-time", "bad-status",
         "no-alertname", "old-version"],
)
def test_bad_bodies_are_refused_with_the_field_at_fault(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertParseError) as caught:
        parse_alertmanager(raw)
    assert reason in caught.value.reason and len(caught.value.reason) <= 300
