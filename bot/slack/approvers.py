"""What Slack knows about an approver beyond their groups: which on-call schedules of a policy they
are on call for now (schedule contacts are emails or user ids; emails become users through
``users.lookupByEmail``) and their identities (id, name, email) to recognise a deploy's author."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.oncall import OnCallDirectory
from bot.service.approvals import DirectoryUnavailableError, OnCallStatus
from bot.slack.usergroups import UserGroupResolver

log = structlog.get_logger(__name__)

_USER_ID_PREFIXES = ("U", "W")


class SlackApproverDirectory:
    def __init__(self, client: AsyncWebClient, schedules: OnCallDirectory, *, ttl_seconds: float = 600.0) -> None:
        self._client = client
        self._schedules = schedules
        self._ttl = ttl_seconds
        self._by_email: dict[str, tuple[float, str | None]] = {}

    async def on_call(self, user: str, refs: Sequence[str]) -> OnCallStatus:
        answers = await asyncio.gather(*(self._schedules.who(ref) for ref in refs))
        on_call: set[str] = set()
        for answer in answers:
            for contact in answer.contacts:
                if await self._user_for(contact) == user:
                    on_call.add(answer.ref)
                    break
        return OnCallStatus(on_call=frozenset(on_call),
                            notes=tuple(a.note for a in answers if a.note is not None))

    async def identities(self, user: str) -> set[str]:
        try:
            info = (await self._client.users_info(user=user))["user"]
        except SlackApiError as exc:  # fail closed: the deploy-author check cannot be made
            log.warning("users_info_failed", error=exc.response.get("error"))
            raise DirectoryUnavailableError(f"Slack users.info failed: {exc.response.get('error')}") from exc
        profile = info.get("profile") or {}
        found = {user, info.get("name"), info.get("real_name"), profile.get("display_name"),
                 profile.get("real_name"), profile.get("email")}
        email = profile.get("email")
        if isinstance(email, str) and "@" in email:
            found.add(email.split("@", 1)[0])
        return {f for f in found if isinstance(f, str) and f}

    async def _user_for(self, contact: str) -> str | None:
        contact = contact.strip()
        if "@" not in contact:
            return contact if contact.startswith(_USER_ID_PREFIXES) else None
        key = contact.lower()
        cached = self._by_email.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            uid: str | None = (await self._client.users_lookupByEmail(email=contact))["user"]["id"]
        except SlackApiError as exc:
            # an on-call person without a Slack account (or a typo in the rota): nobody to match
            log.info("oncall_email_not_in_slack", error=exc.response.get("error"))
            uid = None
        self._by_email[key] = (time.monotonic(), uid)
        return uid


class Approvers:
    """Everything the approve paths need to know about a clicker: group handles and the directory."""

    def __init__(self, groups: UserGroupResolver, directory: SlackApproverDirectory) -> None:
        self.groups = groups
        self.directory = directory
