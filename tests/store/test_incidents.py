import pytest

from bot.models import TimelineEventType
from sqlalchemy.engine import Engine

from bot.store.incidents import IncidentNotFoundError, IncidentStore


@pytest.fixture
def store(engine: Engine) -> IncidentStore:
    return IncidentStore(engine)


def test_incident_keeps_its_slack_thread_and_timeline_in_order(store: IncidentStore) -> None:
    incident_id = store.open_incident(service="checkout", message="p99 is 8s", requested_by="U1")
    store.update_slack(incident_id, channel="C1", root_ts="1.000100")
    store.update_slack(incident_id, brief_ts="1.000200")
    for type_ in (TimelineEventType.INVESTIGATION_STARTED, TimelineEventType.SOURCE_COLLECTED,
                  TimelineEventType.BRIEF_POSTED):
        store.add_event(incident_id, type_, data={"n": type_.value})

    row = store.get(incident_id)
    assert (row.slack_channel, row.slack_ts, row.brief_ts) == ("C1", "1.000100", "1.000200")
    assert [e.type for e in store.timeline(incident_id)] == [
        "INVESTIGATION_STARTED", "SOURCE_COLLECTED", "BRIEF_POSTED"]


def test_unknown_incident_is_a_clear_error(store: IncidentStore) -> None:
    with pytest.raises(IncidentNotFoundError, match="incident 42 not found"):
        store.get(42)
