"""ArgoCD: rollback to a history id, sync to a revision, restart through the Deployment resource action.

    rollback  GET  /api/v1/applications/{app}                  resolve to_revision + history id (bot.deploy_history), auto-sync?
             [PATCH /api/v1/applications/{app}                  merge patch: spec.syncPolicy.automated = null]
              POST /api/v1/applications/{app}/rollback         {name, id, dryRun, prune: false}
    sync     [GET  /api/v1/applications/{app}                  the revision must be in the history or the head]
              POST /api/v1/applications/{app}/sync             {name, revision, dryRun, prune: false}
    restart   POST /api/v1/applications/{app}/resource/actions?namespace=…&resourceName=…&group=apps
                   &kind=Deployment&version=v1                 "restart"

ArgoCD refuses a rollback while automated sync is on. By default the executor says so and sends nothing;
built with ``suspend_auto_sync=True`` it turns automated sync off first and records that (and what the
policy was) in the result. Rollback and sync use ArgoCD's own dry run; a resource action has none, so a
dry-run restart sends nothing and describes the request instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from bot.executor.base import ExecutionResult, ExecutorError, RefusedError, Run, UpstreamError, check_name
from bot.deploy_history import auto_sync_policy, check_sync_revision, find_rollback_target, parse_history
from bot.models import Action, ActionKind, Deploy, RollbackParams, SyncParams

UPSTREAM = "ArgoCD"
APPS = "/api/v1/applications"
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}$")


class ArgoCDExecutor:
    """Runs rollback, sync and restart through ArgoCD's API (``client`` has the base URL and token)."""

    def __init__(self, client: httpx.AsyncClient, *, suspend_auto_sync: bool = False) -> None:
        self._client = client
        self._suspend_auto_sync = suspend_auto_sync

    async def execute(self, action: Action, *, dry_run: bool) -> ExecutionResult:
        run = Run(action, dry_run=dry_run, upstream=UPSTREAM, client=self._client)
        app = action.target.app or action.target.service
        try:
            app = check_name(app, what="ArgoCD application")
            match action.kind:
                case ActionKind.ROLLBACK:
                    return await self._rollback(run, app=app, params=RollbackParams.model_validate(action.params))
                case ActionKind.SYNC:
                    return await self._sync(run, app=app, params=SyncParams.model_validate(action.params))
                case ActionKind.RESTART:
                    return await self._restart(run, app=app)
                case _:
                    raise RefusedError(f"ArgoCD does not run {action.kind.value} actions")
        except ExecutorError as exc:
            return run.failed(exc, what=f"{action.kind.value} of {app}")

    # ------------------------------------------------------------------ rollback

    async def _rollback(self, run: Run, *, app: str, params: RollbackParams) -> ExecutionResult:
        application = await run.get_json(f"{APPS}/{app}")
        entry = resolve_history(application, app=app, to_revision=params.to_revision,
                                history_id=params.history_id)
        what = f"{app} to {entry.ref}"
        automated = auto_sync_policy(application)
        if automated is not None:
            if run.dry_run:
                run.notes.append("auto-sync is on: the real rollback will turn it off first" if self._suspend_auto_sync
                                 else "auto-sync is on: the real rollback will be refused until it is disabled")
            elif not self._suspend_auto_sync:
                raise RefusedError(f"ArgoCD refuses to roll back {app} while auto-sync is on: disable it first "
                                   "(nothing sent)")
            else:
                await self._suspend(run, app=app, was=automated)
        body = {"name": app, "id": entry.history_id, "dryRun": run.dry_run, "prune": False}
        await run.call("POST", f"{APPS}/{app}/rollback", body=body, main=True)
        message = (f"dry run: ArgoCD accepted rolling back {what}; nothing changed" if run.dry_run
                   else f"ArgoCD is rolling back {what}")
        return run.result(ok=True, message="; ".join([message, *run.notes]))

    async def _suspend(self, run: Run, *, app: str, was: dict[str, Any]) -> None:
        """Turn automated sync off (ArgoCD's ``ApplicationPatchRequest``, a JSON merge patch)."""
        patch = {"spec": {"syncPolicy": {"automated": None}}}
        body = {"name": app, "patchType": "merge", "patch": json.dumps(patch)}
        try:
            await run.call("PATCH", f"{APPS}/{app}", body=body)
        except UpstreamError as exc:
            raise UpstreamError(f"could not turn auto-sync off: {exc.reason}", status=exc.status) from exc
        run.auto_sync_suspended = True
        settings = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(was.items())) or "defaults"
        run.notes.append(f"auto-sync turned off first (it was {settings}): turn it back on once git has the fix")

    # ------------------------------------------------------------------ sync

    async def _sync(self, run: Run, *, app: str, params: SyncParams) -> ExecutionResult:
        revision = params.revision
        if not _REVISION.match(revision):
            raise RefusedError(f"{revision[:60]!r} is not a git revision: nothing sent")
        application = await run.get_json(f"{APPS}/{app}")
        refused = check_sync_revision(parse_history(app, application), wanted=revision, app=app)
        if refused is not None:
            raise RefusedError(f"{refused} (nothing sent)")
        body = {"name": app, "revision": revision, "dryRun": run.dry_run, "prune": False}
        await run.call("POST", f"{APPS}/{app}/sync", body=body, main=True)
        return run.result(ok=True, message=(
            f"dry run: ArgoCD accepted syncing {app} to {revision}; nothing changed" if run.dry_run
            else f"ArgoCD is syncing {app} to {revision}"))

    # ------------------------------------------------------------------ restart

    async def _restart(self, run: Run, *, app: str) -> ExecutionResult:
        target = run.action.target
        namespace = check_name(target.namespace, what="namespace")
        name = check_name(target.service, what="Deployment")
        params = {"namespace": namespace, "resourceName": name, "group": "apps", "kind": "Deployment",
                  "version": "v1"}
        path = f"{APPS}/{app}/resource/actions"
        if run.dry_run:  # ArgoCD has no dry run for resource actions: describe, send nothing
            run.describe("POST", path, params=params, body="restart")
            return run.result(ok=True, message=(
                f"dry run: would restart Deployment {namespace}/{name} through ArgoCD app {app} "
                "(resource actions have no dry run: nothing sent)"))
        await run.call("POST", path, params=params, body="restart", main=True)
        return run.result(ok=True, message=f"ArgoCD restarted Deployment {namespace}/{name} (app {app})")


# ---------------------------------------------------------------------- history


def resolve_history(application: dict[str, Any], *, app: str, to_revision: str,
                    history_id: int | None) -> Deploy:
    """The history entry to roll back to, as ``bot.deploy_history`` finds it in the application
    ArgoCD answers with now: refuses a branch or ``HEAD``, a revision or id outside the history, an id
    that is another revision, and what runs now."""
    history = parse_history(app, application)
    target = find_rollback_target(history, wanted=to_revision, history_id=history_id, app=app)
    if isinstance(target, str):
        raise RefusedError(f"{target} (nothing sent)")
    return target
