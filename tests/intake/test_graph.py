"""The call graph grouping uses: learned from the traces investigations collect, shared in the database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from bot.intake.graph import EdgeStore
from bot.models import Evidence, EvidenceSource, SourceName, SourceResult, SourceStatus, Span, Trace

NOW = datetime(2026, 11, 25, 3, 45, tzinfo=UTC)


def traces() -> SourceResult:
    spans = [Span(span_id="a", service="checkout", operation="POST /pay", start=NOW, duration_ms=900),
             Span(span_id="b", parent_id="a", service="checkout", operation="pool.acquire", start=NOW,
                  duration_ms=800),
             Span(span_id="c", parent_id="b", service="orders-db", operation="SELECT", start=NOW,
                  duration_ms=700, error=True)]
    trace = Trace(trace_id="t1", root_service="checkout", root_operation="POST /pay", start=NOW,
                  duration_ms=900, error=True, spans=spans)
    return SourceResult(source=SourceName.JAEGER, status=SourceStatus.OK, evidence=[
        Evidence(id="traces-1", source=EvidenceSource.TRACES, detail="t", payload=trace)])


def test_calls_seen_in_collected_traces_link_services_for_every_replica(engine: Engine) -> None:
    assert traces().evidence[0].payload.call_edges() == {("checkout", "orders-db")}  # type: ignore[union-attr]
    EdgeStore(engine).learn_from([traces()])
    graph = EdgeStore(engine).graph()  # another process reading the same database
    assert graph.depends_on("checkout", "orders-db") and not graph.depends_on("orders-db", "checkout")
    assert len(graph) == 1
