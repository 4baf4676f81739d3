"""The REST API (design.md, "HTTP"): incidents, one incident, its timeline. Bearer
``SITREP_API_TOKEN``, compared in constant time; no token configured → the API is off."""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.openapi import DEFAULT_LIMIT, MAX_LIMIT
from bot.settings import Settings
from bot.store.incidents import IncidentNotFoundError, IncidentStore
from bot.store.proposals import ProposalStore
from bot.store.tables import IncidentRow


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def incident_json(row: IncidentRow, store: IncidentStore, *, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "service": row.service, "status": row.status, "severity": row.severity,
        "opened_at": row.opened_at.isoformat(), "slack": {"channel": row.slack_channel, "ts": row.slack_ts},
    }
    if full:
        assert row.id is not None
        brief = store.latest_brief(row.id)
        proposals = ProposalStore(store.engine).for_incident(row.id)
        body |= {
            "alerts": [{"id": a.id, "source": a.source, "origin": a.origin, "name": a.name,
                        "service": a.service, "namespace": a.namespace, "severity": a.severity,
                        "state": a.state, "outcome": a.outcome,
                        "starts_at": a.starts_at.isoformat() if a.starts_at else None,
                        "received_at": a.received_at.isoformat(), "links": json.loads(a.links)}
                       for a in store.alerts(row.id)],
            "brief": brief.model_dump(mode="json") if brief else None,
            "proposals": [{"id": p.id, "action": json.loads(p.action), "decision": json.loads(p.decision),
                           "state": p.state} for p in proposals],
        }
    return body


def build_api_routes(settings: Settings) -> list[Route]:
    """Their documented parameters and answers: ``bot.openapi``."""

    def refused(request: Request) -> JSONResponse | None:
        if settings.sitrep_api_token is None:
            return _error(503, "REST API disabled: set SITREP_API_TOKEN")
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), settings.sitrep_api_token.get_secret_value().encode()):
            return _error(401, "missing or wrong bearer token")
        return None

    def store_of(request: Request) -> IncidentStore:
        return request.app.state.runtime.store  # type: ignore[no-any-return]

    async def list_incidents(request: Request) -> JSONResponse:
        if (denied := refused(request)) is not None:
            return denied
        cursor = request.query_params.get("cursor")
        limit_text = request.query_params.get("limit", str(DEFAULT_LIMIT))
        if cursor is not None and not cursor.isdecimal():
            return _error(400, "cursor must be the next_cursor of a previous page")
        if not limit_text.isdecimal() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return _error(400, f"limit must be a number from 1 to {MAX_LIMIT}")
        limit = int(limit_text)
        store = store_of(request)
        rows = await asyncio.to_thread(store.list_incidents, before_id=int(cursor) if cursor else None,
                                       limit=limit + 1)
        page = rows[:limit]
        next_cursor = str(page[-1].id) if len(rows) > limit and page else None
        return JSONResponse({"items": [incident_json(r, store, full=False) for r in page],
                             "next_cursor": next_cursor})

    async def get_incident(request: Request) -> JSONResponse:
        if (denied := refused(request)) is not None:
            return denied
        incident_id: str = request.path_params["incident_id"]
        store = store_of(request)
        try:
            row = await asyncio.to_thread(store.get, _id(incident_id))
            return JSONResponse(await asyncio.to_thread(incident_json, row, store, full=True))
        except (IncidentNotFoundError, ValueError):
            return _error(404, f"incident {incident_id[:20]} not found")

    async def get_timeline(request: Request) -> JSONResponse:
        if (denied := refused(request)) is not None:
            return denied
        incident_id: str = request.path_params["incident_id"]
        store = store_of(request)
        try:
            await asyncio.to_thread(store.get, _id(incident_id))
        except (IncidentNotFoundError, ValueError):
            return _error(404, f"incident {incident_id[:20]} not found")
        events = await asyncio.to_thread(store.timeline, _id(incident_id))
        return JSONResponse({"items": [{"at": e.at.isoformat(), "type": e.type, "actor": e.actor,
                                        "data": json.loads(e.data)} for e in events]})

    return [Route("/api/v1/incidents", list_incidents, methods=["GET"]),
            Route("/api/v1/incidents/{incident_id}", get_incident, methods=["GET"]),
            Route("/api/v1/incidents/{incident_id}/timeline", get_timeline, methods=["GET"])]


def _id(text: str) -> int:
    if not text.isdecimal():
        raise ValueError(text)
    return int(text)
