"""Run every configured collector in parallel, each under its own budget and all under a total one.

``gather_sources`` always returns one ``SourceResult`` per ``SourceName``, in enum order:

    not configured (None)         → SKIPPED, at once
    slower than ``source_budget`` → TIMEOUT (elapsed = the budget)
    still running at ``total_budget`` → TIMEOUT
    raised anyway (a bug)         → ERROR with the exception's class name, logged
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog

from bot.collectors.base import Collector
from bot.collectors.factory import CollectorSet, build_collectors
from bot.collectors.names import DEFAULT_NAMES, NameRule
from bot.models import InvestigationRequest, SourceName, SourceResult, SourceStatus

__all__ = ["CollectorSet", "OnResult", "build_collectors", "gather_sources"]

log = structlog.get_logger(__name__)

OnResult = Callable[[SourceResult], Awaitable[None]]
#: how long cancelled collectors get to unwind after the total budget
CANCEL_GRACE_S = 0.2


async def gather_sources(
    collectors: Mapping[SourceName, Collector | None],
    request: InvestigationRequest,
    *,
    source_budget: float,
    total_budget: float,
    on_result: OnResult | None = None,
    names: NameRule = DEFAULT_NAMES,
) -> list[SourceResult]:
    """Collect from every source concurrently; ``on_result`` is awaited as each one finishes
    (its failures are logged, never raised). A service or namespace ``names`` refuses is queried
    nowhere: every configured source says why (``bot.collectors.names``)."""
    started = time.perf_counter()
    results: dict[SourceName, SourceResult] = {}
    refused = names.check(request)
    if refused is not None:
        log.warning("query_refused", reason=refused)

    async def run(source: SourceName) -> None:
        collector = collectors.get(source)
        if collector is None:
            result = SourceResult(source=source, status=SourceStatus.SKIPPED)
        elif refused is not None:
            result = SourceResult(source=source, status=SourceStatus.ERROR, error=refused)
        else:
            result = await _run_one(source, collector, request, budget=source_budget)
        results[source] = result
        if on_result is not None:
            try:
                await on_result(result)
            except Exception:
                log.exception("on_result_failed", source=source.value)

    tasks = [asyncio.create_task(run(source), name=f"collect-{source.value}") for source in SourceName]
    try:
        await asyncio.wait(tasks, timeout=total_budget)
    finally:
        pending = {task for task in tasks if not task.done()}
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_GRACE_S)
    elapsed = time.perf_counter() - started
    for source in SourceName:
        if source not in results:
            log.warning("source_over_total_budget", source=source.value, budget_s=total_budget)
    return [
        results.get(source)
        or SourceResult(source=source, status=SourceStatus.TIMEOUT, elapsed_s=elapsed,
                        error=f"no answer within the {total_budget:g} s collection budget")
        for source in SourceName
    ]


async def _run_one(
    source: SourceName, collector: Collector, request: InvestigationRequest, *, budget: float
) -> SourceResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(budget) as deadline:
            result = await collector.collect(request)
    except TimeoutError:
        expired = deadline.expired()
        return SourceResult(
            source=source,
            status=SourceStatus.TIMEOUT,
            elapsed_s=budget if expired else time.perf_counter() - started,
            error=f"no answer within {budget:g} s" if expired else "timeout",
        )
    except Exception as exc:
        log.exception("collector_failed", source=source.value, error_type=type(exc).__name__)
        return SourceResult(source=source, status=SourceStatus.ERROR, error=type(exc).__name__,
                            elapsed_s=time.perf_counter() - started)
    if not isinstance(result, SourceResult):
        log.error("collector_bad_result", source=source.value, got=type(result).__name__)
        return SourceResult(source=source, status=SourceStatus.ERROR, error="invalid result",
                            elapsed_s=time.perf_counter() - started)
    return result.model_copy(update={"source": source, "elapsed_s": time.perf_counter() - started})
