"""Alert messages as a bot in an alert channel receives them, product by product.

Fixtures (copies kept in the repo so a clean clone can run this):

* ``upstream/alertmanager/*.json``, ``upstream/grafana/slack_message.json``: the shared upstream
  shapes (prometheus/alertmanager ``template/default.tmpl`` + ``notify/slack``: labels only in the
  title, empty text; Grafana's Slack contact point: ``Labels:`` / `` - key = value`` lines).
* ``alerts/*.json``: Datadog, Sentry, PagerDuty and Opsgenie messages written from each product's
  documented default Slack notification; the shape and its source are in each file's ``_comment``
  and in ``tests/fixtures/alerts/README.md``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.intake.errors import AlertParseError
from bot.intake.messages import alert_identity, parse_slack_message
from bot.intake.webhooks import parse_alertmanager, parse_grafana
from bot.models import Alert, AlertSource, AlertState

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED = Path("/work/shared/fixtures/upstream")
KNOWN = ("checkout", "payments", "frontend", "orders-db")


def event(name: str) -> dict[str, Any]:
    """A fixture as the ``event`` of a message callback (upstream Slack payloads are wrapped)."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    if isinstance(data.get("event"), dict):
        return copy.deepcopy(data["event"])
    return {"type": "message", "subtype": "bot_message", "bot_id": "B0ANY", "ts": "1764042091.000200", **data}


def one(data: dict[str, Any], **kw: Any) -> Alert:
    [alert] = parse_slack_message(data, **kw)
    return alert


def reason_for(data: Any, **kw: Any) -> str:
    with pytest.raises(AlertParseError) as caught:
        parse_slack_message(data, **kw)
    return caught.value.reason


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanagers_default_message_has_its_labels_only_in_the_title() -> None:
    """Default template: ``[FIRING:1] HighLatencyP99 (prod-eu1 shop checkout critical)``, no text."""
    alert = one(event("upstream/alertmanager/slack_message_event.json"))
    assert alert.source is AlertSource.ALERTMANAGER and alert.state is AlertState.FIRING
    assert (alert.name, alert.service, alert.namespace, alert.severity) == (
        "HighLatencyP99", "checkout", "shop", "critical")
    assert alert.links["title_link"] == "http://alertmanager.example.com:9093/#/alerts?receiver=slack-alerts"
    assert alert.starts_at is not None and alert.starts_at.isoformat() == "2025-11-25T03:41:31.000200+00:00"
    assert alert.annotations["inferred"] == "namespace,service,severity"  # said to be guesses
    assert alert.labels == {"alertname": "HighLatencyP99"}  # only what is exact


def test_the_whole_event_callback_and_the_posted_payload_read_the_same() -> None:
    callback = json.loads((FIXTURES / "upstream/alertmanager/slack_message_event.json").read_text())
    posted = event("upstream/alertmanager/slack_message.json")
    assert alert_identity(one(callback)) == alert_identity(one(posted)) == "highlatencyp99|checkout"


def test_a_known_service_beats_the_position_heuristic() -> None:
    data = event("upstream/alertmanager/slack_message_event.json")
    data["attachments"][0]["title"] = "[FIRING:2] DiskFull (payments storage warning)"
    alert = one(data, known_services={"payments"})
    assert (alert.service, alert.severity, alert.namespace) == ("payments", "warning", None)
    assert one(data).service == "storage"  # without the list, the last plausible value is a guess
    data["attachments"][0]["title"] = "[FIRING:2] DiskFull (payments node-7 warning)"
    assert (one(data).service, one(data).namespace) == ("payments", None)  # node-7 looks like an instance


def test_cluster_like_values_are_not_taken_for_the_service_or_namespace() -> None:
    data = event("upstream/alertmanager/slack_message_event.json")
    data["attachments"][0]["title"] = "[FIRING:1] HighLatencyP99 (prod-eu1 checkout critical)"
    alert = one(data)
    assert (alert.service, alert.namespace, alert.severity) == ("checkout", None, "critical")


def test_group_label_values_before_the_parentheses_are_read() -> None:
    data = event("upstream/alertmanager/slack_message_event.json")
    data["attachments"][0]["title"] = "[FIRING:1] HighLatencyP99 checkout (prod-eu1 shop critical)"
    alert = one(data, known_services=KNOWN)
    assert (alert.name, alert.service, alert.namespace) == ("HighLatencyP99", "checkout", "shop")


def test_resolved_and_counted_alertmanager_titles() -> None:
    data = event("upstream/alertmanager/slack_message_event.json")
    data["attachments"][0]["title"] = "[RESOLVED] HighLatencyP99 (prod-eu1 shop checkout critical)"
    resolved = one(data)
    data["attachments"][0]["title"] = "[FIRING:3] HighLatencyP99 (prod-eu1 shop checkout critical)"
    firing = one(data)
    assert resolved.state is AlertState.RESOLVED and firing.state is AlertState.FIRING
    assert firing.annotations["alerts_firing"] == "3"
    assert alert_identity(resolved) == alert_identity(firing)  # the resolve finds the alert


def test_labels_written_in_a_customised_text_are_read() -> None:
    alert = one(event("upstream/alertmanager/slack_message_custom_text.json"))
    assert (alert.name, alert.service, alert.namespace, alert.severity) == (
        "HighLatencyP99", "checkout", "shop", "critical")
    assert alert.summary == "checkout p99 latency above 2s"
    assert alert.annotations["description"] == "p99 latency is 8.2s (threshold 2s)"
    assert alert.labels["service"] == "checkout" and "inferred" not in alert.annotations


def test_exact_labels_beat_the_guesses_from_the_title() -> None:
    data = event("upstream/alertmanager/slack_message_custom_text.json")
    data["attachments"][0]["text"] = data["attachments"][0]["text"].replace(
        "`checkout`", "`payments`").replace("`shop`", "`billing`")
    alert = one(data, known_services=KNOWN)  # "checkout" in the title is known, and still loses
    assert (alert.service, alert.namespace) == ("payments", "billing")


def test_a_customised_text_with_several_alerts_gives_one_alert_each() -> None:
    section = ("*Alert:* {svc} p99 latency above 2s - `critical`\n*Description:* slow\n*Details:*\n"
               "  • *alertname:* `HighLatencyP99`\n  • *service:* `{svc}`\n  • *namespace:* `shop`\n")
    data = event("upstream/alertmanager/slack_message_custom_text.json")
    data["attachments"][0]["title"] = "[FIRING:2] HighLatencyP99 (shop critical)"
    data["attachments"][0]["text"] = section.format(svc="checkout") + section.format(svc="payments")
    alerts = parse_slack_message(data)
    assert [(a.service, a.namespace, a.summary) for a in alerts] == [
        ("checkout", "shop", "checkout p99 latency above 2s"), ("payments", "shop", "payments p99 latency above 2s")]
    assert len({a.fingerprint for a in alerts}) == 2


def test_the_slack_message_and_the_webhook_of_one_alert_have_the_same_identity() -> None:
    """The same HighLatencyP99/checkout/shop, once posted by Alertmanager in Slack (no label names,
    no fingerprint), once by webhook: recognised as one alert, firing and resolved."""
    firing = parse_alertmanager((FIXTURES / "upstream/alertmanager/webhook_firing.json").read_bytes())
    resolved = parse_alertmanager((FIXTURES / "upstream/alertmanager/webhook_resolved.json").read_bytes())
    message = one(event("upstream/alertmanager/slack_message_event.json"), known_services={"checkout"})
    assert alert_identity(message) == alert_identity(firing[0]) == alert_identity(resolved[0])
    assert message.namespace == firing[0].namespace == "shop"
    custom = one(event("upstream/alertmanager/slack_message_custom_text.json"))
    assert alert_identity(custom) == alert_identity(firing[0])


# --------------------------------------------------------------------------- Grafana


def test_grafana_contact_point_message() -> None:
    alert = one(event("upstream/grafana/slack_message.json"))
    assert alert.source is AlertSource.GRAFANA and alert.state is AlertState.FIRING
    assert (alert.name, alert.service, alert.severity) == ("CheckoutErrorRate", "checkout", "critical")
    assert alert.summary == "checkout 5xx ratio above 5%"
    assert alert.links["generatorURL"] == "https://grafana.example.com/alerting/grafana/aeb1c2d3/view?orgId=1"
    assert alert.links["title_link"] == "https://grafana.example.com/alerting/list"
    assert alert.labels == {"alertname": "CheckoutErrorRate", "service": "checkout", "severity": "critical"}
    [webhook] = parse_grafana((FIXTURES / "upstream/grafana/webhook_firing.json").read_bytes())
    assert alert_identity(alert) == alert_identity(webhook)  # namespace "shop" from the title


def test_grafana_message_with_a_firing_and_a_resolved_alert() -> None:
    data = event("upstream/grafana/slack_message.json")
    data["attachments"][0]["title"] = "[FIRING:1, RESOLVED:1] CheckoutErrorRate Shop"
    data["attachments"][0]["text"] = (
        "**Firing**\n\nValue: A=0.123\nLabels:\n - alertname = CheckoutErrorRate\n - service = checkout\n"
        "Annotations:\n - summary = checkout 5xx above 5%\nSource: https://grafana.example.com/alerting/grafana/a/view\n"
        "Silence: https://grafana.example.com/alerting/silence/new?matcher=service%3Dcheckout\n\n\n"
        "**Resolved**\n\nValue: A=0.01\nLabels:\n - alertname = CheckoutErrorRate\n - service = payments\n"
        "Annotations:\n - summary = payments 5xx above 5%\nDashboard: https://grafana.example.com/d/payments\n")
    firing, resolved = parse_slack_message(data)
    assert (firing.service, firing.state, firing.summary) == ("checkout", AlertState.FIRING, "checkout 5xx above 5%")
    assert (resolved.service, resolved.state) == ("payments", AlertState.RESOLVED)
    assert firing.links["silenceURL"].endswith("service%3Dcheckout") and "dashboardURL" not in firing.links
    assert resolved.links["dashboardURL"] == "https://grafana.example.com/d/payments"


# --------------------------------------------------------------------------- other products


@pytest.mark.parametrize(
    ("fixture", "source", "name", "service", "namespace", "severity", "state", "link"),
    [
        # Datadog: "Triggered: [P1] <monitor>" / "Recovered: …", tags service:/kube_namespace:
        ("alerts/datadog_triggered.json", AlertSource.DATADOG, "High error rate on checkout", "checkout", "shop",
         "P1", "firing", "monitor"),
        ("alerts/datadog_recovered.json", AlertSource.DATADOG, "High error rate on checkout", "checkout", "shop",
         "P1", "resolved", "monitor"),
        # Sentry: attachment fields as tags; blocks with a project and no service tag
        ("alerts/sentry_issue_alert.json", AlertSource.SENTRY, "ConnectionError: pool orders-db timed out after 30s",
         "checkout", None, "error", "firing", "issue"),
        ("alerts/sentry_issue_alert_blocks.json", AlertSource.SENTRY,
         "ConnectionError: pool orders-db timed out after 30s", "checkout", None, "error", "firing", "issue"),
        ("alerts/sentry_issue.json", AlertSource.SENTRY,
         "TimeoutError: timeout acquiring connection from pool orders-db", "checkout", None, "error", "firing",
         "issue"),
        # PagerDuty: "#1234: [checkout] <title>", Status/Urgency/Service fields
        ("alerts/pagerduty_triggered.json", AlertSource.PAGERDUTY, "p99 latency above 2s", "checkout", None, "High",
         "firing", "incident"),
        ("alerts/pagerduty_resolved.json", AlertSource.PAGERDUTY, "p99 latency above 2s", "checkout", None, "High",
         "resolved", "incident"),
        # Opsgenie: "#123: <message>", Priority and Tags fields; "[Closed]"
        ("alerts/opsgenie_created.json", AlertSource.OPSGENIE, "checkout p99 latency above 2s", "checkout", "shop",
         "P1", "firing", "alert"),
        ("alerts/opsgenie_closed.json", AlertSource.OPSGENIE, "checkout p99 latency above 2s", "checkout", "shop",
         "P1", "resolved", "alert"),
        ("alerts/opsgenie_alert.json", AlertSource.OPSGENIE, "orders-db connection pool exhausted", "orders-db",
         None, "P1", "firing", "alert"),
    ],
    ids=lambda value: value.removeprefix("alerts/").removesuffix(".json") if isinstance(value, str) else None,
)
def test_each_products_default_message(fixture: str, source: AlertSource, name: str, service: str,
                                        namespace: str | None, severity: str, state: str, link: str) -> None:
    alert = one(event(fixture), known_services=KNOWN)
    assert (alert.source, alert.name, alert.service, alert.namespace, alert.severity, alert.state.value) == (
        source, name, service, namespace, severity, state)
    assert alert.links[link].startswith("https://")  # the way back to the product
    assert alert.starts_at is not None and alert.starts_at.year == 2025  # the message's own time
    assert one(event(fixture)).service == service  # labels and tags alone say it


def test_datadog_details_a_user_sees() -> None:
    alert = one(event("alerts/datadog_triggered.json"))
    assert alert.summary == "checkout 5xx ratio is 12.3% over the last 5m (threshold 5%)."
    assert alert.links["runbook_url"] == "https://runbooks.example.com/checkout-errors"
    assert alert.labels["env"] == "prod" and alert.labels["team"] == "storefront"


def test_datadog_multi_alert_scope_in_the_title() -> None:
    data = event("alerts/datadog_triggered.json")
    data["attachments"][0]["title"] = "[Triggered on {service:payments,env:prod}] High error rate"
    data["attachments"][0]["text"] = "5xx ratio above 5%"
    alert = one(data)
    assert (alert.name, alert.service, alert.labels["env"], alert.state) == (
        "High error rate", "payments", "prod", AlertState.FIRING)
    data["attachments"][0]["title"] = "[Recovered on {service:payments,env:prod}] High error rate"
    assert one(data).state is AlertState.RESOLVED


def test_sentry_resolved_and_its_issue_as_fingerprint() -> None:
    data = event("alerts/sentry_issue_alert_blocks.json")
    firing = one(data)
    data["attachments"][0]["blocks"][2]["elements"][0]["text"] = "State: *Resolved*   First Seen: *1 hour ago*"
    resolved = one(data)
    assert resolved.state is AlertState.RESOLVED and firing.state is AlertState.FIRING
    assert firing.fingerprint == resolved.fingerprint == "sentry-4512345678"
    assert firing.summary == "pool orders-db timed out after 30s (10 of 10 connections in use)"
    assert firing.labels["release"] == "checkout@v2.14.3"


def test_pagerduty_service_field_when_the_title_has_no_tag() -> None:
    data = event("alerts/pagerduty_triggered.json")
    data["attachments"][0]["text"] = "*<https://acme.pagerduty.com/incidents/Q9|#1240: p99 latency above 2s>*"
    assert one(data).service == "checkout"  # "Checkout (prod)" → checkout
    data["attachments"][0]["fields"][2]["value"] = "Payments API"
    assert one(data, known_services=KNOWN).service == "payments"


def test_opsgenie_tags_carry_namespace_and_shared_resources() -> None:
    alert = one(event("alerts/opsgenie_alert.json"))
    assert alert.labels["database"] == "orders-pg-1"  # links it to other alerts on that database
    assert alert.annotations["tiny_id"] == "1187"


# --------------------------------------------------------------------------- plain text


def test_a_person_naming_a_known_service_is_read_as_a_plain_text_alert() -> None:
    data = {"type": "message", "user": "U0DEV", "ts": "1764042200.000100", "channel": "C0ALERTS",
            "text": "checkout is down, 502s everywhere"}
    alert = one(data, known_services=KNOWN)
    assert (alert.source, alert.service, alert.state) == (AlertSource.TEXT, "checkout", AlertState.FIRING)
    assert alert.name == alert.summary == "checkout is down, 502s everywhere"


@pytest.mark.parametrize("text", ["service=search latency is awful", "latency is awful, service: search",
                                  "svc=search is slow"])
def test_a_service_token_in_plain_text(text: str) -> None:
    alert = one({"type": "message", "user": "U0DEV", "ts": "1764042200.000100", "text": text})
    assert (alert.source, alert.service) == (AlertSource.TEXT, "search")


def test_an_unknown_bot_naming_a_service_is_plain_text_too() -> None:
    data = {"type": "message", "subtype": "bot_message", "bot_id": "B0CRON", "username": "nightly-jobs",
            "ts": "1764042200.000100", "text": "backup of orders-db failed (exit 3)"}
    alert = one(data, known_services=KNOWN)
    assert (alert.source, alert.service) == (AlertSource.TEXT, "orders-db")


# --------------------------------------------------------------------------- fingerprints


def test_the_same_alert_posted_again_has_the_same_fingerprint_and_other_services_differ() -> None:
    first = one(event("upstream/alertmanager/slack_message_event.json"))
    again_data = event("upstream/alertmanager/slack_message_event.json")
    again_data["ts"] = "1764049999.000100"
    again_data["attachments"][0]["title"] = "[RESOLVED] HighLatencyP99 (prod-eu1 shop checkout critical)"
    again = one(again_data)
    other_data = event("upstream/alertmanager/slack_message_event.json")
    other_data["attachments"][0]["title"] = "[FIRING:1] HighLatencyP99 (prod-eu1 shop payments critical)"
    other = one(other_data)
    assert first.starts_at != again.starts_at and first.state != again.state
    assert first.fingerprint == again.fingerprint != other.fingerprint
    assert len(first.fingerprint) == 16 and int(first.fingerprint, 16) >= 0


def test_products_without_an_id_get_stable_hashes_per_service() -> None:
    triggered, recovered = one(event("alerts/datadog_triggered.json")), one(event("alerts/datadog_recovered.json"))
    assert triggered.fingerprint == recovered.fingerprint
    data = event("alerts/datadog_triggered.json")
    data["attachments"][0]["text"] = data["attachments"][0]["text"].replace("service:checkout", "service:payments")
    assert one(data).fingerprint != triggered.fingerprint


def test_products_with_an_id_use_it() -> None:
    assert one(event("alerts/pagerduty_triggered.json")).fingerprint == "pagerduty-Q2W3E4R5T6Y7U8"
    assert one(event("alerts/pagerduty_resolved.json")).fingerprint == "pagerduty-Q2W3E4R5T6Y7U8"
    assert one(event("alerts/sentry_issue_alert.json")).fingerprint == "sentry-4512345678"
    assert one(event("alerts/opsgenie_closed.json")).fingerprint == one(event("alerts/opsgenie_created.json")).fingerprint


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"type": "message", "ts": "1.0", "text": ""}, "empty message"),
        ({"type": "message", "ts": "1.0", "text": "   ", "attachments": [], "blocks": []}, "empty message"),
        ({"type": "message", "ts": "1.0", "user": "U0DEV", "text": "lunch is here"},
         "no service named: add a `service` label (service=checkout) or use /incident <service>"),
        ({"type": "message", "ts": "1.0", "username": "Alertmanager",
          "attachments": [{"title": "something odd", "text": ""}]}, "`[FIRING:n]`"),
        ({"type": "message", "ts": "1.0", "username": "Alertmanager",
          "attachments": [{"title": "[FIRING:1] HighLatencyP99 (prod-eu1 critical)"}]},
         "no service in this Alertmanager alert"),
        ({"type": "message", "ts": "1.0", "bot_profile": {"name": "Datadog"},
          "attachments": [{"title": "Triggered: CPU high", "text": "host:web-1"}]}, "no service in this Datadog alert"),
        ({"type": "message", "ts": "1.0", "attachments": "not a list"}, "empty message"),
        ({"type": "message", "ts": "1.0", "text": 42, "attachments": [None, 3, {"fields": "x"}]}, "no service"),
        ("not an event", "not a Slack message event"),
        (None, "not a Slack message event"),
    ],
    ids=["empty", "blank", "no-service", "alertmanager-without-status", "alertmanager-without-service",
         "datadog-without-service", "attachments-not-a-list", "odd-types", "string", "none"],
)
def test_what_cannot_be_read_raises_with_a_reason(data: Any, reason: str) -> None:
    assert reason in reason_for(data, known_services=KNOWN)


def test_a_resolved_alert_needs_no_service() -> None:
    data = {"type": "message", "ts": "1.0", "username": "Alertmanager",
            "attachments": [{"title": "[RESOLVED] HighLatencyP99 (prod-eu1 critical)"}]}
    alert = one(data)
    assert (alert.state, alert.service) == (AlertState.RESOLVED, None)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["text", "title", "title_link", "fields", "value", "blocks", "elements", "type",
                         "attachments", "fallback", "username", "bot_profile", "name", "ts", "url", "footer"]),
        inner, max_size=5),
    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["type", "text", "attachments", "blocks", "username", "bot_id",
                                             "bot_profile", "ts", "subtype"]), _json, max_size=6))
def test_any_shape_gives_alerts_or_a_reason_never_a_crash(data: dict[str, Any]) -> None:
    try:
        alerts = parse_slack_message(data, known_services=KNOWN)
    except AlertParseError as exc:
        assert exc.reason and len(exc.reason) <= 300
    else:
        assert alerts and all(a.name and (a.service or a.state is AlertState.RESOLVED) for a in alerts)


# --------------------------------------------------------------------------- fixture copies


@pytest.mark.skipif(not SHARED.is_dir(), reason="no /work/shared checkout here")
@pytest.mark.parametrize("name", ["alertmanager/slack_message.json", "alertmanager/slack_message_custom_text.json",
                                  "alertmanager/slack_message_event.json", "alertmanager/webhook_firing.json",
                                  "alertmanager/webhook_resolved.json", "grafana/slack_message.json",
                                  "grafana/webhook_firing.json"])
def test_the_repo_copies_of_the_shared_fixtures_are_current(name: str) -> None:
    assert (FIXTURES / "upstream" / name).read_bytes() == (SHARED / name).read_bytes()
