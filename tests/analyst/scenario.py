"""The checkout incident as collected evidence, built in-test (shaped like the upstream fixtures):

checkout v2.14.3 (ArgoCD history 13) deployed at T-6min; v2.14.2 (history 12) two days before;
p99 0.2 s → 8.2 s and error ratio 0.1 % → 24 % from T-3min; error logs "timeout acquiring
connection from pool orders-db"; erroring traces whose deepest failing span is orders-db.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.analyst.client import LLMReply
from bot.models import (
    Deploy,
    Evidence,
    EvidenceSource,
    InvestigationRequest,
    LogLine,
    MetricSeries,
    SourceName,
    SourceResult,
    SourceStatus,
    Span,
    Trace,
)

T = datetime.now(UTC).replace(microsecond=0)
DEPLOYED_AT = T - timedelta(minutes=6)
ONSET = T - timedelta(minutes=3)
POOL_ERROR = "timeout acquiring connection from pool orders-db"


def request(*, message: str | None = "checkout is slow, customers see 503s") -> InvestigationRequest:
    return InvestigationRequest(
        service="checkout",
        namespace="shop",
        message=message,
        severity="critical",
        window_start=T - timedelta(minutes=30),
        window_end=T,
    )


def logs(status: SourceStatus = SourceStatus.OK) -> SourceResult:
    evidence: list[Evidence] = []

    def add(at: datetime, line: str, level: str) -> None:
        n = len(evidence) + 1
        evidence.append(
            Evidence(
                id=f"logs-{n}",
                source=EvidenceSource.LOGS,
                detail=f"{level} {line}",
                at=at,
                payload=LogLine(at=at, line=line, level=level, labels={"service": "checkout"}),
            )
        )

    add(DEPLOYED_AT + timedelta(seconds=2), "starting checkout version=v2.14.3 pool_max=10", "info")
    for i in range(12):
        add(ONSET + timedelta(seconds=5 * i + 3), POOL_ERROR, "error")
    add(ONSET + timedelta(seconds=20), "POST /api/checkout 503 duration_ms=8213", "error")
    return SourceResult(source=SourceName.LOKI, status=status, elapsed_s=0.4, evidence=evidence)


def _series(name: str, before: float, after: float) -> list[tuple[datetime, float]]:
    points = []
    for minute in range(30, -1, -1):
        at = T - timedelta(minutes=minute)
        points.append((at, after if at >= ONSET else before))
    return points


def metrics() -> SourceResult:
    evidence = [
        Evidence(
            id="metrics-1",
            source=EvidenceSource.METRICS,
            detail="p99_latency for checkout",
            payload=MetricSeries(
                name="p99_latency", query="histogram_quantile(...)", points=_series("p99", 0.2, 8.2),
                labels={"service": "checkout"},
            ),
        ),
        Evidence(
            id="metrics-2",
            source=EvidenceSource.METRICS,
            detail="error_ratio for checkout",
            payload=MetricSeries(
                name="error_ratio", query="sum(...)/sum(...)", points=_series("err", 0.001, 0.24)
            ),
        ),
        Evidence(
            id="metrics-3",
            source=EvidenceSource.METRICS,
            detail="request_rate for checkout",
            payload=MetricSeries(
                name="request_rate", query="sum(rate(...))", points=_series("rate", 40.0, 38.0)
            ),
        ),
    ]
    return SourceResult(source=SourceName.PROMETHEUS, status=SourceStatus.OK, elapsed_s=0.3, evidence=evidence)


def _deploy(n: int, history_id: int, tag: str, sha: str, at: datetime, *, current: bool) -> Evidence:
    return Evidence(
        id=f"deploys-{n}",
        source=EvidenceSource.DEPLOYS,
        detail=f"checkout history {history_id}: {tag} ({sha[:7]}) at {at:%Y-%m-%dT%H:%M:%SZ}",
        at=at,
        link="https://argocd.example.com/applications/checkout",
        payload=Deploy(
            app="checkout",
            history_id=history_id,
            revision=sha,
            target_revision=tag,
            deployed_at=at,
            initiated_by="automated",
            current=current,
        ),
    )


SHA_12 = "8b1e0f4c2d3a5b6c7d8e9f0a1b2c3d4e5f6a7b8c"
SHA_13 = "c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3"


def deploys() -> SourceResult:
    evidence = [
        _deploy(1, 11, "v2.14.1", "3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", T - timedelta(days=3), current=False),
        _deploy(2, 12, "v2.14.2", SHA_12, T - timedelta(days=2), current=False),
        _deploy(3, 13, "v2.14.3", SHA_13, DEPLOYED_AT, current=True),
        Evidence(
            id="deploys-4",
            source=EvidenceSource.DEPLOYS,
            detail="checkout: health Degraded, sync Synced at v2.14.3, automated sync on",
            at=T,
        ),
    ]
    return SourceResult(source=SourceName.ARGOCD, status=SourceStatus.OK, elapsed_s=0.2, evidence=evidence)


def _trace(n: int, at: datetime, *, error: bool) -> Evidence:
    root = Span(span_id="a1", service="checkout", operation="POST /api/checkout", start=at,
                duration_ms=8213 if error else 180, error=error)
    pool = Span(span_id="a2", parent_id="a1", service="checkout", operation="pool.acquire", start=at,
                duration_ms=5000 if error else 2, error=error)
    db = Span(span_id="a3", parent_id="a2", service="orders-db", operation="SELECT orders", start=at,
              duration_ms=3100 if error else 20, error=error)
    cart = Span(span_id="a4", parent_id="a1", service="cart", operation="CartService/GetCart", start=at,
                duration_ms=9, error=False)
    trace = Trace(trace_id=f"4bf92f3577b34da6a3ce929d0e0e47{n:02d}", root_service="checkout",
                  root_operation="POST /api/checkout", start=at, duration_ms=root.duration_ms,
                  error=error, spans=[root, cart, pool, db])
    state = "error" if error else "ok"
    return Evidence(id=f"traces-{n}", source=EvidenceSource.TRACES, at=at,
                    detail=f"POST /api/checkout {root.duration_ms:.0f} ms {state}", payload=trace)


def traces() -> SourceResult:
    evidence = [
        _trace(1, ONSET + timedelta(seconds=10), error=True),
        _trace(2, ONSET + timedelta(seconds=40), error=True),
        _trace(3, ONSET + timedelta(seconds=70), error=True),
        _trace(4, T - timedelta(minutes=10), error=False),
    ]
    return SourceResult(source=SourceName.JAEGER, status=SourceStatus.OK, elapsed_s=0.5, evidence=evidence)


def checkout_results() -> list[SourceResult]:
    return [logs(), metrics(), deploys(), traces()]


def missing(source: SourceName, status: SourceStatus, error: str | None = None) -> SourceResult:
    return SourceResult(source=source, status=status, error=error)


def all_ids(results: list[SourceResult]) -> set[str]:
    return {item.id for result in results for item in result.evidence}


# --------------------------------------------------------------------------- model answers


VALID_BRIEF: dict[str, Any] = {
    "title": "checkout p99 200 ms → 8.2 s after v2.14.3",
    "summary": [
        "p99 200 ms → 8.2 s at the onset, 3 min after the deploy",
        "checkout v2.14.3 (history 13) deployed 6 min ago",
        "12 errors: timeout acquiring connection from pool orders-db",
    ],
    "category": "deploy_regression",
    "root_cause": {
        "statement": "v2.14.3 exhausts the orders-db connection pool",
        "service": "checkout",
        "confidence": "HIGH",
        "confidence_score": 85,
    },
    "evidence": [
        {"id": "metrics-1", "source": "metrics", "detail": "p99 8.2 s"},
        {"id": "deploys-3", "source": "deploys", "detail": "v2.14.3", "link": "https://evil.example"},
        {"id": "logs-2", "source": "logs", "detail": POOL_ERROR},
    ],
    "actions": [
        {
            "kind": "manual",
            "target": {"service": "orders-db"},
            "params": {"text": "check orders-db"},
            "rationale": "confirm the pool",
        },
        {
            "kind": "rollback",
            "target": {"service": "checkout", "namespace": "shop", "app": "checkout"},
            "params": {"to_revision": "v2.14.2", "history_id": 12},
            "rationale": "last good revision",
        },
    ],
    "affected_services": ["checkout", "orders-db"],
    "unknowns": [],
    "next_checks": ["diff v2.14.2..v2.14.3"],
}


def brief_data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID_BRIEF)
    data.update(changes)
    return data


@dataclass
class FakeLLM:
    """An ``LLMClient`` that plays a script, one step per call (the last step repeats): a dict is
    the reply, an exception is raised, a number sleeps that many seconds and then replies with
    ``VALID_BRIEF``."""

    model: str
    script: list[Any]
    input_tokens: int = 1000
    output_tokens: int = 200
    calls: list[dict[str, Any]] = field(default_factory=list)
    #: what a second-opinion check (tool ``submit_check``) answers; not part of ``script``
    check_answer: dict[str, Any] = field(default_factory=lambda: {"agree": True, "reason": "deploys-3 precedes the onset"})
    checks: list[dict[str, Any]] = field(default_factory=list)
    check_tokens: tuple[int, int] = (0, 0)

    async def complete_brief(
        self, *, system: str, user: str, schema: dict[str, Any], timeout: float, tool: str = "submit_brief"
    ) -> LLMReply:
        if tool != "submit_brief":
            self.checks.append({"system": system, "user": user, "tool": tool})
            return LLMReply(data=dict(self.check_answer), input_tokens=self.check_tokens[0],
                            output_tokens=self.check_tokens[1], model=self.model)
        self.calls.append({"system": system, "user": user, "schema": schema, "timeout": timeout})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, int | float):
            await asyncio.sleep(step)
            step = VALID_BRIEF
        if isinstance(step, Exception):
            raise step
        return LLMReply(
            data=copy.deepcopy(step),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            model=self.model,
        )
