"""Collectors: one thin async client per upstream, run in parallel under budgets (``gather.py``).

    async with build_collectors(settings) as collector_set:
        results = await gather_sources(collector_set.collectors, request,
                                       source_budget=4.0, total_budget=5.0)
"""

from bot.collectors.argocd import ArgoCDCollector
from bot.collectors.base import Collector, MalformedResponseError, SourceError, UpstreamHTTPError
from bot.collectors.factory import CollectorSet, build_collectors
from bot.collectors.gather import OnResult, gather_sources
from bot.collectors.jaeger import JaegerCollector
from bot.collectors.loki import LokiCollector
from bot.collectors.prometheus import PrometheusCollector

__all__ = [
    "ArgoCDCollector",
    "Collector",
    "CollectorSet",
    "JaegerCollector",
    "LokiCollector",
    "MalformedResponseError",
    "OnResult",
    "PrometheusCollector",
    "SourceError",
    "UpstreamHTTPError",
    "build_collectors",
    "gather_sources",
]
