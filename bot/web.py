"""The HTTP face of ``sitrep serve``: Slack's one URL, the alert webhooks, the REST API, health.

The lifespan opens the process's runtime (``bot.runtime``: database, clients, analyst, Bolt app,
scheduler) and, unless ``--no-worker``, starts the worker as a process of its own
(``bot.worker_process``) so that investigations never hold up an ack; on shutdown the worker
finishes its jobs first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.api import build_api_routes
from bot.metrics import CONTENT_TYPE, exposition
from bot.openapi import SLACK_BODY_MAX_BYTES, document
from bot.runtime import DRAIN_SECONDS, PolicyWatcher, Runtime, open_runtime
from bot.settings import Settings
from bot.webhooks import build_webhook_routes
from bot.worker_process import WorkerProcess

log = structlog.get_logger(__name__)

#: what a 503 for a locked or unreachable database asks callers to wait
DATABASE_RETRY_AFTER_S = 5


def create_app(settings: Settings, *, worker: bool = True, worker_env: dict[str, str] | None = None,
               worker_cwd: Path | None = None, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """``worker``: start ``sitrep worker`` as a child process (with ``worker_env`` over this
    process's environment, in ``worker_cwd``), restarted if it dies and stopped on shutdown.
    ``extra_routes``: served beside Sitrep's own (the demo's page); not in ``/openapi.json``."""
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the worker process runs the periodic jobs that must run once; without it, this one does
        async with open_runtime(settings, worker=False, periodic=not worker) as runtime:
            app.state.runtime = runtime
            app.state.worker_process = None
            if not worker:
                yield
                return
            process = WorkerProcess(env=worker_env, cwd=worker_cwd, stop_timeout=DRAIN_SECONDS + 10)
            app.state.worker_process = process
            if runtime.policy is not None:  # SIGHUP reloads the policy here and in the worker process
                watcher = PolicyWatcher(runtime.policy)

                def reload_both() -> None:
                    watcher.reload()
                    process.send_signal(signal.SIGHUP)

                with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
                    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload_both)
            process.start()
            try:
                yield
            finally:
                await process.stop()

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        """The database is locked or unreachable: nothing was stored, so say "retry" (Alertmanager,
        Grafana and Slack all deliver again) rather than a bare 500."""
        log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
        return JSONResponse({"error": "database unavailable: nothing was stored, retry later"},
                            status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})

    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if not declared.isdecimal() or int(declared) > SLACK_BODY_MAX_BYTES:  # Slack always sends it
            return JSONResponse({"error": f"body missing its length or over {SLACK_BODY_MAX_BYTES} bytes"},
                                status_code=413)
        runtime: Runtime = request.app.state.runtime
        if runtime.slack_handler is None:
            return JSONResponse({"error": runtime.slack_problem}, status_code=503)
        return await runtime.slack_handler.handle(request)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime = request.app.state.runtime
        try:
            await asyncio.to_thread(runtime.store.ping)
            current = await asyncio.to_thread(runtime.store.schema_is_current)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__},
                                status_code=503)
        if not current:
            return JSONResponse({"status": "unavailable", "database": "migrations not applied"},
                                status_code=503)
        return JSONResponse({
            "status": "ready", "database": "ok",
            "slack": "ok" if runtime.bolt else "not configured",
            "worker": worker_state(request.app),
            "policy": policy_state(runtime),
        })

    async def metrics(request: Request) -> Response:
        token = settings.sitrep_metrics_token
        if token is not None and not hmac.compare_digest(
                request.headers.get("authorization", "").encode(), f"Bearer {token.get_secret_value()}".encode()):
            return Response("missing or bad bearer token\n", status_code=401, media_type="text/plain",
                            headers={"WWW-Authenticate": "Bearer"})
        runtime: Runtime = request.app.state.runtime
        body = await asyncio.to_thread(exposition, runtime.store.engine)
        return Response(content=body, media_type=CONTENT_TYPE)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document())

    routes: list[BaseRoute] = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *build_webhook_routes(settings),
        *build_api_routes(settings),
        *extra_routes,
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        OperationalError: database_unavailable, InterfaceError: database_unavailable})


def worker_state(app: Starlette) -> str:
    process: WorkerProcess | None = getattr(app.state, "worker_process", None)
    if process is not None:
        return process.state
    return "running" if app.state.runtime.worker else "off (--no-worker)"


def policy_state(runtime: Runtime) -> str:
    """The policy's state for /readyz, which anyone who reaches the port can read: never the
    files' contents or the validation messages (they quote values); the logs and ``sitrep policy
    lint`` have those."""
    policy = runtime.policy
    if policy is None:
        return "off: no policy folder (remediation is off; see the logs)" if runtime.policy_problem else "ok"
    if policy.last_error is not None:
        count = len(policy.last_error.problems)
        return (f"last good policy kept: the edited files have {count} problem{'s' if count != 1 else ''} "
                "(see the logs, or run `sitrep policy lint`)")
    return "ok"
