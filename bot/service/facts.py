"""Fresh facts about an action's target for the policy check right before execution: the ArgoCD
history now (a newer deploy may have landed since the brief) and the current replica count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

import structlog

from bot.collectors.base import Collector
from bot.models import Action, Deploy, InvestigationRequest, SourceName

log = structlog.get_logger(__name__)

ReplicaLookup = Callable[[str, str], Awaitable[int | None]]  # (namespace, deployment) → replicas


class LiveTargetFacts:
    def __init__(self, *, collectors: Mapping[SourceName, Collector | None],
                 replicas: ReplicaLookup | None = None) -> None:
        self._argocd = collectors.get(SourceName.ARGOCD)
        self._replicas = replicas

    async def history(self, action: Action) -> list[Deploy]:
        if self._argocd is None:
            return []
        history = getattr(self._argocd, "history", None)
        if history is not None:  # the whole history, without metadata or manifests
            try:
                return await history(action.target.service)
            except Exception as exc:  # the policy then has no history and denies, saying so
                log.warning("argocd_history_unavailable", service=action.target.service, error=repr(exc)[:200])
                return []
        request = InvestigationRequest.for_last(action.target.service, since=timedelta(hours=1),
                                                namespace=action.target.namespace)
        result = await self._argocd.collect(request)
        deploys = [e.payload for e in result.evidence if isinstance(e.payload, Deploy)]
        return sorted(deploys, key=lambda d: d.history_id)

    async def replicas(self, action: Action) -> int | None:
        if self._replicas is None or action.target.namespace is None:
            return None
        return await self._replicas(action.target.namespace, action.target.service)
