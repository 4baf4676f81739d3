"""ArgoCD: the application's recent deploys and its current health/sync state.

Deploys kept: every history entry deployed in the 24 h before ``window_end``, plus the entry just
before the oldest of them (the last known good, a rollback target). With none in 24 h, only the
current (newest) entry. Newest first; the status of the app is the last evidence item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from bot.collectors.base import (
    Collected,
    UpstreamHTTPError,
    as_utc,
    body_hint,
    clock,
    cut,
    guarded,
    http_error,
    json_body,
    parsing,
    public_url,
)
from bot.models import Deploy, Evidence, EvidenceSource, InvestigationRequest, SourceName, SourceResult

RECENT = timedelta(hours=24)
DETAIL_CHARS = 300


class ArgoCDCollector:
    """``app_for`` maps a service to its ArgoCD application (default: the same name)."""

    source = SourceName.ARGOCD

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        app_for: Callable[[str], str] | None = None,
        ui_url: str | None = None,
        recent: timedelta = RECENT,
    ) -> None:
        self._client = client
        self._app_for = app_for or (lambda service: service)
        self._ui = public_url(client, ui_url)
        self._recent = recent

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        return await guarded(self.source, self._collect(request))

    async def _collect(self, request: InvestigationRequest) -> Collected:
        app = self._app_for(request.service)
        response = await self._client.get(f"/api/v1/applications/{quote(app, safe='')}")
        if response.is_error:
            raise self._error(response, app=app)
        body = json_body(response, source=self.source)
        link = f"{self._ui}/applications/{quote(app, safe='')}"
        with parsing(self.source):
            status = body["status"]
            history = sorted(
                (_deploy(app, entry) for entry in status.get("history") or [] if entry.get("deployedAt")),
                key=lambda d: (d.deployed_at, d.history_id),
            )
            if history:
                history[-1].current = True
            chosen = select_deploys(history, end=request.window_end, recent=self._recent)
            evidence = [
                Evidence(
                    id=f"deploys-{i}",
                    source=EvidenceSource.DEPLOYS,
                    detail=describe_deploy(deploy, ref=request.window_end),
                    at=deploy.deployed_at,
                    link=link,
                    payload=deploy,
                )
                for i, deploy in enumerate(chosen, start=1)
            ]
            evidence.append(
                Evidence(
                    id=f"deploys-{len(evidence) + 1}",
                    source=EvidenceSource.DEPLOYS,
                    detail=describe_app(app, body),
                    at=_time((status.get("health") or {}).get("lastTransitionTime")),
                    link=link,
                )
            )
        return Collected(evidence=evidence)

    def _error(self, response: httpx.Response, *, app: str) -> UpstreamHTTPError:
        message = None
        try:
            body = response.json()
            if isinstance(body, dict):
                message = body.get("message") or body.get("error")
        except ValueError:
            pass
        code = response.status_code
        if code == 404:
            reason = f"app not found: {message or app}"
        elif code == 403 and message:
            reason = message if message.startswith("permission denied") else f"permission denied: {message}"
        elif message and 400 <= code < 500:
            reason = f"HTTP {code}: {message}"
        else:
            return http_error(response, source=self.source, detail=body_hint(response))
        return UpstreamHTTPError(source=self.source, status_code=code, reason=reason)


def select_deploys(history: list[Deploy], *, end: datetime, recent: timedelta = RECENT) -> list[Deploy]:
    """Newest first: deploys in ``recent`` before ``end`` plus the one before the oldest of them;
    only the current one if none is recent. ``history`` is oldest first."""
    if not history:
        return []
    since = as_utc(end) - recent
    first = next((i for i, d in enumerate(history) if d.deployed_at >= since), None)
    chosen = history[-1:] if first is None else history[max(first - 1, 0):]
    return list(reversed(chosen))


def describe_deploy(deploy: Deploy, *, ref: datetime | None = None) -> str:
    """``checkout deployed v2.14.3 (rev c4d5e6f, history 13) at 03:38:12Z by alice — current``."""
    what = deploy.target_revision or deploy.revision[:7]
    by = {None: "", "automated": " by auto-sync"}.get(deploy.initiated_by, f" by {deploy.initiated_by}")
    role = "current" if deploy.current else "previous"
    text = (
        f"{deploy.app} deployed {what} (rev {deploy.revision[:7]}, history {deploy.history_id}) "
        f"at {clock(deploy.deployed_at, ref=ref)}{by} — {role}"
    )
    return cut(text, DETAIL_CHARS)


def describe_app(app: str, body: dict[str, Any]) -> str:
    """``ArgoCD app checkout: health Degraded (<why>), sync Synced, auto-sync on``."""
    status = body.get("status") or {}
    health = status.get("health") or {}
    why = health.get("message") or next(
        (
            r["health"]["message"]
            for r in status.get("resources") or []
            if (r.get("health") or {}).get("status") not in (None, "Healthy") and r["health"].get("message")
        ),
        None,
    )
    health_text = f"health {health.get('status') or 'Unknown'}" + (f" ({why})" if why else "")
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    automated = ((body.get("spec") or {}).get("syncPolicy") or {}).get("automated") is not None
    text = f"ArgoCD app {app}: {health_text}, sync {sync}, auto-sync {'on' if automated else 'off'}"
    operation = status.get("operationState") or {}
    if operation.get("phase") not in (None, "Succeeded", "Running"):
        text += f", last operation {operation['phase']}"
        if operation.get("message"):
            text += f" ({operation['message']})"
    return cut(text, DETAIL_CHARS)


def _deploy(app: str, entry: dict[str, Any]) -> Deploy:
    source: dict[str, Any] = entry.get("source") or next(iter(entry.get("sources") or []), {})
    revision = entry.get("revision") or next(iter(entry.get("revisions") or []), "")
    initiated = entry.get("initiatedBy") or {}
    by = initiated.get("username") or ("automated" if initiated.get("automated") else None)
    return Deploy(
        app=app,
        history_id=int(entry["id"]),
        revision=str(revision),
        target_revision=source.get("targetRevision"),
        deployed_at=as_utc(datetime.fromisoformat(entry["deployedAt"])),
        initiated_by=by,
    )


def _time(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value else None
