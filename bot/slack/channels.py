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
    """Whether a request comes from a user of another organization (Slack Connect): the workspace
    the request names is not the one Sitrep is installed in (``auth.test``), nor a workspace of the
    same Enterprise Grid organization.

    Where each payload names the user's workspace:

    - buttons and modals (``block_actions``, ``view_submission``): ``user.team_id``, the clicker's
      own workspace;
    - slash commands: ``team_id``, and ``enterprise_id`` on Enterprise Grid. A slash command has no
      ``user`` object and no ``user_team`` field (Slack's documented form fields: ``team_id``,
      ``team_domain``, ``enterprise_id``, ``enterprise_name``, ``channel_id``, ``user_id``,
      ``command``, ``text``, ``api_app_id``, ``is_enterprise_install``, ``response_url``,
      ``trigger_id``); its ``team_id`` and ``enterprise_id`` say where the user was when they
      typed it, for a Slack Connect member their own organization's workspace.

    A request that names no workspace, or when Sitrep cannot learn its own, is refused."""

    def __init__(self, client: AsyncWebClient, *, allowed: bool = False) -> None:
        self._client = client
        self._allowed = allowed
        self._own: tuple[str, str | None] | None = None  # (team id, enterprise id)

    async def refuse(self, body: dict[str, Any]) -> str | None:
        """Why this request is refused (a Slack Connect user, not allowed), or None."""
        if self._allowed:
            return None
        team, enterprise = _requester_workspace(body)
        own = await self._own_workspace() if team or enterprise else None
        if own is not None:
            own_team, own_enterprise = own
            if team == own_team:
                return None
            if own_enterprise is not None and own_enterprise in (enterprise, team):
                return None  # another workspace of our own Grid organization (org-wide ids start with E)
        return ("Sitrep does not take actions or commands from users of another organization in a shared "
                "channel (Slack Connect). Ask someone from the channel's own workspace.")

    async def _own_workspace(self) -> tuple[str, str | None] | None:
        if self._own is None:
            try:
                answer = await self._client.auth_test()
            except SlackApiError as exc:  # unknown: nobody matches it (fail closed)
                log.warning("auth_test_failed", error=exc.response.get("error"))
                return None
            if not answer.get("team_id"):
                return None
            self._own = (str(answer["team_id"]), answer.get("enterprise_id") or None)
        return self._own


def _requester_workspace(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(team id, enterprise id) of the workspace the requesting user acts from, as the payload says."""
    user = body.get("user")
    if isinstance(user, dict):  # interactivity: the clicking user's own workspace
        return user.get("team_id") or None, None
    if body.get("user_id"):  # a slash command: where the user was when they typed it
        return body.get("team_id") or None, body.get("enterprise_id") or None
    return None, None
