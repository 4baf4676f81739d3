"""The HTTP face of ``sitrep serve``: Slack's one URL, health, and the app's lifespan.

The lifespan builds every long-lived part once (database, upstream clients, analyst, Bolt app,
Socket Mode connection) and closes them on shutdown, after in-flight investigations finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp

from bot.analyst.chain import Analyst
from bot.analyst.factory import build_analyst
from bot.collectors.factory import CollectorSet, build_collectors
from bot.service.container import Services
from bot.service.incidents import IncidentQueries
from bot.service.investigate import Investigator
from bot.service.tasks import BackgroundTasks
from bot.settings import Settings
from bot.slack.app import SlackNotConfiguredError, create_bolt_app
from bot.store.db import create_schema, make_engine
from bot.store.incidents import IncidentStore

log = structlog.get_logger(__name__)

#: how long shutdown waits for investigations in flight
DRAIN_SECONDS = 25.0


@dataclass
class Runtime:
    """What the lifespan built; kept on ``app.state.runtime``."""

    store: IncidentStore
    services: Services
    bolt: AsyncApp | None = None
    slack_handler: AsyncSlackRequestHandler | None = None
    slack_problem: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def build_services(
    settings: Settings, *, store: IncidentStore, collectors: CollectorSet, analyst: Analyst
) -> Services:
    investigator = Investigator(
        collectors=collectors.collectors,
        analyst=analyst,
        source_budget=settings.sitrep_source_timeout,
        total_budget=settings.sitrep_collect_timeout,
        store=store,
    )
    return Services(
        investigator=investigator,
        tasks=BackgroundTasks(),
        queries=IncidentQueries(store),
        default_window=timedelta(minutes=30),
        default_namespace=None,
    )


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await asyncio.to_thread(create_schema, engine)
        store = IncidentStore(engine)
        collectors = build_collectors(settings)
        analyst = build_analyst(settings)
        services = build_services(settings, store=store, collectors=collectors, analyst=analyst)
        runtime = Runtime(store=store, services=services)
        socket_handler = None
        try:
            runtime.bolt = create_bolt_app(settings, services)
            runtime.slack_handler = AsyncSlackRequestHandler(runtime.bolt)
        except SlackNotConfiguredError as exc:
            runtime.slack_problem = str(exc)
            log.warning("slack_not_configured", reason=str(exc))
        if runtime.bolt is not None and settings.slack_app_token is not None:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_handler = AsyncSocketModeHandler(
                runtime.bolt, settings.slack_app_token.get_secret_value()
            )
            await socket_handler.connect_async()
            log.info("socket_mode_connected")
        app.state.runtime = runtime
        log.info("sitrep_started", port=settings.port, slack=runtime.bolt is not None,
                 socket_mode=socket_handler is not None)
        try:
            yield
        finally:
            await services.tasks.drain(timeout=DRAIN_SECONDS)
            if socket_handler is not None:
                await socket_handler.close_async()
            await collectors.aclose()
            await analyst.aclose()
            engine.dispose()
            log.info("sitrep_stopped")

    app = FastAPI(title="Sitrep", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.post("/slack/events")
    async def slack_events(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        if runtime.slack_handler is None:
            return JSONResponse({"error": runtime.slack_problem}, status_code=503)
        return await runtime.slack_handler.handle(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        try:
            await asyncio.to_thread(runtime.store.ping)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__},
                                status_code=503)
        return JSONResponse({"status": "ready", "database": "ok",
                             "slack": "ok" if runtime.bolt else "not configured"})

    return app
