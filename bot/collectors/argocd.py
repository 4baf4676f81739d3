"""ArgoCD: the application's recent deploys, what the newest one changed, and the app's health/sync state.

    GET /api/v1/applications/{app}                                  history, sync, health, live images
    GET /api/v1/applications/{app}/revisions/{sha}/metadata         author, date, tags, message (git shas only)
    GET /api/v1/applications/{app}/manifests?revision=…             rendered manifests → the semantic diff

Deploys kept: every history entry deployed in the 24 h before ``window_end``, plus the entry just
before the oldest of them (the last known good, a rollback target). With none in 24 h, only the
current (newest) entry. Newest first, then what the current deploy changed against the one before
it, then the status of the app. Revision metadata and manifests are read for the current deploy and
the one before it (cached per revision) within ``detail_timeout``: when they cannot be read
(403, timeout, too large) the deploys are still reported and the evidence says what is missing.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
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
    describe_error,
    guarded,
    http_error,
    json_body,
    parsing,
    public_url,
)
from bot.deploy_history import is_sha, label_history, parse_history
from bot.manifests import ManifestError, describe_changes, diff_states, manifest_state
from bot.models import Deploy, Evidence, EvidenceSource, InvestigationRequest, SourceName, SourceResult

RECENT = timedelta(hours=24)
DETAIL_CHARS = 300
CHANGE_CHARS = 600
#: time for metadata and manifests, within the source's own budget
DETAIL_TIMEOUT = 2.5
#: a manifests body larger than this is not diffed ("too large")
MAX_MANIFEST_BYTES = 2_000_000
_CACHE_SIZE = 256


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
        detail_timeout: float = DETAIL_TIMEOUT,
    ) -> None:
        self._client = client
        self._app_for = app_for or (lambda service: service)
        self._ui = public_url(client, ui_url)
        self._recent = recent
        self._detail_timeout = detail_timeout
        #: (app, revisions) → metadata dict / manifest state; revisions never change their content
        self._metadata: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._states: OrderedDict[tuple[str, tuple[str, ...]], dict[str, str]] = OrderedDict()

    async def collect(self, request: InvestigationRequest) -> SourceResult:
        return await guarded(self.source, self._collect(request))

    async def history(self, service: str) -> list[Deploy]:
        """The whole history of ``service``'s app, oldest first, without metadata or manifests (the
        policy's check right before an action runs). Raises on any failure."""
        app = self._app_for(service)
        body = await self._application(app)
        with parsing(self.source):
            return parse_history(app, body)

    async def _application(self, app: str) -> dict[str, Any]:
        response = await self._client.get(f"/api/v1/applications/{quote(app, safe='')}")
        if response.is_error:
            raise self._error(response, app=app)
        body = json_body(response, source=self.source)
        if not isinstance(body, dict):
            raise UpstreamHTTPError(source=self.source, status_code=response.status_code,
                                    reason="application body is not an object")
        return body

    async def _collect(self, request: InvestigationRequest) -> Collected:
        app = self._app_for(request.service)
        body = await self._application(app)
        link = f"{self._ui}/applications/{quote(app, safe='')}"
        with parsing(self.source):
            status = body["status"]
            history = parse_history(app, body)
            for deploy in history:
                deploy.service = request.service
            chosen = select_deploys(history, end=request.window_end, recent=self._recent)
        note = await self._enrich(app, body, history) if history else None
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
        current = history[-1] if history else None
        if current is not None and len(history) > 1:
            evidence.append(Evidence(
                id=f"deploys-{len(evidence) + 1}", source=EvidenceSource.DEPLOYS,
                detail=describe_change(current, history[-2]), at=current.deployed_at, link=link,
            ))
        evidence.append(
            Evidence(
                id=f"deploys-{len(evidence) + 1}",
                source=EvidenceSource.DEPLOYS,
                detail=describe_app(app, body),
                at=_time((status.get("health") or {}).get("lastTransitionTime")),
                link=link,
            )
        )
        return Collected(evidence=evidence, note=note)

    # ------------------------------------------------------------------ metadata and manifests

    async def _enrich(self, app: str, body: dict[str, Any], history: list[Deploy]) -> str | None:
        """Metadata and manifests of the current deploy and the one before it, within the detail
        budget; sets ``images``, ``git_tags``, ``author``, ``message``, ``changes``, relabels.
        Returns a note when the change could not be read."""
        current = history[-1]
        previous = history[-2] if len(history) > 1 else None
        pair = [d for d in (previous, current) if d is not None]
        jobs = {("meta", d.history_id): self._revision_metadata(app, d) for d in pair}
        jobs |= {("manifests", d.history_id): self._manifest_state(app, d) for d in pair}
        tasks = {key: asyncio.ensure_future(job) for key, job in jobs.items()}
        done, pending = await asyncio.wait(tasks.values(), timeout=self._detail_timeout)
        for task in pending:
            task.cancel()
        states: dict[int, dict[str, str]] = {}
        failures: dict[int, str] = {}
        for (what, history_id), task in tasks.items():
            deploy = next(d for d in pair if d.history_id == history_id)
            if task not in done:
                if what == "manifests":
                    failures[history_id] = "timeout"
                continue
            error = task.exception()
            if what == "meta":
                if error is None and task.result():
                    _apply_metadata(deploy, task.result())
                continue
            if error is not None:
                failures[history_id] = describe_error(error) if not isinstance(error, ManifestError) else str(error)
            else:
                states[history_id] = task.result()
                deploy.images = sorted(v for k, v in task.result().items() if k.startswith("image "))
        note = None
        if previous is not None:
            if current.history_id in states and previous.history_id in states:
                current.changes = diff_states(states[previous.history_id], states[current.history_id])
            else:
                why = failures.get(current.history_id) or failures.get(previous.history_id) or "not read"
                current.changes_note = f"manifests: {why}"
                note = f"the change of {current.short} is unknown (manifests: {why})"
        label_history(history)
        return note

    async def _revision_metadata(self, app: str, deploy: Deploy) -> dict[str, Any] | None:
        sha = next((r for r in deploy.all_revisions if is_sha(r)), None)
        if sha is None:  # a Helm chart version: the endpoint takes git shas only
            return None
        key = (app, sha)
        if key in self._metadata:
            return self._metadata[key]
        params: dict[str, Any] = {}
        if deploy.revisions:
            params = {"sourceIndex": deploy.revisions.index(sha), "versionId": deploy.history_id}
        response = await self._client.get(
            f"/api/v1/applications/{quote(app, safe='')}/revisions/{quote(sha, safe='')}/metadata", params=params)
        if response.is_error:
            return None
        data = json_body(response, source=self.source)
        if not isinstance(data, dict):
            return None
        _remember(self._metadata, key, data)
        return data

    async def _manifest_state(self, app: str, deploy: Deploy) -> dict[str, str]:
        key = (app, tuple(deploy.all_revisions))
        if key in self._states:
            return self._states[key]
        if deploy.revisions:
            params: Any = [("revisions", r) for r in deploy.revisions] + [
                ("sourcePositions", str(i)) for i in range(1, len(deploy.revisions) + 1)]
        else:
            params = {"revision": deploy.revision}
        response = await self._client.get(f"/api/v1/applications/{quote(app, safe='')}/manifests", params=params)
        if response.is_error:  # the reason stays short: "HTTP 403 (permission denied)"
            hint = " (permission denied)" if response.status_code == 403 else ""
            raise UpstreamHTTPError(source=self.source, status_code=response.status_code,
                                    reason=f"HTTP {response.status_code}{hint}")
        if len(response.content) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"too large ({len(response.content) // 1000} kB)")
        body = json_body(response, source=self.source)
        manifests = body.get("manifests") if isinstance(body, dict) else None
        if not isinstance(manifests, list):
            raise ManifestError("no manifests in the answer")
        state = manifest_state(manifests)
        _remember(self._states, key, state)
        return state

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
    """``checkout deployed v2.14.3 (c4d5e6f, history 13) at 03:38:12Z by alice — current``."""
    by = {None: "", "automated": " by auto-sync"}.get(deploy.initiated_by, f" by {deploy.initiated_by}")
    role = "current" if deploy.current else "previous"
    tracked = f", tracking {deploy.target_revision}" if deploy.target_revision and not deploy.pinned else ""
    text = (f"{deploy.app} deployed {deploy.ref}{tracked} "
            f"at {clock(deploy.deployed_at, ref=ref)}{by} — {role}")
    if deploy.author:
        text += f"; commit by {deploy.author}"
    if deploy.message:
        text += f": {deploy.message.splitlines()[0]}"
    return cut(text, DETAIL_CHARS)


def describe_change(current: Deploy, previous: Deploy) -> str:
    """``checkout v2.14.3 (history 13) changed against v2.14.2 (history 12): image … ; ConfigMap …``."""
    head = f"{current.app} {current.ref} changed against {previous.ref}"
    if current.changes is None:
        return cut(f"{head}: unknown, the manifests could not be read ({current.changes_note or 'not read'})",
                   CHANGE_CHARS)
    return cut(f"{head}: {describe_changes(current.changes, limit=8)}", CHANGE_CHARS)


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


def _apply_metadata(deploy: Deploy, data: dict[str, Any]) -> None:
    tags = data.get("tags")
    deploy.git_tags = [str(t) for t in tags if t] if isinstance(tags, list) else []
    author = data.get("author")
    if isinstance(author, str) and author.strip():
        deploy.author = author.split("<", 1)[0].strip() or None  # the name; the e-mail stays in ArgoCD
    message = data.get("message")
    if isinstance(message, str) and message.strip():
        deploy.message = cut(message.strip(), 500)


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _time(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value else None
