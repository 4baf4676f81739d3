"""Grouping rules: one incident per real problem, investigating its probable root."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.intake.grouping import (
    AlertFacts,
    DependencyGraph,
    OpenIncident,
    error_signature,
    find_incident,
    probable_root,
)

NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)
GRAPH = DependencyGraph([("frontend", "checkout"), ("checkout", "payments"), ("payments", "orders-db"),
                         ("search", "catalog")])
WINDOW = timedelta(minutes=10)
LABELS = ("node", "database")


def alert(service: str, *, minutes_ago: float = 0, labels: dict[str, str] | None = None,
          summary: str | None = None, name: str = "HighErrorRate") -> AlertFacts:
    return AlertFacts(service=service, name=name, onset=NOW - timedelta(minutes=minutes_ago),
                      labels=labels or {}, summary=summary)


def incident(id: int, *alerts: AlertFacts, opened_minutes_ago: float = 1) -> OpenIncident:
    return OpenIncident(id=id, service=alerts[0].service, opened_at=NOW - timedelta(minutes=opened_minutes_ago),
                        alerts=list(alerts))


def find(new: AlertFacts, *incidents: OpenIncident):  # type: ignore[no-untyped-def]
    return find_incident(new, incidents, graph=GRAPH, window=WINDOW, group_labels=LABELS, now=NOW)


def test_an_alert_for_a_service_with_an_open_incident_joins_it_whatever_its_age() -> None:
    old = incident(1, alert("checkout"), opened_minutes_ago=180)
    match = find(alert("checkout", name="HighLatencyP99"), old)
    assert match is not None and match.incident.id == 1


def test_a_caller_and_its_failing_dependency_share_one_incident() -> None:
    match = find(alert("frontend"), incident(7, alert("payments")))
    assert match is not None and match.incident.id == 7
    assert "calls" in match.reason


def test_unlinked_services_get_incidents_of_their_own() -> None:
    assert find(alert("search"), incident(1, alert("payments"))) is None


def test_links_only_count_inside_the_grouping_window() -> None:
    assert find(alert("frontend"), incident(1, alert("payments"), opened_minutes_ago=45)) is None


def test_a_shared_database_or_node_links_services_the_traces_do_not() -> None:
    db = {"database": "orders-pg-1"}
    match = find(alert("search", labels=db), incident(3, alert("payments", labels=db)))
    assert match is not None and match.incident.id == 3 and "orders-pg-1" in match.reason
    assert find(alert("search", labels={"database": "other"}), incident(3, alert("payments", labels=db))) is None


def test_the_same_error_links_but_a_common_symptom_does_not() -> None:
    refused = "connection refused to redis-main:6379 from {svc}"
    a = alert("payments", summary=refused.format(svc="payments"))
    b = alert("search", summary=refused.format(svc="search"))
    assert error_signature(a) == error_signature(b) is not None
    assert find(b, incident(4, a)) is not None
    latency_a = alert("payments", summary="p99 latency above 2s")
    latency_b = alert("search", summary="p99 latency above 2s")
    assert error_signature(latency_a) is None
    assert find(latency_b, incident(4, latency_a)) is None


def test_the_probable_root_is_the_deepest_failing_dependency() -> None:
    alerts = [alert("frontend", minutes_ago=5), alert("checkout", minutes_ago=4), alert("payments", minutes_ago=1)]
    assert probable_root(alerts, graph=GRAPH) == "payments"  # both others call it, though it alerted last


def test_without_call_links_the_earliest_onset_is_the_root() -> None:
    alerts = [alert("search", minutes_ago=2), alert("payments", minutes_ago=6)]
    assert probable_root(alerts, graph=GRAPH) == "payments"


def test_call_chains_are_followed_but_not_forever() -> None:
    chain = DependencyGraph([(f"s{i}", f"s{i + 1}") for i in range(10)])
    assert chain.depends_on("s0", "s4")
    assert not chain.depends_on("s0", "s9")  # more than MAX_HOPS calls apart
    assert not chain.depends_on("s4", "s0")


def test_an_alert_name_that_reads_like_an_error_is_not_an_error_signature() -> None:
    a = alert("cart", name="HighErrorRate", summary="HighErrorRate on cart")
    b = alert("auth", name="HighErrorRate", summary="HighErrorRate on auth")
    assert error_signature(a) is None
    assert find(b, incident(5, a)) is None
