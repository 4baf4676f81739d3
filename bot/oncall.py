"""Who is on call now for a schedule named in a policy (``oncall:pagerduty/PABC123``,
``oncall:opsgenie/<schedule id>``, ``oncall:rota/<name>``).

    PagerDuty  GET {PAGERDUTY_API_URL}/schedules/{id}/users?since=now&until=now+1s
               Authorization: Token token=<PAGERDUTY_TOKEN>   → users[].email
    Opsgenie   GET {OPSGENIE_API_URL}/v2/schedules/{id}/on-calls?flat=true
               Authorization: GenieKey <OPSGENIE_API_KEY>     → data.onCallRecipients[] (emails)
    rota file  SITREP_ONCALL_ROTA, YAML: ``pagerduty/PABC123: [U0ANA, ben@example.com]`` (the fallback
               for a schedule whose service is not configured or does not answer), ``checkout: [...]``
               for ``oncall:rota/checkout``.

Answers are contacts: emails or Slack user ids (the Slack side maps emails to users). A schedule service
that is down never blocks an approval check for long (3 s) and never fails it: the rota file answers
instead and the answer carries a note saying so, which the approver is shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import structlog
import yaml
from pydantic import SecretStr

from bot.policy.decision import ON_CALL_PREFIX
from bot.tls import trusted

log = structlog.get_logger(__name__)


class ScheduleUnavailableError(RuntimeError):
    """The schedule's service is not configured, or did not answer usefully (the message says which)."""


@dataclass(frozen=True, slots=True)
class OnCallAnswer:
    """Who is on call for ``ref`` now; ``note`` explains a fallback or a failure, for the approver."""

    ref: str
    contacts: tuple[str, ...] = ()
    note: str | None = None


@dataclass
class OnCallDirectory:
    pagerduty_url: str = "https://api.pagerduty.com"
    pagerduty_token: SecretStr | None = None
    opsgenie_url: str = "https://api.opsgenie.com"
    opsgenie_key: SecretStr | None = None
    rota_file: str | None = None
    timeout_seconds: float = 3.0
    #: a schedule's answer is kept this long (approvals come in bursts; shifts change rarely)
    ttl_seconds: float = 60.0
    transport: httpx.AsyncBaseTransport | None = None
    _cache: dict[str, tuple[float, OnCallAnswer]] = field(default_factory=dict)

    async def who(self, ref: str) -> OnCallAnswer:
        """Who is on call now for ``ref`` (``oncall:<provider>/<schedule>``)."""
        cached = self._cache.get(ref)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_seconds:
            return cached[1]
        answer = await self._lookup(ref)
        if answer.note is None:  # do not keep a fallback: the service may be back on the next click
            self._cache[ref] = (time.monotonic(), answer)
        return answer

    async def _lookup(self, ref: str) -> OnCallAnswer:
        provider, _, schedule = ref.removeprefix(ON_CALL_PREFIX).partition("/")
        if provider == "rota":
            contacts = self._rota(schedule)
            if isinstance(contacts, str):
                return OnCallAnswer(ref, note=f"{ref}: {contacts}")
            return OnCallAnswer(ref, tuple(contacts))
        try:
            if provider == "pagerduty":
                contacts = await self._pagerduty(schedule)
            elif provider == "opsgenie":
                contacts = await self._opsgenie(schedule)
            else:
                raise ScheduleUnavailableError(f"unknown schedule provider {provider!r}")
            return OnCallAnswer(ref, tuple(contacts))
        except ScheduleUnavailableError as exc:
            reason = str(exc)
        log.warning("oncall_lookup_failed", ref=ref, reason=reason)
        fallback = self._rota(f"{provider}/{schedule}")
        if isinstance(fallback, str):
            return OnCallAnswer(ref, note=f"{ref}: {reason}; {fallback}, so nobody counts as on call for it")
        return OnCallAnswer(ref, tuple(fallback),
                            note=f"{ref}: {reason}; used the static rota file instead")

    async def _pagerduty(self, schedule: str) -> list[str]:
        if self.pagerduty_token is None:
            raise ScheduleUnavailableError("PagerDuty is not configured (PAGERDUTY_TOKEN)")
        now = datetime.now(UTC)
        body = await self._get(
            "PagerDuty", f"{self.pagerduty_url.rstrip('/')}/schedules/{quote(schedule, safe='')}/users",
            params={"since": now.isoformat(), "until": (now + timedelta(seconds=1)).isoformat()},
            headers={"Authorization": f"Token token={self.pagerduty_token.get_secret_value()}",
                     "Accept": "application/json"})
        users = body.get("users")
        if not isinstance(users, list):
            raise ScheduleUnavailableError("PagerDuty answered without a users list")
        return [u["email"] for u in users if isinstance(u, dict) and isinstance(u.get("email"), str)]

    async def _opsgenie(self, schedule: str) -> list[str]:
        if self.opsgenie_key is None:
            raise ScheduleUnavailableError("Opsgenie is not configured (OPSGENIE_API_KEY)")
        body = await self._get(
            "Opsgenie", f"{self.opsgenie_url.rstrip('/')}/v2/schedules/{quote(schedule, safe='')}/on-calls",
            params={"flat": "true"},
            headers={"Authorization": f"GenieKey {self.opsgenie_key.get_secret_value()}"})
        recipients = (body.get("data") or {}).get("onCallRecipients") if isinstance(body.get("data"), dict) else None
        if not isinstance(recipients, list):
            raise ScheduleUnavailableError("Opsgenie answered without onCallRecipients")
        return [r for r in recipients if isinstance(r, str)]

    async def _get(self, name: str, url: str, *, params: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds, transport=self.transport,
                                         verify=trusted()) as client:
                response = await client.get(url, params=params, headers=headers)
        except httpx.TimeoutException:
            raise ScheduleUnavailableError(f"{name} did not answer within {self.timeout_seconds:g} s") from None
        except httpx.HTTPError as exc:
            raise ScheduleUnavailableError(f"{name} could not be reached ({type(exc).__name__})") from None
        if response.status_code == 404:
            raise ScheduleUnavailableError(f"{name} does not know this schedule (404)")
        if response.status_code >= 400:
            raise ScheduleUnavailableError(f"{name} answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise ScheduleUnavailableError(f"{name} answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise ScheduleUnavailableError(f"{name} answered something that is not a JSON object")
        return body

    def _rota(self, key: str) -> list[str] | str:
        """The rota file's list for ``key``, or why there is none (read on each call: people edit it
        during an incident, and it is small)."""
        if not self.rota_file:
            return "no rota file is configured (SITREP_ONCALL_ROTA)"
        try:
            data = yaml.safe_load(Path(self.rota_file).read_text(encoding="utf-8"))
        except OSError as exc:
            log.warning("oncall_rota_unreadable", file=self.rota_file, error=type(exc).__name__)
            return f"the rota file {self.rota_file} cannot be read ({type(exc).__name__})"
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            log.warning("oncall_rota_invalid", file=self.rota_file, line=line)
            return f"the rota file {self.rota_file} is not valid YAML{line}"
        entry = data.get(key) if isinstance(data, dict) else None
        if not isinstance(entry, list):
            return f"the rota file has no entry {key!r}"
        return [str(item) for item in entry if isinstance(item, str | int)]
