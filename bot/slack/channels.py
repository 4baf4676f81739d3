"""What Slack says about channels and users that decides who sees and does what: whether a channel
is private, who is in it (``conversations.info`` / ``conversations.members``, cached), and whether a
user comes from another workspace (Slack Connect). Every lookup fails closed."""

from __future__ import annotations

import time
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = structlog.get_logger(__name__)


class SlackChannelFacts:
    def __init__(self, client: AsyncWebClient, *, ttl_seconds: float = 300.0) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._private: dict[str, tuple[float, bool]] = {}
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def is_private(self, channel: str) -> bool:
        cached = self._private.get(channel)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            info = (await self._client.conversations_info(channel=channel))["channel"]
        except SlackApiError as exc:  # unknown: private (fail closed), not cached
            log.warning("conversations_info_failed", channel=channel, error=exc.response.get("error"))
            return True
        private = bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim") or info.get("is_group"))
        self._private[channel] = (time.monotonic(), private)
        return private

    async def is_member(self, user: str, channel: str) -> bool:
        cached = self._members.get(channel)
        if cached is None or time.monotonic() - cached[0] >= self._ttl:
            members: set[str] = set()
            cursor: str | None = None
            try:
                for _ in range(20):  # 20 pages of 1,000: larger private channels are unusual
                    page = await self._client.conversations_members(channel=channel, limit=1000, cursor=cursor)
                    members |= set(page.get("members") or [])
                    cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                    if not cursor:
                        break
            except SlackApiError as exc:  # unknown: not a member (fail closed)
                log.warning("conversations_members_failed", channel=channel, error=exc.response.get("error"))
                return False
            cached = (time.monotonic(), frozenset(members))
            self._members[channel] = cached
        return user in cached[1]


class ExternalUsers:
    """Whether a request comes from a user of another workspace (Slack Connect): the user's team is
    not the team Sitrep is installed in (``auth.test``)."""

    def __init__(self, client: AsyncWebClient, *, allowed: bool = False) -> None:
        self._client = client
        self._allowed = allowed
        self._team: str | None = None

    async def refuse(self, body: dict[str, Any]) -> str | None:
        """Why this request is refused (a Slack Connect user, not allowed), or None."""
        if self._allowed:
            return None
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        team = user.get("team_id") or body.get("user_team_id") or body.get("user_team")
        if not team:
            return None  # a request from the installing workspace carries no other team
        own = await self._own_team()
        if own is not None and team == own:
            return None
        return ("Sitrep does not take actions or commands from users of another organization in a shared "
                "channel (Slack Connect). Ask someone from the channel's own workspace.")

    async def _own_team(self) -> str | None:
        if self._team is None:
            try:
                self._team = (await self._client.auth_test()).get("team_id")
            except SlackApiError as exc:  # unknown: nobody matches it (fail closed)
                log.warning("auth_test_failed", error=exc.response.get("error"))
                return None
        return self._team
