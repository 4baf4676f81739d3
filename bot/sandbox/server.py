"""Every fake in one ASGI app, and ``FakeCloud``: that app served by uvicorn on a free local port.

    /loki/...        FakeLoki        LOKI_URL=http://127.0.0.1:<port>/loki
    /prometheus/...  FakePrometheus  PROMETHEUS_URL=…/prometheus
    /argocd/...      FakeArgoCD      ARGOCD_URL=…/argocd (ARGOCD_TOKEN)
    /jaeger/...      FakeJaeger      JAEGER_URL=…/jaeger
    /slack/api/...   FakeSlack       SLACK_API_URL=…/slack/api/ (SLACK_BOT_TOKEN)
    /anthropic/...   FakeAnthropic   ANTHROPIC_BASE_URL=…/anthropic (ANTHROPIC_API_KEY)
    /kubernetes/...  FakeKubernetes  KUBERNETES_API_URL=…/kubernetes (KUBERNETES_TOKEN); /kubernetes/_operations
    /_response_url/{token}           Slack response_url sink
    /_control/faults                 POST {"loki": {"status": 500}, ...} | DELETE | GET
    /_control/anthropic              POST {"mode": "invalid"} | DELETE | GET
    /_control/{name}/calls           GET | DELETE: what a fake received (slack: every Web API call)
    /_control/argocd/operations      rollbacks, syncs, resource actions
    /_control/{slack,argocd,kubernetes}/grants   what the tokens may do (scopes, RBAC): one thing broken
    /_control/release | /_control/reset             POST; {"restart_story": true}: the scenarios end now

    with FakeCloud() as cloud:
        env = cloud.env(SLACK_SIGNING_SECRET="...")     # point Sitrep at it
        cloud.set_faults({"jaeger": {"hang": True}})
        cloud.slack_calls("chat.postMessage")
        cloud.grants(slack_scopes=[...], argocd_deny=["applications/get"])  # a token that lacks something
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot.sandbox.anthropic_api import AnthropicMode, FakeAnthropic
from bot.sandbox.faults import FakeUpstream, FaultBoard, fault_routes
from bot.sandbox.kubernetes_api import FakeKubernetes
from bot.sandbox.oncall_api import FakeOpsgenie, FakePagerDuty
from bot.sandbox.scenario import Scenario, ScenarioFeed
from bot.sandbox.signer import SlackSigner
from bot.sandbox.socket_mode import SocketModeLink
from bot.sandbox.slack_api import FakeSlack, SlackWorkspace, response_url_for
from bot.sandbox.upstreams import FakeArgoCD, FakeJaeger, FakeLoki, FakePrometheus


@dataclass(frozen=True)
class Credentials:
    """The secrets the fakes accept; random per instance so a leak is easy to grep for."""

    slack_bot_token: str
    slack_signing_secret: str
    argocd_token: str
    anthropic_api_key: str
    kubernetes_token: str = field(default_factory=lambda: f"k8s-sandbox-token-{secrets.token_hex(10)}")
    pagerduty_token: str = field(default_factory=lambda: f"pd-sandbox-token-{secrets.token_hex(10)}")
    opsgenie_key: str = field(default_factory=lambda: f"og-sandbox-key-{secrets.token_hex(10)}")
    #: the app-level token Socket Mode opens its connection with (``apps.connections.open``)
    slack_app_token: str = field(default_factory=lambda: f"xapp-1-A0SANDBOX01-{secrets.token_hex(10)}")

    @classmethod
    def generate(cls) -> Credentials:
        def suffix() -> str:
            return secrets.token_hex(10)

        return cls(
            slack_bot_token=f"xoxb-test-sandbox-{suffix()}",
            slack_signing_secret=f"sandbox-signing-secret-{suffix()}",
            argocd_token=f"argocd-sandbox-token-{suffix()}",
            anthropic_api_key=f"sk-ant-sandbox-{suffix()}",
        )


class Sandbox:
    """All fakes over one ``ScenarioFeed`` and one ``FaultBoard``; ``asgi()`` composes them."""

    def __init__(
        self,
        scenario: Scenario | Sequence[Scenario] | None = None,
        *,
        live: bool = False,
        credentials: Credentials | None = None,
        loki_tenant: str | None = None,
        workspace: SlackWorkspace | None = None,
    ) -> None:
        self.feed = ScenarioFeed(scenario, live=live)
        self.board = FaultBoard()
        self.credentials = credentials or Credentials.generate()
        creds = self.credentials
        self.loki = FakeLoki(self.feed, tenant=loki_tenant, board=self.board)
        self.prometheus = FakePrometheus(self.feed, board=self.board)
        self.argocd = FakeArgoCD(self.feed, token=creds.argocd_token, board=self.board)
        self.jaeger = FakeJaeger(self.feed, board=self.board)
        self.slack = FakeSlack(token=creds.slack_bot_token, workspace=workspace, board=self.board)
        self.anthropic = FakeAnthropic(self.feed, api_key=creds.anthropic_api_key, board=self.board)
        self.kubernetes = FakeKubernetes(self.feed, token=creds.kubernetes_token, board=self.board)
        self.pagerduty = FakePagerDuty(token=creds.pagerduty_token, board=self.board)
        self.opsgenie = FakeOpsgenie(token=creds.opsgenie_key, board=self.board)

    @property
    def fakes(self) -> dict[str, FakeUpstream]:
        return {f.name: f for f in (self.loki, self.prometheus, self.argocd, self.jaeger, self.slack,
                                    self.anthropic, self.pagerduty, self.opsgenie)}

    def reset(self, *, restart_story: bool = False) -> None:
        """Everything recorded and set forgotten; ``restart_story``: the scenarios also move to end now."""
        self.board.clear()
        for fake in self.fakes.values():
            fake.reset()
        self.kubernetes.reset()
        if restart_story:
            self.feed.restart()

    def asgi(self) -> Starlette:
        fakes = self.fakes

        async def calls(request: Request) -> Response:
            fake = fakes.get(request.path_params["name"])
            if fake is None:
                return JSONResponse({"error": "no such fake"}, status_code=404)
            if request.method == "DELETE":
                fake.calls.clear()
            return JSONResponse(fake.calls)

        async def release(request: Request) -> Response:
            self.board.release()
            return JSONResponse({"released": True})

        async def reset(request: Request) -> Response:
            body = await request.json() if await request.body() else {}
            self.reset(restart_story=bool(body.get("restart_story")))
            return JSONResponse({"reset": True})

        async def oncall(request: Request) -> Response:
            """``{"pagerduty": {"PSRE01": ["sre-ana@example.com"]}, "opsgenie": {...}}``: who is on call."""
            body = await request.json()
            self.pagerduty.rotas.update(body.get("pagerduty") or {})
            self.opsgenie.rotas.update(body.get("opsgenie") or {})
            return JSONResponse({"pagerduty": self.pagerduty.rotas, "opsgenie": self.opsgenie.rotas})

        async def healthz(request: Request) -> Response:
            return JSONResponse({"ok": True})

        async def index(request: Request) -> Response:
            scenario = self.feed.current()
            return JSONResponse({
                "fakes": {name: f"/{'slack/api' if name == 'slack' else name}" for name in fakes},
                "scenario": {"name": scenario.name, "service": scenario.service,
                             "namespace": scenario.namespace, "argocd_shape": scenario.argocd_shape,
                             "now": scenario.now.isoformat(),
                             "deployed_at": scenario.deployed_at.isoformat(),
                             "onset": scenario.onset.isoformat(), "live": self.feed.live},
                "faults": self.board.snapshot(),
            })

        return Starlette(routes=[
            Route("/", index),
            Route("/healthz", healthz),
            *fault_routes(self.board),
            Route("/_control/release", release, methods=["POST"]),
            Route("/_control/reset", reset, methods=["POST"]),
            Route("/_control/anthropic", self.anthropic.control, methods=["GET", "POST", "DELETE"]),
            Route("/_control/argocd/deploy", self.argocd.deploy, methods=["POST"]),
            Route("/_control/loki/lines", self.loki.add_lines, methods=["POST"]),
            Route("/_control/oncall", oncall, methods=["POST"]),
            Route("/_control/jaeger/dependencies", self.jaeger.set_dependencies, methods=["POST"]),
            Route("/_control/argocd/operations", self.argocd.list_operations,
                  methods=["GET", "DELETE"]),
            Route("/_control/slack/grants", self.slack.grants, methods=["GET", "POST"]),
            Route("/_control/argocd/grants", self.argocd.rbac, methods=["GET", "POST"]),
            Route("/_control/kubernetes/grants", self.kubernetes.rbac, methods=["GET", "POST"]),
            Route("/_control/{name}/calls", calls, methods=["GET", "DELETE"]),
            Route("/_response_url/{token}", self.slack.response_url, methods=["POST"]),
            Mount("/loki", self.loki.asgi()),
            Mount("/prometheus", self.prometheus.asgi()),
            Mount("/argocd", self.argocd.asgi()),
            Mount("/jaeger", self.jaeger.asgi()),
            Mount("/slack/api", self.slack.asgi()),
            Mount("/anthropic", self.anthropic.asgi()),
            Mount("/kubernetes", self.kubernetes.asgi()),
            Mount("/pagerduty", self.pagerduty.asgi()),
            Mount("/opsgenie", self.opsgenie.asgi()),
        ])


def sandbox_env(url: str, sandbox: Sandbox) -> dict[str, str]:
    """The environment variables that point Sitrep at ``sandbox`` served at ``url``."""
    creds = sandbox.credentials
    env = {
        "LOKI_URL": f"{url}/loki",
        "PROMETHEUS_URL": f"{url}/prometheus",
        "ARGOCD_URL": f"{url}/argocd",
        "ARGOCD_TOKEN": creds.argocd_token,
        "JAEGER_URL": f"{url}/jaeger",
        "SLACK_API_URL": f"{url}/slack/api/",
        "SLACK_BOT_TOKEN": creds.slack_bot_token,
        "SLACK_SIGNING_SECRET": creds.slack_signing_secret,
        "ANTHROPIC_BASE_URL": f"{url}/anthropic",
        "ANTHROPIC_API_KEY": creds.anthropic_api_key,
        "KUBERNETES_API_URL": f"{url}/kubernetes",
        "KUBERNETES_TOKEN": creds.kubernetes_token,
        "PAGERDUTY_API_URL": f"{url}/pagerduty",
        "PAGERDUTY_TOKEN": creds.pagerduty_token,
        "OPSGENIE_API_URL": f"{url}/opsgenie",
        "OPSGENIE_API_KEY": creds.opsgenie_key,
    }
    if sandbox.loki.tenant is not None:
        env["LOKI_TENANT"] = sandbox.loki.tenant
    return env


def create_app(scenario: Scenario | None = None, **options: Any) -> tuple[Starlette, Sandbox]:
    """The composed app and the ``Sandbox`` behind it (for serving it yourself)."""
    sandbox = Sandbox(scenario, **options)
    return sandbox.asgi(), sandbox


class FakeCloudError(RuntimeError):
    """The fake server did not start or stop."""


class FakeCloud:
    """The sandbox served by uvicorn in a background thread on ``host`` (a free port by default).

    A context manager, sync (``with``) or async (``async with``). The helpers talk to the server
    over HTTP, so they are safe from any thread and work the same against a running ``sitrep demo``.
    """

    def __init__(
        self,
        scenario: Scenario | Sequence[Scenario] | None = None,
        *,
        live: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        credentials: Credentials | None = None,
        loki_tenant: str | None = None,
        workspace: SlackWorkspace | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.sandbox = Sandbox(scenario, live=live, credentials=credentials, loki_tenant=loki_tenant,
                               workspace=workspace)
        self.host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._client: httpx.Client | None = None
        self.url = ""
        self._link: SocketModeLink | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._thread is not None:
            raise FakeCloudError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.sandbox.asgi(), log_config=None, log_level="warning", access_log=False,
            lifespan="off", ws="none", timeout_graceful_shutdown=2, timeout_keep_alive=5,
        )
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"fake-cloud-{port}", daemon=True)
        self._thread.start()
        self.url = f"http://{self.host}:{port}"
        self._client = httpx.Client(base_url=self.url, timeout=5.0)
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise FakeCloudError(f"fake cloud did not start on {self.url}")
            time.sleep(0.01)
        self._client.get("/healthz").raise_for_status()
        return self

    def stop(self) -> None:
        if self._link is not None:
            self._link.stop()
            self.sandbox.slack.socket_link = self._link = None
        server, thread = self._server, self._thread
        if server is not None and thread is not None and thread.is_alive():
            try:
                self._http().post("/_control/release", timeout=1.0)
            except httpx.HTTPError:
                pass
            server.should_exit = True
            thread.join(timeout=10)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout=5)
        if self._client is not None:
            self._client.close()
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = self._client = None

    def socket_mode(self) -> SocketModeLink:
        """Slack's Socket Mode for this cloud: ``apps.connections.open`` with ``credentials.slack_app_token``
        hands out URLs to the returned link, through which a test sends envelopes and sees the acks."""
        if self._link is None:
            self._link = SocketModeLink(app_token=self.credentials.slack_app_token, host=self.host).start()
            self.sandbox.slack.socket_link = self._link
        return self._link

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ configuration for Sitrep

    @property
    def scenario(self) -> Scenario:
        return self.sandbox.feed.current()

    @property
    def credentials(self) -> Credentials:
        return self.sandbox.credentials

    def env(self, **overrides: str | None) -> dict[str, str]:
        """Sitrep's environment pointing at the fakes; an override of ``None`` removes a variable."""
        env = sandbox_env(self.url, self.sandbox)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def signer(self, signing_secret: str | None = None) -> SlackSigner:
        """A ``SlackSigner`` whose ``response_url``s point at this cloud's sink."""
        return SlackSigner(signing_secret or self.credentials.slack_signing_secret,
                           response_url_base=self.url)

    def response_url(self, token: str) -> str:
        return response_url_for(self.url, token)

    # ------------------------------------------------------------------ control and records

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise FakeCloudError("the fake cloud is not running")
        return self._client

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http().request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def slack_calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every Slack Web API call (and response_url post, method ``response_url``), oldest first."""
        calls: list[dict[str, Any]] = self._json("GET", "/_control/slack/calls")
        return calls if method is None else [c for c in calls if c["method"] == method]

    def subscribe_slack_events(self, url: str | None, signing_secret: str = "") -> None:
        """Have the fake Slack deliver channel messages (incoming webhooks) to ``url``, signed."""
        self._json("POST", "/slack/api/_subscribe", json={"url": url, "signing_secret": signing_secret})

    def slack_deliveries(self) -> list[dict[str, Any]]:
        """Events API deliveries made: ``{event_ts, attempt, status}``."""
        deliveries: list[dict[str, Any]] = self._json("GET", "/slack/api/_subscribe")
        return deliveries

    def incoming_webhook_url(self, channel: str) -> str:
        """A Slack incoming-webhook URL posting into ``channel`` (what Alertmanager's ``api_url`` is)."""
        return f"{self.url}/slack/api/_incoming/{channel}"

    def jaeger_dependencies(self, edges: list[tuple[str, str]]) -> None:
        """Make Jaeger's dependency graph also show these calls (parent, child)."""
        self._json("POST", "/_control/jaeger/dependencies",
                   json=[{"parent": p, "child": c, "callCount": 100} for p, c in edges])

    def clear_slack_calls(self) -> None:
        self._json("DELETE", "/_control/slack/calls")

    def response_url_calls(self, token: str | None = None) -> list[dict[str, Any]]:
        calls = self.slack_calls("response_url")
        return calls if token is None else [c for c in calls if c.get("token") == token]

    def anthropic_calls(self) -> list[dict[str, Any]]:
        """The Messages API requests received (bodies; no credentials)."""
        return list(self._json("GET", "/_control/anthropic/calls"))

    def anthropic_mode(self, mode: str = "scenario", *, status: int | None = None,
                       input: Mapping[str, Any] | None = None, times: int | None = None,
                       delay_ms: int | None = None) -> None:
        """``scenario`` | ``invalid`` | ``text`` | ``hang`` | ``error`` (``status``) | ``reply``
        (``input``); ``times`` then back to ``scenario``."""
        spec: dict[str, Any] = {"mode": mode}
        if status is not None:
            spec["status"] = status
        if input is not None:
            spec["input"] = dict(input)
        if times is not None:
            spec["times"] = times
        if delay_ms is not None:
            spec["delay_ms"] = delay_ms
        AnthropicMode.model_validate(spec)  # fail here, not as an HTTP 400
        self._json("POST", "/_control/anthropic", json=spec)

    def upstream_calls(self, name: str) -> list[dict[str, Any]]:
        """Requests one fake received: ``loki``, ``prometheus``, ``argocd``, ``jaeger``..."""
        return list(self._json("GET", f"/_control/{name}/calls"))

    def argocd_operations(self) -> list[dict[str, Any]]:
        """Rollbacks, syncs and resource actions posted to ArgoCD: ``{op, app, body, at}``."""
        return list(self._json("GET", "/_control/argocd/operations"))

    def slack_files(self) -> list[dict[str, Any]]:
        """Files uploaded to the fake Slack (name, content, channel_id, thread_ts)."""
        return list(self._json("GET", "/slack/api/_files"))

    def loki_lines(self, lines: list[str], *, level: str = "error") -> None:
        """Log ``lines`` now in the sandbox Loki (as the scenario's service)."""
        self._json("POST", "/_control/loki/lines", json=[{"line": line, "level": level} for line in lines])

    def on_call(self, *, pagerduty: Mapping[str, list[str]] | None = None,
                opsgenie: Mapping[str, list[str]] | None = None) -> None:
        """Who is on call now, by schedule id (emails ``<slack name>@example.com``)."""
        self._json("POST", "/_control/oncall", json={"pagerduty": dict(pagerduty or {}),
                                                      "opsgenie": dict(opsgenie or {})})

    def argocd_deploy(self, target_revision: str, *, by: str = "someone", revision: str | None = None,
                      app: str | None = None) -> None:
        """A deploy lands in the fake ArgoCD after the scenario's history (it becomes current).
        ``target_revision`` is the release (image tag; the tracked tag in the ``tag`` shape);
        ``revision`` its sha (or chart version for ``helm``), made up when None."""
        body: dict[str, str] = {"target_revision": target_revision, "by": by}
        if revision is not None:
            body["revision"] = revision
        if app is not None:
            body["app"] = app
        self._json("POST", "/_control/argocd/deploy", json=body)

    def argocd_application(self, app: str | None = None) -> dict[str, Any]:
        """The application as the fake ArgoCD serves it now (history with the deploys made since)."""
        name = app or self.scenario.app
        response = self._http().get(f"/argocd/api/v1/applications/{name}",
                                    headers={"Authorization": f"Bearer {self.credentials.argocd_token}"})
        response.raise_for_status()
        return dict(response.json())

    def grants(self, *, slack_scopes: Sequence[str] | None = None, slack_not_member: Sequence[str] | None = None,
               argocd_deny: Sequence[str] | None = None, kubernetes_deny: Sequence[str] | None = None) -> None:
        """What the sandbox's tokens may do (``reset()`` restores: everything). ``slack_scopes``: the bot
        token's scopes (``x-oauth-scopes``); ``slack_not_member``: channels the bot is not in;
        ``argocd_deny``: ``applications/get``, ``applications/sync``…; ``kubernetes_deny``:
        ``patch deployments/scale`` (``…@shop``: in one namespace)."""
        slack: dict[str, Any] = {}
        if slack_scopes is not None:
            slack["scopes"] = list(slack_scopes)
        if slack_not_member is not None:
            slack["not_member"] = list(slack_not_member)
        if slack:
            self._json("POST", "/_control/slack/grants", json=slack)
        if argocd_deny is not None:
            self._json("POST", "/_control/argocd/grants", json={"deny": list(argocd_deny)})
        if kubernetes_deny is not None:
            self._json("POST", "/_control/kubernetes/grants", json={"deny": list(kubernetes_deny)})

    def set_faults(self, faults: Mapping[str, Mapping[str, Any] | None] | None = None,
                   **by_name: Mapping[str, Any] | None) -> dict[str, Any]:
        """``set_faults({"loki": {"status": 500}})`` or ``set_faults(jaeger={"hang": True})``."""
        spec = {**(faults or {}), **by_name}
        return dict(self._json("POST", "/_control/faults", json=spec)["faults"])

    def clear_faults(self) -> None:
        self._json("DELETE", "/_control/faults")

    def reset(self, *, restart_story: bool = False) -> None:
        """Back to the state of a new sandbox (same scenario and credentials): no faults, recorded
        calls, Slack messages, files or event subscription, no deploys or operations made since, every
        grant restored, the model's mode ``scenario``, nobody on call, no extra Jaeger edges.
        ``restart_story``: the scenarios also end now, as those of a cloud started now (tests that
        share one cloud for minutes, so that "deployed 6 minutes ago" stays true)."""
        self._json("POST", "/_control/reset", json={"restart_story": True} if restart_story else None)
