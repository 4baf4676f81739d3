"""``GET /metrics``: Prometheus exposition of what Sitrep has done (design.md, "HTTP").

Alerts received / deduplicated / grouped, dead letters, jobs per kind and state, collector calls
and time per source and status, briefs per analysis path, model calls, tokens, latency and cost
per model, decisions and executions per outcome. Read from the database at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator

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
        alerts = CounterMetricFamily("sitrep_alerts", "Alerts received, by what became of them", labels=["outcome"])
        for outcome, n in sorted(stats.alerts.items()):
            alerts.add_metric([outcome], n)
        yield alerts
        dead = CounterMetricFamily("sitrep_dead_letters", "Inputs that could not be read, kept", labels=["route"])
        for route, n in sorted(stats.dead_letters.items()):
            dead.add_metric([route], n)
        yield dead
        jobs = GaugeMetricFamily("sitrep_jobs", "Jobs in the durable queue by kind and state", labels=["kind", "state"])
        for (kind, state), n in sorted(stats.jobs.items()):
            jobs.add_metric([kind, state], n)
        yield jobs
        calls = CounterMetricFamily("sitrep_collector_calls", "Source collections by status",
                                    labels=["source", "status"])
        for (source, status), n in sorted(stats.sources.items()):
            calls.add_metric([source, status], n)
        yield calls
        seconds = CounterMetricFamily("sitrep_collector_seconds", "Time spent collecting, per source",
                                      labels=["source"])
        for source, total in sorted(stats.source_seconds.items()):
            seconds.add_metric([source], total)
        yield seconds
        briefs = CounterMetricFamily("sitrep_briefs", "Briefs by analysis path", labels=["status"])
        for status, n in sorted(stats.briefs.items()):
            briefs.add_metric([status], n)
        yield briefs
        llm_calls = CounterMetricFamily("sitrep_llm_briefs", "Briefs written by each model", labels=["model"])
        tokens = CounterMetricFamily("sitrep_llm_tokens", "Model tokens", labels=["model", "direction"])
        cost = CounterMetricFamily("sitrep_llm_cost_usd", "Model spend in US dollars", labels=["model"])
        latency = CounterMetricFamily("sitrep_llm_latency_seconds", "Time waiting for models", labels=["model"])
        for model, usage in sorted(stats.models.items()):
            llm_calls.add_metric([model], usage.calls)
            tokens.add_metric([model, "input"], usage.input_tokens)
            tokens.add_metric([model, "output"], usage.output_tokens)
            cost.add_metric([model], usage.cost_usd)
            latency.add_metric([model], usage.latency_ms / 1000)
        yield from (llm_calls, tokens, cost, latency)
        decisions = CounterMetricFamily("sitrep_decisions", "Policy decisions on proposed actions", labels=["outcome"])
        for outcome, n in sorted(stats.decisions.items()):
            decisions.add_metric([outcome], n)
        yield decisions
        executions = CounterMetricFamily("sitrep_executions", "Executions by outcome", labels=["outcome"])
        for outcome, n in sorted(stats.executions.items()):
            executions.add_metric([outcome], n)
        yield executions


def exposition(engine: Engine) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine))
    return generate_latest(registry)
