"""What every check shares: results, sections, steps that record what they called, and the one error a
step raises when its upstream cannot be reached.

    Section("loki", "Loki", url_setting="LOKI_URL")      one block of the report, one per upstream
     └── Step("labels")                                 one ✓/✗ line: what it called, the fix for a ✗
          └── await step.get(client, "/loki/api/v1/labels")
                raises Unreachable(detail, fix)         timeout / connection refused / TLS: the runner
                                                        marks the open step ✗ and stops that section

A step never records a credential: ``called`` holds the method and the URL without its user part, and
``report.scrub`` replaces every configured secret value in the finished report as a last guard.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.policy.schema import Policy

USER_AGENT = "sitrep-doctor"


class Status(StrEnum):
    OK = "ok"
    FAIL = "fail"
    SKIPPED = "skipped"  # not configured: neutral, never fails the run


@dataclass
class CheckResult:
    section: str  # "slack"
    title: str  # "Slack"
    name: str  # "bot scopes"
    status: Status
    detail: str = ""
    called: list[str] = field(default_factory=list)
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"section": self.section, "check": self.name, "status": self.status.value, "detail": self.detail,
                "called": list(self.called), "fix": self.fix}


class Unreachable(Exception):
    """The upstream did not answer (timeout, refused, TLS...). ``detail``/``fix`` are for the report."""

    def __init__(self, detail: str, *, fix: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


def display_url(url: httpx.URL | str, params: Mapping[str, Any] | None = None) -> str:
    """``url`` with ``params`` and without its user part (``https://user:pass@host`` → ``https://host``)."""
    parsed = httpx.URL(str(url)).copy_with(userinfo=b"")
    if params:
        parsed = parsed.copy_merge_params({k: str(v) for k, v in params.items()})
    return str(parsed)


class Section:
    """The checks of one upstream or part, in the order they ran."""

    def __init__(self, key: str, title: str, *, url_setting: str | None = None, url: str | None = None) -> None:
        self.key = key
        self.title = title
        self.url_setting = url_setting
        self.url = url
        self.results: list[CheckResult] = []
        self._open: list[Step] = []

    def step(self, name: str) -> Step:
        step = Step(self, name)
        self._open.append(step)
        return step

    def add(self, name: str, status: Status, detail: str = "", *, called: list[str] | None = None,
            fix: str | None = None) -> CheckResult:
        result = CheckResult(self.key, self.title, name, status, detail, list(called or ()), fix)
        self.results.append(result)
        return result

    def skipped(self, detail: str, *, name: str = "not configured") -> None:
        self.add(name, Status.SKIPPED, detail)

    def abort(self, detail: str, *, fix: str | None = None) -> None:
        """The section stopped (its upstream did not answer, or ran out of time): every step still open
        fails with ``detail``; without one, a line of its own says so."""
        fix = fix or self.reach_fix()
        open_steps = [s for s in self._open if not s.done]
        for step in open_steps:
            step.fail(detail, fix=fix)
        if not open_steps:
            self.add("reachable", Status.FAIL, detail, fix=fix)

    def reach_fix(self) -> str:
        where = f"{self.url_setting}={display_url(self.url)}" if self.url_setting and self.url else \
            (self.url_setting or "the URL")
        return f"check {where} and that {self.title} is reachable from where Sitrep runs"

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)


class Step:
    """One ✓/✗ line being worked out: the requests it made, then ``ok`` or ``fail``."""

    def __init__(self, section: Section, name: str) -> None:
        self.section = section
        self.name = name
        self.calls: list[str] = []
        self.done = False

    def note_call(self, text: str) -> None:
        self.calls.append(text)

    async def request(self, client: httpx.AsyncClient, method: str, url: str, *,
                      params: Mapping[str, Any] | None = None, note: str = "", **kwargs: Any) -> httpx.Response:
        # httpx appends a relative URL to the base URL's path (``/prometheus`` + ``/api/v1/query``)
        full = url if url.startswith(("http://", "https://")) else str(client.base_url) + url.lstrip("/")
        shown = display_url(full, params)
        self.calls.append(f"{method} {shown}{note}")
        try:
            return await client.request(method, url, params=params, **kwargs)
        except httpx.TimeoutException:
            timeout = client.timeout.read or client.timeout.connect
            raise Unreachable(f"no answer from {shown} within {timeout:g} s" if timeout else
                              f"no answer from {shown}") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach {shown}: {transport_reason(exc)}") from None

    async def get(self, client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request(client, "GET", url, **kwargs)

    async def post(self, client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request(client, "POST", url, **kwargs)

    def ok(self, detail: str) -> None:
        self._finish(Status.OK, detail, None)

    def fail(self, detail: str, *, fix: str) -> None:
        self._finish(Status.FAIL, detail, fix)

    def skipped(self, detail: str) -> None:
        self._finish(Status.SKIPPED, detail, None)

    def _finish(self, status: Status, detail: str, fix: str | None) -> None:
        if self.done:
            return
        self.done = True
        self.section.add(self.name, status, detail, called=self.calls, fix=fix)


def transport_reason(exc: httpx.HTTPError) -> str:
    """A short reason for a failed request, without the URL (the step shows it)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip() or type(exc).__name__
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host name"
    if "Connection refused" in text:
        return "connection refused"
    return text[:160]


def http_reason(response: httpx.Response) -> str:
    """``HTTP 403: permission denied: …`` — the status and the upstream's own short message."""
    message = ""
    try:
        body = response.json()
    except ValueError:
        message = response.text.strip().splitlines()[0] if response.text.strip() else ""
    else:
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                error = error.get("message") or error.get("type")
            message = str(body.get("message") or error or body.get("errors") or "")
    message = " ".join(message.split())[:160]
    return f"HTTP {response.status_code}" + (f": {message}" if message else "")


def json_body(response: httpx.Response) -> Any:
    """The body as JSON, or ``Unreachable`` saying what came back instead."""
    try:
        return response.json()
    except ValueError:
        raise Unreachable(f"answered HTTP {response.status_code} with something that is not JSON "
                          f"({response.headers.get('content-type', 'no content type')})",
                          fix="check that the URL points at the API itself, not a login page or proxy") from None


@dataclass
class Context:
    """What the checks share: settings, the loaded policy (None when it does not load), the HTTP budget."""

    settings: Settings
    policy: Policy | None = None
    #: tests: where every client's requests go (``httpx.MockTransport``); None: the network
    transport: httpx.AsyncBaseTransport | None = None
    #: one TLS context for every client (loading the CA bundle takes ~0.1 s, on the event loop)
    tls: ssl.SSLContext | None = None

    @property
    def timeout(self) -> float:
        return self.settings.sitrep_source_timeout

    def client(self, base_url: str, *, headers: Mapping[str, str] | None = None, auth: httpx.Auth | None = None,
               verify: ssl.SSLContext | bool = True, timeout: float | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=base_url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            auth=auth,
            timeout=httpx.Timeout(timeout or self.timeout),
            transport=self.transport,
            verify=verify if verify is not True or self.tls is None else self.tls,
            follow_redirects=False,
        )

    def policy_services(self) -> list[str]:
        return list(self.policy.services) if self.policy is not None else []

    def policy_namespaces(self) -> list[str]:
        if self.policy is None or not self.policy.services:
            return [self.settings.sitrep_default_namespace]
        return sorted({spec.namespace for spec in self.policy.services.values()})


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def listed(names: list[str] | tuple[str, ...] | set[str], *, limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
