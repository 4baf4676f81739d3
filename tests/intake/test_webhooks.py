"""Webhook bodies: Alertmanager (payload version 4) and Grafana unified alerting, and the reasons bad
bodies are refused with (what a sender sees in the HTTP 400 body).

Bodies are the shared upstream fixtures, copied to ``tests/fixtures/upstream`` (prometheus/alertmanager
``notify/webhook`` v4; Grafana's webhook contact point, ``version: "1"``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.intake.errors import AlertParseError
from bot.intake.webhooks import parse_alertmanager, parse_grafana
from bot.models import AlertSource, AlertState

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
AM_FIRING = "alertmanager/webhook_firing.json"


def body(name: str) -> bytes:
    return (UPSTREAM / name).read_bytes()


def changed(name: str, **changes: Any) -> bytes:
    """The fixture with ``alerts__0__labels=…`` style changes; ``None`` deletes the key."""
    data = json.loads(body(name))
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


def reason_for(parse: Any, raw: bytes) -> str:
    with pytest.raises(AlertParseError) as caught:
        parse(raw)
    return caught.value.reason


def test_alertmanager_firing() -> None:
    [alert] = parse_alertmanager(body(AM_FIRING))
    assert alert.source is AlertSource.ALERTMANAGER and alert.state is AlertState.FIRING
    assert (alert.name, alert.service, alert.namespace, alert.severity, alert.fingerprint) == (
        "HighLatencyP99", "checkout", "shop", "critical", "c4a2f1e0b9d8c7a6")
    assert alert.starts_at is not None and alert.starts_at.isoformat() == "2025-11-25T03:41:30.123000+00:00"
    assert alert.ends_at is None  # 0001-01-01T00:00:00Z: still firing
    assert alert.summary == "checkout p99 latency above 2s"
    assert alert.links["runbook_url"] == "https://runbooks.example.com/checkout-latency"
    assert alert.links["generatorURL"].startswith("http://prometheus.example.com:9090/graph")
    assert alert.links["externalURL"] == "http://alertmanager.example.com:9093"
    assert alert.labels["cluster"] == "prod-eu1"
    assert alert.annotations["description"] == "p99 latency is 8.2s (threshold 2s)"


def test_alertmanager_resolved() -> None:
    [alert] = parse_alertmanager(body("alertmanager/webhook_resolved.json"))
    assert alert.state is AlertState.RESOLVED
    assert alert.ends_at is not None and alert.ends_at.isoformat() == "2025-11-25T04:02:30.456000+00:00"


def test_each_alert_of_a_group_is_read_with_its_own_status() -> None:
    data = json.loads(body(AM_FIRING))
    second = json.loads(json.dumps(data["alerts"][0]))
    second |= {"status": "resolved", "fingerprint": "0000000000000002", "endsAt": "2025-11-25T04:00:00Z"}
    second["labels"]["service"] = "payments"
    data["alerts"].append(second)
    first, other = parse_alertmanager(json.dumps(data).encode())
    assert (first.service, first.state) == ("checkout", AlertState.FIRING)
    assert (other.service, other.state, other.fingerprint) == ("payments", AlertState.RESOLVED, "0000000000000002")


def test_grafana_firing_with_its_links() -> None:
    [alert] = parse_grafana(body("grafana/webhook_firing.json"))
    assert (alert.source, alert.name, alert.service, alert.namespace, alert.severity) == (
        AlertSource.GRAFANA, "CheckoutErrorRate", "checkout", "shop", "critical")
    assert alert.ends_at is None and alert.fingerprint == "7f3e2d1c0b9a8e7d"
    assert alert.links == {
        "generatorURL": "https://grafana.example.com/alerting/grafana/aeb1c2d3/view?orgId=1",
        "silenceURL": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana"
                      "&matcher=alertname%3DCheckoutErrorRate&orgId=1",
        "dashboardURL": "https://grafana.example.com/d/checkout-red?orgId=1",
        "panelURL": "https://grafana.example.com/d/checkout-red?orgId=1&viewPanel=4",
        "externalURL": "https://grafana.example.com/",
    }
    assert alert.summary == "checkout 5xx ratio above 5%"


def test_the_service_label_is_configurable_with_fallbacks() -> None:
    for fallback in ("app", "app_kubernetes_io_name", "job"):
        data = json.loads(body(AM_FIRING))
        labels = data["alerts"][0]["labels"]
        labels[fallback] = labels.pop("service")
        [alert] = parse_alertmanager(json.dumps(data).encode())
        assert alert.service == "checkout", fallback
    raw = changed(AM_FIRING, alerts__0__labels__component="cart")
    assert parse_alertmanager(raw, service_label="component")[0].service == "cart"
    assert parse_grafana(changed("grafana/webhook_firing.json", alerts__0__labels__component="cart"),
                         service_label="component")[0].service == "cart"


def test_no_service_label_is_not_an_error_here() -> None:
    [alert] = parse_alertmanager(changed(AM_FIRING, alerts__0__labels={"alertname": "Watchdog"}))
    assert (alert.name, alert.service, alert.namespace) == ("Watchdog", None, None)


def test_a_body_without_a_fingerprint_gets_a_stable_one() -> None:
    raw = changed(AM_FIRING, alerts__0__fingerprint=None)
    first, again = parse_alertmanager(raw)[0], parse_alertmanager(raw)[0]
    other = parse_alertmanager(changed(AM_FIRING, alerts__0__fingerprint=None, alerts__0__labels__service="cart"))[0]
    assert first.fingerprint == again.fingerprint != other.fingerprint and len(first.fingerprint) == 16


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<html>", "body is not JSON: "),
        (b"\xff\xfe", "body is not JSON"),
        (b"", "body is not JSON"),
        (b"[1, 2]", "body: a JSON object expected, got an array"),
        (changed(AM_FIRING, alerts="x"), "alerts: Input should be a valid list"),
        (changed(AM_FIRING, alerts=[]), "alerts: List should have at least 1 item"),
        (changed(AM_FIRING, alerts=None), "alerts: Field required"),
        (changed(AM_FIRING, alerts__0__labels=None), "alerts.0.labels: Field required"),
        (changed(AM_FIRING, alerts__0__labels="x"), "alerts.0.labels: Input should be a valid dictionary"),
        (changed(AM_FIRING, alerts__0__labels__service=5), "alerts.0.labels.service: Input should be a valid string"),
        (changed(AM_FIRING, alerts__0__startsAt="yesterday"), "alerts.0.startsAt: Input should be a valid datetime"),
        (changed(AM_FIRING, alerts__0__status="burning"), "alerts.0.status: Input should be 'firing' or 'resolved'"),
        (changed(AM_FIRING, alerts__0__labels={"service": "checkout"}), "alerts.0.labels: no `alertname` label"),
        (changed(AM_FIRING, version="3"), "version: Alertmanager webhook version 4 expected, got '3'"),
        (changed(AM_FIRING, version=None), "version: Field required"),
        (body("grafana/webhook_firing.json"), "got '1' (a Grafana body? send it to /alerts/grafana)"),
    ],
    ids=["html", "not-utf8", "empty", "array", "alerts-string", "no-alerts", "alerts-missing", "no-labels",
         "labels-string", "label-number", "bad-time", "bad-status", "no-alertname", "version-3", "no-version",
         "grafana-body"],
)
def test_bad_alertmanager_bodies_are_refused_with_the_field_at_fault(raw: bytes, reason: str) -> None:
    said = reason_for(parse_alertmanager, raw)
    assert reason in said and len(said) <= 300


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (changed("grafana/webhook_firing.json", alerts="x"), "alerts: Input should be a valid list"),
        (changed("grafana/webhook_firing.json", alerts__0__dashboardURL=7),
         "alerts.0.dashboardURL: Input should be a valid string"),
        (changed("grafana/webhook_firing.json", alerts__0__labels__alertname=""), "no `alertname` label"),
        (json.dumps({"ruleName": "old", "state": "alerting", "evalMatches": []}).encode(), "legacy alerting"),
    ],
    ids=["not-json", "alerts-string", "url-number", "empty-alertname", "legacy-grafana"],
)
def test_bad_grafana_bodies_are_refused_with_the_field_at_fault(raw: bytes, reason: str) -> None:
    said = reason_for(parse_grafana, raw)
    assert reason in said and len(said) <= 300


def test_many_errors_are_summed_up_in_one_short_reason() -> None:
    bad = [{"status": "x", "labels": 1, "startsAt": "y"} for _ in range(50)]
    said = reason_for(parse_alertmanager, changed(AM_FIRING, alerts=bad))
    assert said.startswith("alerts.0.status: ") and "more)" in said and len(said) <= 300


def test_grafana_accepts_an_alertmanager_shaped_body() -> None:
    [alert] = parse_grafana(body(AM_FIRING))  # version "4" and no Grafana extras: still readable
    assert (alert.source, alert.service) == (AlertSource.GRAFANA, "checkout")
