"""ArgoCD: rollback to a history id, sync to a revision, restart through the Deployment resource
action. ArgoCD refuses a rollback while automated sync is on: the executor says so, or (when
allowed) turns auto-sync off first and records that it did."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot.executor.base import ExecutionResult, Recorder, describe_failure
from bot.models import Action, ActionKind

UPSTREAM = "ArgoCD"


class ArgoCDExecutor:
    def __init__(self, client: httpx.AsyncClient, *, suspend_auto_sync: bool = False) -> None:
        self._client = client
        self._suspend_auto_sync = suspend_auto_sync

    async def execute(self, action: Action, *, dry_run: bool, history_id: int | None = None) -> ExecutionResult:
        record = Recorder(action, dry_run=dry_run)
        app = action.target.app or action.target.service
        try:
            match action.kind:
                case ActionKind.ROLLBACK:
                    return await self._rollback(action, app=app, record=record, history_id=history_id)
                case ActionKind.SYNC:
                    return await self._sync(action, app=app, record=record)
                case ActionKind.RESTART:
                    return await self._restart(action, app=app, record=record)
        except (httpx.HTTPError, ValueError) as exc:
            status, reason = describe_failure(UPSTREAM, exc)
            return record.result(ok=False, status=status, error=reason, message=f"{action.kind.value} failed: {reason}")
        return record.result(ok=False, error="unsupported", message=f"ArgoCD cannot {action.kind.value}")

    async def _rollback(self, action: Action, *, app: str, record: Recorder, history_id: int | None) -> ExecutionResult:
        application = await self._get(f"/api/v1/applications/{app}")
        wanted = str(action.params["to_revision"])
        entry = _history_entry(application, wanted=wanted, history_id=history_id or action.params.get("history_id"))
        if entry is None:
            return record.result(ok=False, error="not in history",
                                 message=f"{wanted} is not in the ArgoCD history of {app}: nothing sent")
        label = (entry.get("source") or {}).get("targetRevision") or entry["revision"][:7]
        notes = []
        automated = ((application.get("spec") or {}).get("syncPolicy") or {}).get("automated")
        if automated and not record.dry_run:
            if not self._suspend_auto_sync:
                return record.result(ok=False, error="auto-sync on", message=(
                    f"ArgoCD refuses to roll back {app} while auto-sync is on: disable it "
                    "(or revert the change in git), then approve again"))
            patch = {"name": app, "patchType": "merge",
                     "patch": json.dumps({"spec": {"syncPolicy": {"automated": None}}})}
            await self._send("PATCH", f"/api/v1/applications/{app}", patch, record)
            notes.append("auto-sync turned off first")
        body = {"name": app, "id": entry["id"], "dryRun": record.dry_run, "prune": False}
        response = await self._send("POST", f"/api/v1/applications/{app}/rollback", body, record)
        what = f"roll back {app} to {label} (history {entry['id']})"
        prefix = "dry run: ArgoCD accepted" if record.dry_run else "ArgoCD started"
        suffix = f"; {', '.join(notes)}" if notes else ""
        return record.result(ok=True, status=response.status_code, message=f"{prefix} {what}{suffix}")

    async def _sync(self, action: Action, *, app: str, record: Recorder) -> ExecutionResult:
        revision = str(action.params["revision"])
        body = {"name": app, "revision": revision, "dryRun": record.dry_run, "prune": False}
        response = await self._send("POST", f"/api/v1/applications/{app}/sync", body, record)
        prefix = "dry run: ArgoCD accepted" if record.dry_run else "ArgoCD started"
        return record.result(ok=True, status=response.status_code, message=f"{prefix} sync of {app} to {revision}")

    async def _restart(self, action: Action, *, app: str, record: Recorder) -> ExecutionResult:
        namespace = action.target.namespace or ""
        query = {"namespace": namespace, "resourceName": action.target.service, "group": "apps",
                 "kind": "Deployment", "version": "v1"}
        path = f"/api/v1/applications/{app}/resource/actions"
        if record.dry_run:  # ArgoCD has no dry run for resource actions: send nothing
            record.sent("POST", f"{path}?{httpx.QueryParams(query)}", {"action": "restart"})
            return record.result(ok=True, message=f"dry run: would restart Deployment {namespace}/{action.target.service} via ArgoCD")
        response = await self._client.post(path, params=query, json={"action": "restart"})
        record.sent("POST", f"{path}?{httpx.QueryParams(query)}", {"action": "restart"})
        response.raise_for_status()
        return record.result(ok=True, status=response.status_code,
                             message=f"ArgoCD restarted Deployment {namespace}/{action.target.service}")

    async def _get(self, path: str) -> dict[str, Any]:
        response = await self._client.get(path)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("malformed body")
        return body

    async def _send(self, method: str, path: str, body: dict[str, Any], record: Recorder) -> httpx.Response:
        record.sent(method, path, body)
        response = await self._client.request(method, path, json=body)
        response.raise_for_status()
        return response


def _history_entry(application: dict[str, Any], *, wanted: str, history_id: Any) -> dict[str, Any] | None:
    """The history entry whose target revision or sha is ``wanted`` (and id ``history_id`` if given)."""
    for entry in (application.get("status") or {}).get("history") or []:
        target = (entry.get("source") or {}).get("targetRevision")
        sha = str(entry.get("revision", ""))
        matches = wanted == target or wanted == sha or (len(wanted) >= 7 and sha.startswith(wanted))
        if matches and (history_id is None or entry.get("id") == history_id):
            return entry
    return None
