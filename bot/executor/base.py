"""What every executor returns, and how upstream failures become a short reason for the thread.

Executors never raise for an upstream error or a timeout: the result says what happened.
"""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from bot.models import Action


class SentRequest(BaseModel):
    method: str
    path: str  # no host, no credentials
    body: Any = None


class ExecutionResult(BaseModel):
    ok: bool
    dry_run: bool
    kind: str
    service: str
    requests: list[SentRequest] = []
    status: int | None = None
    message: str  # one line for the thread
    error: str | None = None
    elapsed_s: float = 0.0


class Executor(Protocol):
    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionResult: ...


class Recorder:
    """Collects the requests an execution sends (or would send) and times it."""

    def __init__(self, action: Action, *, dry_run: bool) -> None:
        self.action = action
        self.dry_run = dry_run
        self.requests: list[SentRequest] = []
        self._started = time.perf_counter()

    def sent(self, method: str, path: str, body: Any = None) -> None:
        self.requests.append(SentRequest(method=method, path=path, body=body))

    def result(self, *, ok: bool, message: str, status: int | None = None, error: str | None = None) -> ExecutionResult:
        return ExecutionResult(ok=ok, dry_run=self.dry_run, kind=self.action.kind.value,
                               service=self.action.target.service, requests=self.requests, status=status,
                               message=message, error=error, elapsed_s=round(time.perf_counter() - self._started, 3))


def describe_failure(upstream: str, exc: Exception) -> tuple[int | None, str]:
    """``ArgoCD 403 permission denied: …`` / ``Kubernetes timeout after 10 s`` — never a secret."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        detail = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                detail = str(body.get("message") or body.get("error") or "")
        except (json.JSONDecodeError, ValueError):
            detail = response.text[:200] if "html" not in response.headers.get("content-type", "") else ""
        reason = f"{upstream} {response.status_code}" + (f": {detail[:200]}" if detail else "")
        return response.status_code, reason
    if isinstance(exc, httpx.TimeoutException):
        return None, f"{upstream} timeout"
    if isinstance(exc, httpx.ConnectError):
        return None, f"{upstream} unreachable"
    return None, f"{upstream} error: {type(exc).__name__}"
