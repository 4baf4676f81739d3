"""Runbook webhooks: a signed JSON POST to a URL from settings, chosen by runbook name.

The model only ever names a runbook; the URL comes from ``SITREP_RUNBOOKS`` (name → URL), so an unknown
name is refused and nothing is sent. The request::

    POST <url>
    Content-Type: application/json
    X-Sitrep-Timestamp: 1764042720
    X-Sitrep-Signature: sha256=<hex HMAC-SHA256 of the raw body with SITREP_RUNBOOK_SECRET>

    {"dry_run": false, "incident_id": 42, "namespace": "shop", "runbook": "drain", "service": "checkout",
     "timestamp": 1764042720}

The body carries the timestamp too, so the signature covers it: a receiver checks the signature over
the raw bytes (``verify_signature``) and rejects old timestamps (replays). A dry run sends nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bot.executor.base import ExecutionResult, ExecutorError, RefusedError, Run
from bot.models import Action, ActionKind, RunbookParams

SIGNATURE_HEADER = "X-Sitrep-Signature"
TIMESTAMP_HEADER = "X-Sitrep-Timestamp"


def sign(secret: SecretStr | str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``body`` with ``secret``."""
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: SecretStr | str, *, body: bytes, signature: str, now: float | None = None,
                     max_age_s: float = 300.0) -> bool:
    """What a receiver does: the signature matches the raw body and its timestamp is recent."""
    if not hmac.compare_digest(sign(secret, body), signature):
        return False
    try:
        sent_at = float(json.loads(body)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return False
    return abs((time.time() if now is None else now) - sent_at) <= max_age_s


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class RunbookExecutor:
    """POSTs signed runbook requests; ``runbooks`` maps names to URLs (from settings, never the model)."""

    def __init__(self, client: httpx.AsyncClient, *, runbooks: Mapping[str, str], secret: SecretStr,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._runbooks = dict(runbooks)
        self._secret = secret
        self._clock = clock

    @property
    def names(self) -> list[str]:
        return sorted(self._runbooks)

    async def execute(self, action: Action, *, dry_run: bool, incident_id: int | str | None = None
                      ) -> ExecutionResult:
        run = Run(action, dry_run=dry_run, upstream="runbook", client=self._client)
        name = "?"
        try:
            if action.kind is not ActionKind.RUNBOOK:
                raise RefusedError(f"the runbook webhook does not run {action.kind.value} actions")
            params = RunbookParams.model_validate(action.params)
            name = params.name
            url = self._runbooks.get(name)
            if url is None:
                known = ", ".join(self.names) or "none"
                raise RefusedError(f"no runbook named {name[:60]!r} is configured (known: {known}): nothing sent")
            if not _valid_url(url):
                raise RefusedError(f"runbook {name} has an invalid URL in SITREP_RUNBOOKS: nothing sent")
            run.upstream = f"runbook {name}"
            timestamp = int(self._clock())
            payload: dict[str, object] = {"runbook": name, "service": action.target.service,
                                          "namespace": action.target.namespace, "dry_run": dry_run,
                                          "timestamp": timestamp}
            if incident_id is not None:
                payload["incident_id"] = incident_id
            if params.args:
                payload["args"] = dict(params.args)
            if dry_run:
                run.describe("POST", url, body=payload)
                return run.result(ok=True, message=f"dry run: would call runbook {name} for "
                                                    f"{action.target.service}; nothing sent")
            content = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            headers = {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(self._secret, content)}
            await run.call("POST", url, body=payload, content=content, headers=headers, main=True)
        except ExecutorError as exc:
            return run.failed(exc, what=f"runbook {name}")
        return run.result(ok=True, message=f"runbook {name} called for {action.target.service}")
