"""Which user-group handles a Slack user belongs to, from ``usergroups.list`` and
``usergroups.users.list``, cached for a few minutes (approver checks happen in bursts)."""

from __future__ import annotations

import time

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = structlog.get_logger(__name__)


class UserGroupResolver:
    """``ttl_seconds``: how long a loaded membership is used; when reloading fails, the old one is
    used for ``grace_seconds`` more, then no one is in any group (fail closed: only approvers listed
    by user id can approve until Slack answers again)."""

    def __init__(self, client: AsyncWebClient, *, ttl_seconds: float = 300.0, grace_seconds: float = 60.0) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._grace = grace_seconds
        self._members: dict[str, set[str]] = {}  # handle → user ids
        self._loaded_at = float("-inf")

    async def groups_of(self, user_id: str) -> list[str]:
        """Handles (``sre``, ``checkout-oncall``) of every group ``user_id`` is in."""
        if time.monotonic() - self._loaded_at > self._ttl:
            await self._load()
        return sorted(handle for handle, members in self._members.items() if user_id in members)

    async def _load(self) -> None:
        try:
            groups = (await self._client.usergroups_list())["usergroups"]
            members: dict[str, set[str]] = {}
            for group in groups:
                users = await self._client.usergroups_users_list(usergroup=group["id"])
                members[group["handle"]] = set(users.get("users") or [])
        except SlackApiError as exc:
            # without groups only approvers listed by user id can approve; say so in the logs
            log.warning("usergroups_unavailable", error=exc.response.get("error"))
            if time.monotonic() - self._loaded_at > self._ttl + self._grace:
                self._members = {}  # too old to trust: nobody is in a group until Slack answers
            return
        self._members, self._loaded_at = members, time.monotonic()
