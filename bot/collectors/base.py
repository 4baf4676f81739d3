"""What every collector shares: the ``Collector`` Protocol, the error tree and the guard that turns
any failure into a ``SourceResult``.

Exceptions raised inside a collector (never escaping ``collect``)::

    SourceError                  source, reason (short, human, no secrets)
     ├── UpstreamHTTPError       + status_code: the upstream answered non-2xx
     └── MalformedResponseError  the body was not JSON or not the expected shape

Status mapping (``guarded``): evidence → OK (a partial failure noted in ``error``); nothing and no
failure → NO_DATA; ``httpx.TimeoutException`` → TIMEOUT; any other httpx or ``SourceError`` → ERROR with
a short reason ("HTTP 500", "connection refused", "malformed body: ...").
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx
import structlog

from bot.models import Evidence, InvestigationRequest, SourceName, SourceResult, SourceStatus

log = structlog.get_logger(__name__)

T = TypeVar("T")

REASON_MAX = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@runtime_checkable
class Collector(Protocol):
    """One upstream. ``collect`` never raises: a failed source is a ``SourceResult``."""

    source: SourceName

    async def collect(self, request: InvestigationRequest) -> SourceResult: ...


# --------------------------------------------------------------------------- errors


class SourceError(Exception):
    """A source could not answer usefully. ``reason`` is what the brief shows."""

    def __init__(self, *, source: SourceName, reason: str) -> None:
        self.source = source
        self.reason = one_line(reason)
        super().__init__(f"{source.value}: {self.reason}")


class UpstreamHTTPError(SourceError):
    """A non-2xx answer; ``reason`` is ``HTTP 500`` or ``HTTP 400: <first line of the body>``."""

    def __init__(self, *, source: SourceName, status_code: int, reason: str | None = None) -> None:
        self.status_code = status_code
        super().__init__(source=source, reason=reason or f"HTTP {status_code}")


class MalformedResponseError(SourceError):
    """The body was not JSON, or not shaped as the upstream's API documents."""

    def __init__(self, *, source: SourceName, detail: str) -> None:
        super().__init__(source=source, reason=f"malformed body: {detail}")


def http_error(response: httpx.Response, *, source: SourceName, detail: str | None = None
               ) -> UpstreamHTTPError:
    """``UpstreamHTTPError`` for ``response``: ``HTTP 404`` or ``HTTP 404: <detail>``."""
    code = response.status_code
    reason = f"HTTP {code}: {one_line(detail)}" if detail and detail.strip() else None
    return UpstreamHTTPError(source=source, status_code=code, reason=reason)


def body_hint(response: httpx.Response) -> str | None:
    """The first line of a 4xx plain-text body (Loki's LogQL errors); None for 5xx, 429 or HTML."""
    if not 400 <= response.status_code < 500 or response.status_code == 429:
        return None
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return None
    line = one_line(text)
    return None if not line or line.startswith("<") else line


def one_line(text: str, *, limit: int = REASON_MAX) -> str:
    """First non-empty line of ``text``, cut to ``limit`` characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


def describe_error(exc: BaseException) -> str:
    """A short human reason for an httpx (or our own) error. Never includes URLs or headers."""
    match exc:
        case SourceError():
            return exc.reason
        case httpx.HTTPStatusError():
            return f"HTTP {exc.response.status_code}"
        case httpx.TimeoutException():
            return {
                httpx.ConnectTimeout: "connect timeout",
                httpx.ReadTimeout: "read timeout",
                httpx.WriteTimeout: "write timeout",
                httpx.PoolTimeout: "connection pool timeout",
            }.get(type(exc), "timeout")
        case httpx.ConnectError():
            return _connect_reason(exc)
        case httpx.RemoteProtocolError():
            return "connection closed by upstream"
        case httpx.DecodingError():
            return "malformed body: could not decode"
        case httpx.TooManyRedirects():
            return "too many redirects"
        case httpx.UnsupportedProtocol() | httpx.InvalidURL():
            return "invalid URL"
        case httpx.TransportError():
            return "network error"
        case json.JSONDecodeError():
            return f"malformed body: {exc.msg}"
        case _:
            return type(exc).__name__


def _connect_reason(exc: httpx.ConnectError) -> str:
    chain: list[BaseException] = [exc]
    while (nxt := chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 5:
        chain.append(nxt)
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ssl.SSLError) for e in chain) or "ssl" in text or "certificate" in text:
        return "TLS error"
    if "refused" in text or "errno 111" in text:
        return "connection refused"
    if "name or service" in text or "name resolution" in text or "nodename" in text:
        return "DNS lookup failed"
    return "connection failed"


# --------------------------------------------------------------------------- parsing helpers


def json_body(response: httpx.Response, *, source: SourceName) -> Any:
    """The decoded JSON body, or ``MalformedResponseError``."""
    try:
        return response.json()
    except json.JSONDecodeError as exc:
        raise MalformedResponseError(source=source, detail=f"not JSON ({exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise MalformedResponseError(source=source, detail="not UTF-8") from exc


@contextmanager
def parsing(source: SourceName) -> Iterator[None]:
    """Turn shape errors while reading a body into ``MalformedResponseError``."""
    try:
        yield
    except SourceError:
        raise
    except (KeyError, IndexError) as exc:
        raise MalformedResponseError(source=source, detail=f"missing {exc}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponseError(source=source, detail=one_line(str(exc), limit=120)) from exc


# --------------------------------------------------------------------------- time helpers


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def unix_us(moment: datetime) -> int:
    return (as_utc(moment) - EPOCH) // timedelta(microseconds=1)


def unix_ns(moment: datetime) -> int:
    return unix_us(moment) * 1000


def from_unix(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def clock(moment: datetime, *, ref: datetime | None = None, seconds: bool = True) -> str:
    """``03:41:12Z``; with the date when it is not ``ref``'s day."""
    moment = as_utc(moment)
    text = moment.strftime("%H:%M:%SZ" if seconds else "%H:%MZ")
    if ref is not None and as_utc(ref).date() != moment.date():
        text = moment.strftime("%Y-%m-%d ") + text
    return text


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def public_url(client: httpx.AsyncClient, override: str | None = None) -> str:
    """The upstream's base URL for links, without credentials or a trailing slash."""
    url = httpx.URL(override) if override else client.base_url
    return str(url.copy_with(userinfo=b"")).rstrip("/")


# --------------------------------------------------------------------------- the guard


@dataclass(slots=True)
class Collected:
    """What a collector's body returns to ``guarded``: evidence, and a note of partial failures."""

    evidence: list[Evidence] = field(default_factory=list)
    note: str | None = None


async def guarded(source: SourceName, work: Awaitable[Collected]) -> SourceResult:
    """Await a collector's body and map every outcome to a ``SourceResult`` (see module doc)."""
    started = time.perf_counter()

    def result(status: SourceStatus, *, error: str | None = None, evidence: list[Evidence] | None = None
               ) -> SourceResult:
        return SourceResult(source=source, status=status, error=error, evidence=evidence or [],
                            elapsed_s=time.perf_counter() - started)

    try:
        collected = await work
    except httpx.TimeoutException as exc:
        return result(SourceStatus.TIMEOUT, error=describe_error(exc))
    except (SourceError, httpx.HTTPError, json.JSONDecodeError) as exc:
        return result(SourceStatus.ERROR, error=describe_error(exc))
    except Exception as exc:  # a bug, not an upstream problem: log it, still a result
        log.exception("collector_crashed", source=source.value)
        return result(SourceStatus.ERROR, error=type(exc).__name__)
    if collected.evidence:
        return result(SourceStatus.OK, error=collected.note, evidence=collected.evidence)
    if collected.note:
        return result(SourceStatus.ERROR, error=collected.note)
    return result(SourceStatus.NO_DATA)


async def gather_parts(parts: Mapping[str, Awaitable[T]]) -> tuple[dict[str, T], dict[str, Exception]]:
    """Run named sub-requests concurrently; return (answers, failures) by name."""
    names = list(parts)
    outcomes = await asyncio.gather(*parts.values(), return_exceptions=True)
    answers: dict[str, T] = {}
    failures: dict[str, Exception] = {}
    for name, outcome in zip(names, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failures[name] = outcome
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            answers[name] = outcome
    return answers, failures


def partial_note(failures: Mapping[str, Exception], *, total: int) -> str | None:
    """``2/6 queries failed: cpu: HTTP 500; memory: bad_data: ...`` or None."""
    if not failures:
        return None
    parts = "; ".join(f"{name}: {describe_error(exc)}" for name, exc in failures.items())
    return cut(f"{len(failures)}/{total} queries failed: {parts}", REASON_MAX)


def raise_if_nothing(answers: Mapping[str, object], failures: Mapping[str, Exception]) -> None:
    """When every sub-request failed, re-raise the first failure so ``guarded`` maps it."""
    if failures and not answers:
        raise next(iter(failures.values()))
