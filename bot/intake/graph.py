"""The service call graph grouping relies on, kept in the database so every replica shares it.

Edges come from Jaeger's dependency API (refreshed by the scheduler) and from the traces each
investigation collects (a span whose parent span is in another service: parent calls child).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot.intake.grouping import DependencyGraph
from bot.models import SourceResult, Trace, utcnow
from bot.store.tables import ServiceEdgeRow

log = structlog.get_logger(__name__)

#: how long a loaded graph is reused before it is read again
CACHE_SECONDS = 30.0


class EdgeStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cached: tuple[float, DependencyGraph] | None = None

    def graph(self) -> DependencyGraph:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > CACHE_SECONDS:
            with Session(self._engine) as session:
                rows = session.exec(select(ServiceEdgeRow.parent, ServiceEdgeRow.child)).all()
            self._cached = (now, DependencyGraph((p, c) for p, c in rows))
        return self._cached[1]

    def add(self, edges: Iterable[tuple[str, str, int]]) -> int:
        """Record edges (parent, child, calls); returns how many were new."""
        added = 0
        with Session(self._engine) as session:
            for parent, child, calls in edges:
                row = session.exec(select(ServiceEdgeRow).where(col(ServiceEdgeRow.parent) == parent)
                                   .where(col(ServiceEdgeRow.child) == child)).first()
                if row is None:
                    row, added = ServiceEdgeRow(parent=parent, child=child), added + 1
                row.calls, row.seen_at = max(row.calls, calls), utcnow()
                session.add(row)
            session.commit()
        if added:
            self._cached = None
        return added

    def learn_from(self, results: Iterable[SourceResult]) -> None:
        traces = [e.payload for r in results for e in r.evidence if isinstance(e.payload, Trace)]
        edges = {edge for trace in traces for edge in trace.call_edges()}
        if edges:
            self.add((p, c, 1) for p, c in sorted(edges))

    async def refresh_from(self, fetch: Callable[[], Awaitable[list[tuple[str, str, int]]]]) -> None:
        try:
            edges = await fetch()
        except Exception as exc:  # Jaeger away: keep the graph we have
            log.warning("dependencies_refresh_failed", error=repr(exc))
            return
        added = await asyncio.to_thread(self.add, edges)
        log.info("dependencies_refreshed", edges=len(edges), new=added)
