"""``GET /metrics``: Prometheus exposition of what Sitrep has done (design.md, "HTTP").

Alerts received / deduplicated / grouped, dead letters, jobs per kind and state, collector calls
and time per source and status, briefs per analysis path, model calls, tokens, latency and cost
per model, decisions and executions per outcome.

The counters are running totals kept as events happen, in the shared database (``bot.store.stats``
says where each is added to and why not in this process); the jobs gauge is an indexed count of
queued and running jobs, cached a few seconds. A scrape reads neither the alerts, briefs, timeline,
proposals nor executions tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from bot.store.stats import read_stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        stats = read_stats(self._engine)
        yield _family(CounterMetricFamily, "sitrep_alerts", "Alerts received, by what became of them",
                      ["outcome"], stats.alerts)
        yield _family(CounterMetricFamily, "sitrep_dead_letters", "Inputs that could not be read, kept",
                      ["route"], stats.dead_letters)
        yield _family(GaugeMetricFamily, "sitrep_jobs", "Jobs in the durable queue by kind and state",
                      ["kind", "state"], stats.jobs)
        yield _family(CounterMetricFamily, "sitrep_collector_calls", "Source collections by status",
                      ["source", "status"], stats.sources)
        yield _family(CounterMetricFamily, "sitrep_collector_seconds", "Time spent collecting, per source",
                      ["source"], stats.source_seconds)
        yield _family(CounterMetricFamily, "sitrep_briefs", "Briefs by analysis path", ["status"], stats.briefs)
        models = sorted(stats.models.items())
        yield _family(CounterMetricFamily, "sitrep_llm_briefs", "Briefs written by each model", ["model"],
                      {m: u.calls for m, u in models})
        yield _family(CounterMetricFamily, "sitrep_llm_tokens", "Model tokens", ["model", "direction"],
                      {(m, d): n for m, u in models for d, n in (("input", u.input_tokens),
                                                                 ("output", u.output_tokens))})
        yield _family(CounterMetricFamily, "sitrep_llm_cost_usd", "Model spend in US dollars", ["model"],
                      {m: u.cost_usd for m, u in models})
        yield _family(CounterMetricFamily, "sitrep_llm_latency_seconds", "Time waiting for models", ["model"],
                      {m: u.latency_s for m, u in models})
        yield _family(CounterMetricFamily, "sitrep_decisions", "Policy decisions on proposed actions",
                      ["outcome"], stats.decisions)
        yield _family(CounterMetricFamily, "sitrep_executions", "Executions by outcome", ["outcome"],
                      stats.executions)


def _family(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, documentation: str,
            labels: list[str], values: Mapping[Any, float]) -> Metric:
    """One metric family; ``values`` keyed by a label value, or a tuple of them, in label order."""
    family = kind(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def exposition(engine: Engine) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return generate_latest(registry)
