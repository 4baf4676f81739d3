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

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.intake.errors import AlertParseError
from bot.service.alerts import BacklogFullError, WebhookKind
from bot.settings import Settings

log = structlog.get_logger(__name__)


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def build_webhook_routes(settings: Settings) -> list[Route]:
    """Their documented bodies and answers: ``bot.openapi``."""
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
        if declared.isdecimal() and int(declared) > limit:
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

    async def alertmanager(request: Request) -> JSONResponse:
        return await receive("alertmanager", request)

    async def grafana(request: Request) -> JSONResponse:
        return await receive("grafana", request)

    return [Route("/alerts/alertmanager", alertmanager, methods=["POST"]),
            Route("/alerts/grafana", grafana, methods=["POST"])]
