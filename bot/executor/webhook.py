"""Runbook webhooks: a POST signed with HMAC-SHA256 to a URL from settings (never from the model)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

import httpx
from pydantic import SecretStr

from bot.executor.base import ExecutionResult, Recorder, describe_failure
from bot.models import Action


def sign(secret: str, *, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class RunbookExecutor:
    def __init__(self, client: httpx.AsyncClient, *, runbooks: Mapping[str, str], secret: SecretStr | None) -> None:
        self._client = client
        self._runbooks = dict(runbooks)
        self._secret = secret

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionResult:
        record = Recorder(action, dry_run=dry_run)
        name = str(action.params["name"])
        url = self._runbooks.get(name)
        if url is None:
            known = ", ".join(sorted(self._runbooks)) or "none configured (SITREP_RUNBOOKS)"
            return record.result(ok=False, error="unknown runbook", message=f"no runbook named {name!r}; known: {known}")
        payload = {"runbook": name, "service": action.target.service, "namespace": action.target.namespace,
                   "dry_run": dry_run}
        record.sent("POST", f"runbook:{name}", payload)
        if dry_run:
            return record.result(ok=True, message=f"dry run: would call runbook {name!r}")
        body = json.dumps(payload, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Sitrep-Timestamp": timestamp}
        if self._secret is not None:
            headers["X-Sitrep-Signature"] = sign(self._secret.get_secret_value(), timestamp=timestamp, body=body)
        try:
            response = await self._client.post(url, content=body, headers=headers)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            status, reason = describe_failure(f"runbook {name}", exc)
            return record.result(ok=False, status=status, error=reason, message=f"runbook failed: {reason}")
        return record.result(ok=True, status=response.status_code, message=f"runbook {name!r} called")
