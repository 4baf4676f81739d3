"""A fake Anthropic Messages API: ``POST /v1/messages`` answered with a forced ``tool_use``.

Modes (``POST /_control/anthropic``):

* ``scenario`` (default): a competent model for the ``Scenario``. It reads the evidence ids in the
  request's messages (``logs-3``, ``deploys-1``…), cites only those, and writes a ``BriefDraft``:
  deploy regression of ``checkout`` ``v2.14.3``, roll back to the previous deploy by its identity
  (``to_revision`` = ``Scenario.rollback_revision``, ``history_id`` 12), sources it did not see
  listed in ``unknowns``;
* ``invalid``: the same tool call without ``root_cause`` (fails ``BriefDraft`` validation);
* ``text``: a text answer, no tool call;
* ``hang``: never answers (until the client gives up or the server stops);
* ``error``: ``{"type": "error", "error": {"type": "overloaded_error", ...}}`` with ``status``
  (default 529; 429/500/400… map to Anthropic's error types);
* ``reply``: the scripted ``input`` as the tool input.

``times`` makes a mode last that many requests, then ``scenario`` again; ``delay_ms`` delays answers.
Requests are recorded (``GET /_calls``) without their credentials. The key may come as ``x-api-key``
or, as this anthropic SDK sends it, ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from datetime import UTC
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.faults import FakeUpstream, Fault, FaultBoard, hang
from bot.sandbox.scenario import Scenario, ScenarioFeed

EVIDENCE_ID = re.compile(r"\b(logs|metrics|deploys|traces)-\d+\b")
SOURCES = ("metrics", "deploys", "logs", "traces")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


class AnthropicMode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["scenario", "invalid", "text", "hang", "error", "reply"] = "scenario"
    status: int = Field(default=529, ge=400, le=599)
    input: dict[str, Any] | None = None
    times: int | None = Field(default=None, ge=1)
    delay_ms: int = Field(default=0, ge=0)


def anthropic_error(status: int, message: str) -> Response:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}},
                        status_code=status, headers={"request-id": "req_sandbox_error"})


class FakeAnthropic(FakeUpstream):
    """``api_key``: when set, the only key accepted (else any non-empty key)."""

    name = "anthropic"

    def __init__(self, feed: ScenarioFeed, *, api_key: str | None = None,
                 board: FaultBoard | None = None) -> None:
        super().__init__(board=board)
        self.feed = feed
        self.api_key = api_key
        self.mode = AnthropicMode()
        self._ids = itertools.count(1)

    def set_mode(self, mode: AnthropicMode) -> None:
        self.mode = mode

    def reset(self) -> None:
        super().reset()
        self.mode = AnthropicMode()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            Route("/_control/anthropic", self.control, methods=["GET", "POST", "DELETE"]),
        ]

    def error_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        default = "Overloaded" if status == 529 else f"injected fault (HTTP {status})"
        return anthropic_error(status, fault.message or default)

    async def control(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.mode = AnthropicMode()
        elif request.method == "POST":
            try:
                self.mode = AnthropicMode.model_validate_json(await request.body() or b"{}")
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.mode.model_dump())

    def _take_mode(self) -> AnthropicMode:
        mode = self.mode
        if mode.times is not None:
            self.mode = AnthropicMode() if mode.times <= 1 else mode.model_copy(
                update={"times": mode.times - 1})
        return mode

    async def messages(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        mode = self._take_mode()
        self.calls.append({
            "path": request.url.path,
            "model": body.get("model") if isinstance(body, dict) else None,
            "body": body,
            "headers": {k: v for k, v in request.headers.items()
                        if k in ("anthropic-version", "anthropic-beta", "user-agent", "content-type")},
            "mode": mode.mode,
        })
        if denied := self._denied(request):
            return denied
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        if invalid := _invalid_request(body):
            return anthropic_error(400, invalid)
        assert isinstance(body, dict)
        if mode.delay_ms:
            await asyncio.sleep(mode.delay_ms / 1000)
        if mode.mode == "hang":
            await hang(self.board, request.receive)
            return anthropic_error(529, "Overloaded")
        if mode.mode == "error":
            return anthropic_error(mode.status, "Overloaded" if mode.status == 529 else
                                   f"sandbox error (HTTP {mode.status})")
        tool = _tool_name(body)
        if mode.mode == "text" or tool is None:
            content: list[dict[str, Any]] = [{"type": "text", "text": (
                "The checkout service regressed after the v2.14.3 deploy; see the evidence.")}]
            return self._reply(body, content, stop_reason="end_turn")
        if tool == "submit_check":  # a second opinion on a rollback: this model agrees when grounded
            text = request_text(body)
            scenario = self.feed.current()
            agree = _names(text, scenario.previous_revision, scenario.rollback_revision) and \
                _names(text, scenario.culprit_revision, scenario.culprit_identity)
            tool_input = {"agree": agree, "reason": (
                f"{scenario.culprit_revision} went out minutes before the onset and "
                f"{scenario.previous_revision} was the last healthy revision" if agree else
                "the proposed rollback does not match the deploy history in the evidence")}
        elif mode.mode == "reply":
            tool_input = dict(mode.input or {})
        else:
            tool_input = scenario_brief(request_text(body), self.feed.current())
            if mode.mode == "invalid":
                tool_input.pop("root_cause", None)
        content = [{"type": "tool_use", "id": f"toolu_sandbox{next(self._ids):06d}", "name": tool,
                    "input": tool_input}]
        return self._reply(body, content, stop_reason="tool_use")

    async def count_tokens(self, request: Request) -> Response:
        """``POST /v1/messages/count_tokens`` → ``{"input_tokens": n}``; a model name the API does not
        know (here: not ``claude-…``) is ``not_found_error`` (404)."""
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            body = None
        self.calls.append({"path": request.url.path, "model": body.get("model") if isinstance(body, dict) else None,
                           "body": body, "mode": "count_tokens"})
        if denied := self._denied(request):
            return denied
        if not request.headers.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
            return anthropic_error(400, "model: Field required")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return anthropic_error(400, "messages: at least one message is required")
        if not body["model"].startswith("claude-"):
            return anthropic_error(404, f"model: {body['model']}")
        return JSONResponse({"input_tokens": max(1, len(json.dumps(body["messages"])) // 4)},
                            headers={"request-id": f"req_sandbox{next(self._ids):06d}"})

    def _denied(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key")
        if not key:
            auth = request.headers.get("authorization", "")
            key = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if not key:
            return anthropic_error(401, "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            return anthropic_error(401, "invalid x-api-key")
        return None

    def _reply(self, body: dict[str, Any], content: list[dict[str, Any]], *, stop_reason: str
               ) -> Response:
        n = next(self._ids)
        message = {
            "id": f"msg_sandbox{n:06d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": max(1, len(json.dumps(body)) // 4),
                "output_tokens": max(1, len(json.dumps(content)) // 4),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        return JSONResponse(message, headers={"request-id": f"req_sandbox{n:06d}"})


def _invalid_request(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if body.get("stream"):
        return "stream: the sandbox does not stream"
    choice = body.get("tool_choice") or {}
    names = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)]
    if choice.get("type") == "tool" and choice.get("name") not in names:
        return f"tool_choice: Tool '{choice.get('name')}' not found in provided tools"
    return None


def _tool_name(body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name"):
        return str(choice["name"])
    if choice.get("type") == "none":
        return None
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    return str(tools[0]["name"]) if tools else None


def request_text(body: dict[str, Any]) -> str:
    """The text of the request's messages (not the system prompt, whose examples are not evidence)."""
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    if isinstance(block.get("text"), str):
                        parts.append(block["text"])
                    elif block.get("type") == "tool_result":
                        parts.append(json.dumps(block.get("content")))
    return "\n".join(parts)


# ---------------------------------------------------------------------------- the competent model


def cited_ids(text: str, scenario: Scenario) -> dict[str, str]:
    """Per source, the evidence id to cite: the first on a line with the telling words for that
    source (``v2.14.3`` for deploys, ``p99`` for metrics, ``pool`` for logs…), else the first seen."""
    prefer = {
        "deploys": (scenario.culprit_revision, scenario.culprit_identity[:7], "current"),
        "metrics": ("p99", "latency", "error_ratio", "error ratio"),
        "logs": ("pool", "timeout", "503", "error"),
        "traces": (scenario.failing_dependency, "error", "503"),
    }
    best: dict[str, tuple[int, int, str]] = {}
    order = 0
    for line in text.splitlines():
        lowered = line.lower()
        for match in EVIDENCE_ID.finditer(line):
            source = match.group(1)
            words = prefer[source]
            rank = next((i for i, word in enumerate(words) if word.lower() in lowered), len(words))
            candidate = (rank, order, match.group(0))
            order += 1
            if source not in best or candidate < best[source]:
                best[source] = candidate
    return {source: best[source][2] for source in SOURCES if source in best}


def _names(text: str, label: str, identity: str) -> bool:
    """Whether ``text`` names a deploy: by its label (``v2.14.2``) or its identity (a sha, also as a
    7-digit short sha, or a chart version)."""
    return label in text or identity[:7] in text


def scenario_brief(text: str, scenario: Scenario) -> dict[str, Any]:
    """The ``BriefDraft`` a good model writes for ``scenario`` from the evidence ids in ``text``."""
    ids = cited_ids(text, scenario)
    s = scenario
    onset = s.onset.astimezone(UTC).strftime("%H:%M")
    deployed = s.deployed_at.astimezone(UTC).strftime("%H:%M:%S")
    gap = round((s.onset - s.deployed_at).total_seconds() / 60)
    details = {
        "metrics": f"p99 latency 200 ms → 8.2 s and error ratio 0.1% → 12% from {onset} UTC",
        "deploys": f"{s.app} {s.culprit_revision} (history {s.culprit_history_id}) deployed at "
                   f"{deployed} UTC by {s.deployed_by}, {gap} min before the onset",
        "logs": f"'timeout acquiring connection from pool' (pool {s.failing_dependency}, max "
                f"{s.pool_max}) and POST /api/checkout 503 since {onset} UTC",
        "traces": f"erroring POST /api/checkout traces wait ~5 s on {s.failing_dependency} "
                  f"(SELECT orders, error)",
    }
    evidence = [{"id": ident, "source": source, "detail": details[source]}
                for source, ident in ids.items()]
    unknowns = [
        {"metrics": "Metrics (Prometheus) were not available: latency and error rate are unconfirmed.",
         "deploys": "Deploys (ArgoCD) were not available: could not tie the onset to a change.",
         "logs": "Logs (Loki) were not available: the error messages are unconfirmed.",
         "traces": "Traces (Jaeger) were not available: the failing dependency is unconfirmed.",
         }[source]
        for source in SOURCES if source not in ids
    ]
    target = {"service": s.service, "namespace": s.namespace, "app": s.app}
    summary = [
        f"p99 latency 200 ms → 8.2 s and errors 0.1% → 12% at {onset} UTC on {s.service}",
        f"{s.culprit_revision} deployed at {deployed} UTC, {gap} min before the onset",
        f"{s.failing_dependency} pool (max {s.pool_max}) exhausted: requests wait 5 s, then 503",
    ]
    if "deploys" in ids:
        strong = "metrics" in ids or "logs" in ids
        actions: list[dict[str, Any]] = []
        if _names(text, s.previous_revision, s.rollback_revision):
            actions.append({
                "kind": "rollback", "target": target,
                "params": {"to_revision": s.rollback_revision, "history_id": s.previous_history_id},
                "rationale": f"{s.culprit_revision} ({s.culprit_identity[:7]}) is the only change before "
                             f"the onset; {s.previous_revision} ({s.rollback_revision[:7]}, history "
                             f"{s.previous_history_id}) was healthy.",
            })
        actions.append({"kind": "manual", "target": target, "params": {
            "text": f"Check the {s.failing_dependency} connection pool settings of "
                    f"{s.culprit_revision} (pool_max {s.pool_max})"},
            "rationale": "Find out why the new version exhausts its connection pool."})
        return {
            "title": f"{s.service} latency and 503s after {s.culprit_revision} deploy",
            "summary": summary,
            "category": "deploy_regression",
            "root_cause": {
                "statement": f"{s.service} {s.culprit_revision} (history {s.culprit_history_id}) "
                             f"exhausts the {s.failing_dependency} connection pool (max {s.pool_max}): "
                             f"requests wait 5 s for a connection and fail with 503.",
                "service": s.root_cause_service,
                "confidence": "HIGH" if strong else "MEDIUM",
                "confidence_score": 85 if strong else 60,
            },
            "evidence": evidence,
            "actions": actions,
            "affected_services": [s.service, s.failing_dependency],
            "unknowns": unknowns,
            "next_checks": [
                f"Compare pool_max and connection settings between {s.previous_revision} and "
                f"{s.culprit_revision}",
                f"After the rollback, confirm p99 < 500 ms and 5xx < 1% on {s.service}",
            ],
        }
    return {
        "title": f"{s.service} latency and 503s" if ids else f"{s.service}: not enough evidence",
        "summary": [line for line in summary if s.culprit_revision not in line][:3] if ids else [],
        "category": "dependency" if ids else "unknown",
        "root_cause": {
            "statement": (f"{s.service} requests time out waiting for {s.failing_dependency} "
                          f"connections; without deploy data the trigger is unknown.") if ids else
                         f"Not enough evidence to explain the {s.service} symptoms.",
            "service": s.root_cause_service,
            "confidence": "MEDIUM" if ids else "LOW",
            "confidence_score": 55 if ids else 20,
        },
        "evidence": evidence,
        "actions": [],
        "affected_services": [s.service, s.failing_dependency] if ids else [s.service],
        "unknowns": unknowns,
        "next_checks": [f"Check recent deploys of {s.service}",
                        f"Check {s.failing_dependency} connection counts"],
    }
