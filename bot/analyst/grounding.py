"""Turn a model's raw ``submit_brief`` arguments into a ``BriefDraft`` we can trust, or say exactly
why not (the message goes back to the model for its one repair attempt).

Checks, in order: the schema (``BriefDraft``), cited ids were shown to the model, actions target
the root-cause service (one the evidence names as a service) or a service the evidence shows failing
(the alerting one, error spans, error log lines by their stream labels; never a name that only
appears in text), and a rollback goes to a revision of the deploy history other than the current one. Cited evidence gets its ``source`` and ``link`` from what was
collected, never from the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from bot.analyst.signals import all_evidence, payloads, truncate
from bot.deploy_history import check_sync_revision, find_rollback_target, prepared_history, rollback_params
from bot.models import (
    Action,
    ActionKind,
    BriefDraft,
    Deploy,
    RefusedAction,
    InvestigationRequest,
    LogLine,
    MetricSeries,
    SourceResult,
    Trace,
)

#: Labels whose values name a service in logs and metrics.
SERVICE_LABELS = ("service", "app", "service_name", "app_kubernetes_io_name", "job")


class InvalidBriefError(ValueError):
    """A draft failed validation; ``str(exc)`` says exactly what to fix."""


def known_services(request: InvestigationRequest, results: Sequence[SourceResult]) -> set[str]:
    """The request's service plus every service or app name the evidence mentions."""
    evidence = all_evidence(results)
    names = {request.service}
    names |= {deploy.app for _, deploy in payloads(evidence, Deploy)}
    for _, trace in payloads(evidence, Trace):
        names.add(trace.root_service)
        names |= {span.service for span in trace.spans}
    for _, item in [*payloads(evidence, LogLine), *payloads(evidence, MetricSeries)]:
        names |= {item.labels[k] for k in SERVICE_LABELS if item.labels.get(k)}
    return names


#: log levels that say the line's service is failing
ERROR_LEVELS = frozenset({"error", "err", "fatal", "critical", "crit", "panic", "emerg", "alert", "severe"})


def failing_services(request: InvestigationRequest, results: Sequence[SourceResult]) -> set[str]:
    """The services the evidence shows failing: the request's (the alerting one), those with error
    spans (and the callee an erroring client span names), and those whose error-level log lines
    their stream labels attribute to them. A name that only appears in text does not count."""
    evidence = all_evidence(results)
    names = {request.service}
    for _, trace in payloads(evidence, Trace):
        for span in trace.spans:
            if span.error:
                names.add(span.service)
                if span.peer:
                    names.add(span.peer)
    for _, line in payloads(evidence, LogLine):
        if (line.level or "").strip().lower() in ERROR_LEVELS:
            names |= {line.labels[k] for k in SERVICE_LABELS if line.labels.get(k)}
    return names


def _mentioned(name: str, results: Sequence[SourceResult]) -> bool:
    """Whether ``name`` appears as a word in any evidence detail or log line."""
    if not name.strip():
        return False
    pattern = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])")
    for item in all_evidence(results):
        texts = [item.detail]
        if isinstance(item.payload, LogLine):
            texts.append(item.payload.line)
        if any(pattern.search(text) for text in texts):
            return True
    return False


def split_refused_actions(data: dict[str, Any]) -> tuple[dict[str, Any], list[RefusedAction]]:
    """Take actions whose ``kind`` is not one of design.md's out of ``data``, as refused actions."""
    data = {k: v for k, v in data.items() if k != "refused_actions"}  # only Sitrep sets it
    actions = data.get("actions")
    if not isinstance(actions, list):
        return data, []
    known = {kind.value for kind in ActionKind}
    kept, refused = [], []
    for item in actions:
        kind = item.get("kind") if isinstance(item, dict) else None
        if isinstance(kind, str) and kind not in known:
            target = item.get("target") if isinstance(item.get("target"), dict) else {}
            refused.append(RefusedAction(
                kind=truncate(kind, 60), target={k: str(v)[:100] for k, v in target.items()},
                reason=f"{truncate(kind, 60)!r} is not an action Sitrep can take "
                       f"(it knows {', '.join(sorted(known))}).",
            ))
        else:
            kept.append(item)
    return {**data, "actions": kept}, refused


def validate_draft(
    data: dict[str, Any],
    *,
    request: InvestigationRequest,
    results: Sequence[SourceResult],
    evidence_ids: set[str],
    check_rollback_targets: bool = True,
) -> BriefDraft:
    """Raise ``InvalidBriefError`` or ``UngroundedBriefError`` (both ``ValueError``). Actions of a
    kind Sitrep does not know do not sink the brief: they are kept as ``refused_actions``.

    ``check_rollback_targets=False`` (the repair attempt) lets a rollback to a revision outside the
    deploy history through: the policy engine denies it on the brief, visibly, with its reason."""
    data, refused = split_refused_actions(data)
    try:
        draft = BriefDraft.model_validate(data)
    except ValidationError as exc:
        raise InvalidBriefError(_pydantic_message(exc)) from exc
    draft.check_grounded(evidence_ids)
    _check_actions(draft, request=request, results=results, rollback_targets=check_rollback_targets)
    _normalise_refs(draft, results)
    draft.actions = draft.sorted_actions()
    draft.refused_actions = refused
    return draft


def _pydantic_message(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]
    shown = "; ".join(problems[:8])
    more = f"; and {len(problems) - 8} more" if len(problems) > 8 else ""
    return f"schema: {shown}{more}"


def _check_actions(
    draft: BriefDraft, *, request: InvestigationRequest, results: Sequence[SourceResult],
    rollback_targets: bool = True,
) -> None:
    # a target is the root-cause service (when the evidence names it as a service, not just in
    # text) or a service the evidence shows failing: a name in a log line or the request's text is not
    # enough (anyone can write those)
    allowed = failing_services(request, results)
    root = draft.root_cause.service
    if root and root in known_services(request, results):
        allowed.add(root)
    # a manual step (a person does it) may name any service the request or the evidence mentions
    known = known_services(request, results)
    known |= {name for name in draft.affected_services if name not in known and _mentioned(name, results)}
    deploys = [deploy for _, deploy in payloads(all_evidence(results), Deploy)]
    apps = {deploy.app for deploy in deploys}
    for i, action in enumerate(draft.actions):
        where = f"actions.{i} ({action.kind.value})"
        service = action.target.service
        if action.kind is ActionKind.MANUAL and service not in known:
            raise InvalidBriefError(
                f"{where}: target service {truncate(service, 60)!r} is not in the request or the "
                f"evidence; known services: {', '.join(sorted(known))}"
            )
        if action.kind is not ActionKind.MANUAL and service not in allowed:
            raise InvalidBriefError(
                f"{where}: target service {truncate(service, 60)!r} is neither the root-cause service nor a "
                f"service the evidence shows failing; allowed targets: {', '.join(sorted(allowed))}"
            )
        if action.kind not in (ActionKind.ROLLBACK, ActionKind.SYNC):
            continue
        if not deploys:
            if rollback_targets:
                raise InvalidBriefError(f"{where}: a {action.kind.value} needs deploy evidence, and none was collected")
            continue
        app = action.target.app
        if app is not None and app not in apps:
            if rollback_targets:
                raise InvalidBriefError(
                    f"{where}: target app {truncate(app, 60)!r} has no deploy history; apps: {', '.join(sorted(apps))}"
                )
            continue
        app = app or deploys[0].app
        history = [d for d in deploys if d.app == app]
        if action.kind is ActionKind.ROLLBACK:
            _ground_rollback(where, action, history, app=app, strict=rollback_targets)
        else:
            refused = check_sync_revision(history, wanted=str(action.params["revision"]), app=app)
            if refused is not None and rollback_targets:
                raise InvalidBriefError(f"{where}: {refused}")


def _ground_rollback(where: str, action: Action, history: list[Deploy], *, app: str, strict: bool) -> None:
    """Resolve the rollback's target in the collected history and make its params that deploy's
    identity (sha or chart version + history id) and label; ``strict``: an unresolvable target is an
    error the model is asked to fix (otherwise the policy denies it, visibly)."""
    params = action.params
    target = find_rollback_target(history, wanted=str(params["to_revision"]), history_id=params.get("history_id"),
                                  app=app)
    if isinstance(target, Deploy):
        action.params = rollback_params(target)
        return
    if strict:
        seen = ", ".join(
            f"history_id {d.history_id} = {d.name} revision {d.revision}" + (" (current)" if d.current else "")
            for d in prepared_history(history, app)
        )
        raise InvalidBriefError(f"{where}: {truncate(target, 300)} Deploy history: {seen}")


def _normalise_refs(draft: BriefDraft, results: Sequence[SourceResult]) -> None:
    collected = {item.id: item for item in all_evidence(results)}
    for ref in draft.evidence:
        item = collected.get(ref.id)
        if item is not None:
            ref.source = item.source
            ref.link = item.link
        ref.detail = truncate(ref.detail, 300)
