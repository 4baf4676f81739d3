"""``POST /alerts/alertmanager`` and ``POST /alerts/grafana`` (design.md, "HTTP").

    no/bad bearer token ─▶ 401        body over the limit ─▶ 413 (kept as a dead letter)
    unreadable body ─▶ 400 {"error": reason} (kept as a dead letter)
    too many jobs waiting ─▶ 429 + Retry-After
    stored (alerts + jobs, one transaction) ─▶ 202 {"alerts": n, "incidents": [...]}

The token is compared in constant time. No ``SITREP_WEBHOOK_TOKEN`` → the routes answer 503, so an
open endpoint is never exposed by accident.
"""

from __future__ import annotations

import hmac
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bot.intake.errors import AlertParseError
from bot.intake.webhooks import AlertmanagerMessage, GrafanaMessage
from bot.service.alerts import BacklogFullError, WebhookKind
from bot.settings import Settings

log = structlog.get_logger(__name__)


def _openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The route's documented body and answers (it reads the raw body itself, to keep what it cannot
    parse): what the schema-driven fuzz test generates requests from."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # the models have no cycles: every $ref can be replaced by its target
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node
    error = {"content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}},
        "responses": {
            "202": {"description": "stored: alerts and the incidents they joined"},
            "400": {"description": "unreadable body (kept as a dead letter)", **error},
            "401": {"description": "missing or wrong bearer token", **error},
            "413": {"description": "body over the size limit", **error},
            "429": {"description": "backlog full: retry after Retry-After seconds", **error},
            "503": {"description": "webhooks off, or the database unavailable: retry", **error},
        },
    }


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def build_webhook_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    token = settings.sitrep_webhook_token.get_secret_value().encode() if settings.sitrep_webhook_token else None
    limit = settings.sitrep_webhook_max_bytes

    async def receive(kind: WebhookKind, request: Request) -> JSONResponse:
        if token is None:
            return _error(503, "webhooks are off: set SITREP_WEBHOOK_TOKEN")
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token):
            return _error(401, "missing or wrong bearer token")
        alerts = request.app.state.runtime.services.alerts
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await alerts.reject_body(kind, reason=f"body of {declared} bytes is over the {limit}-byte limit",
                                     body=b"")
            return _error(413, f"body over the {limit}-byte limit")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                await alerts.reject_body(kind, reason=f"body over the {limit}-byte limit", body=bytes(body))
                return _error(413, f"body over the {limit}-byte limit")
        try:
            result = await alerts.accept_webhook(kind, bytes(body))
        except AlertParseError as exc:
            return _error(400, exc.reason)
        except BacklogFullError as exc:
            log.warning("webhook_backpressure", backlog=exc.backlog)
            return _error(429, str(exc), headers={"Retry-After": str(exc.retry_after)})
        return JSONResponse(status_code=202, content={
            "alerts": len(result.alerts),
            "incidents": sorted({a.incident_id for a in result.alerts if a.incident_id is not None}),
            "outcomes": [a.outcome for a in result.alerts],
        })

    @router.post("/alerts/alertmanager", openapi_extra=_openapi(AlertmanagerMessage),
                 summary="Alertmanager webhook (v4)")
    async def alertmanager(request: Request) -> JSONResponse:
        return await receive("alertmanager", request)

    @router.post("/alerts/grafana", openapi_extra=_openapi(GrafanaMessage),
                 summary="Grafana unified-alerting webhook")
    async def grafana(request: Request) -> JSONResponse:
        return await receive("grafana", request)

    return router
