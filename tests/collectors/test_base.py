from __future__ import annotations

import json
import ssl

import httpx
import pytest

from bot.collectors.base import (
    Collected,
    MalformedResponseError,
    UpstreamHTTPError,
    body_hint,
    describe_error,
    guarded,
    one_line,
)
from bot.models import Evidence, EvidenceSource, SourceName, SourceStatus

REQUEST = httpx.Request("GET", "http://upstream.test/x?token=SECRET")


def tls_error() -> httpx.ConnectError:
    exc = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=REQUEST)
    exc.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    return exc


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.HTTPStatusError("x", request=REQUEST, response=httpx.Response(500, request=REQUEST)), "HTTP 500"),
        (httpx.HTTPStatusError("x", request=REQUEST, response=httpx.Response(429, request=REQUEST)), "HTTP 429"),
        (httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST), "connection refused"),
        (tls_error(), "TLS error"),
        (httpx.ConnectError("[Errno -2] Name or service not known", request=REQUEST), "DNS lookup failed"),
        (httpx.ConnectError("something else", request=REQUEST), "connection failed"),
        (httpx.ReadTimeout("t", request=REQUEST), "read timeout"),
        (httpx.RemoteProtocolError("Server disconnected", request=REQUEST), "connection closed by upstream"),
        (json.JSONDecodeError("Expecting value", "x", 0), "malformed body: Expecting value"),
        (UpstreamHTTPError(source=SourceName.LOKI, status_code=400, reason="HTTP 400: bad\nmore"), "HTTP 400: bad"),
        (MalformedResponseError(source=SourceName.LOKI, detail="missing 'data'"), "malformed body: missing 'data'"),
        (RuntimeError("x"), "RuntimeError"),
    ],
)
def test_describe_error(exc: BaseException, reason: str) -> None:
    assert describe_error(exc) == reason
    assert "SECRET" not in describe_error(exc)


def test_one_line_and_body_hint() -> None:
    assert one_line("\n  first line \nsecond") == "first line"
    assert one_line("x" * 500, limit=10) == "x" * 9 + "…"
    assert body_hint(httpx.Response(400, text="bad query\nstack")) == "bad query"
    assert body_hint(httpx.Response(500, text="boom")) is None
    assert body_hint(httpx.Response(429, text="slow down")) is None
    assert body_hint(httpx.Response(401, text="<html>login</html>")) is None


async def _collected(evidence: list[Evidence], note: str | None = None) -> Collected:
    return Collected(evidence=evidence, note=note)


async def _raise(exc: Exception) -> Collected:
    raise exc


EVIDENCE = [Evidence(id="logs-1", source=EvidenceSource.LOGS, detail="x")]


@pytest.mark.parametrize(
    ("work", "status", "error"),
    [
        (lambda: _collected(EVIDENCE), SourceStatus.OK, None),
        (lambda: _collected(EVIDENCE, "1/2 queries failed: x: HTTP 500"), SourceStatus.OK, "1/2 queries failed: x: HTTP 500"),
        (lambda: _collected([]), SourceStatus.NO_DATA, None),
        (lambda: _collected([], "1/1 queries failed"), SourceStatus.ERROR, "1/1 queries failed"),
        (lambda: _raise(httpx.ConnectTimeout("t", request=REQUEST)), SourceStatus.TIMEOUT, "connect timeout"),
        (lambda: _raise(tls_error()), SourceStatus.ERROR, "TLS error"),
        (lambda: _raise(KeyError("bug")), SourceStatus.ERROR, "KeyError"),
    ],
)
async def test_guarded_status_mapping(work, status: SourceStatus, error: str | None) -> None:  # type: ignore[no-untyped-def]
    result = await guarded(SourceName.JAEGER, work())

    assert (result.source, result.status, result.error) == (SourceName.JAEGER, status, error)
    assert result.elapsed_s >= 0
