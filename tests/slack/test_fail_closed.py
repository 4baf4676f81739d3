"""Lookups that decide who may approve or act fail closed: stale user-group membership is dropped
after a short grace, and a user of another workspace (Slack Connect) is refused."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.slack.channels import ExternalUsers, SlackChannelFacts
from bot.slack.usergroups import UserGroupResolver


def _error(method: str) -> SlackApiError:
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url=method, req_args={},  # type: ignore[arg-type]
                                  data={"ok": False, "error": "ratelimited"}, headers={}, status_code=429)
    return SlackApiError("failed", response)


class FakeClient:
    def __init__(self) -> None:
        self.down = False

    async def usergroups_list(self) -> dict[str, Any]:
        if self.down:
            raise _error("usergroups.list")
        return {"usergroups": [{"id": "S1", "handle": "sre"}]}

    async def usergroups_users_list(self, *, usergroup: str) -> dict[str, Any]:
        return {"users": ["U0SRE"]}

    enterprise: str | None = None  # an Enterprise Grid workspace: auth.test names its organization

    async def auth_test(self) -> dict[str, Any]:
        if self.down:
            raise _error("auth.test")
        return {"team_id": "T0HOME", "enterprise_id": self.enterprise}

    async def conversations_info(self, *, channel: str) -> dict[str, Any]:
        raise _error("conversations.info")

    async def conversations_members(self, **kwargs: Any) -> dict[str, Any]:
        raise _error("conversations.members")


async def test_group_membership_is_dropped_when_slack_stops_answering() -> None:
    client = FakeClient()
    groups = UserGroupResolver(client, ttl_seconds=0.0, grace_seconds=0.0)  # type: ignore[arg-type]
    assert await groups.groups_of("U0SRE") == ["sre"]
    client.down = True
    assert await groups.groups_of("U0SRE") == []  # not the old membership forever


async def test_group_membership_survives_a_blip_within_the_grace() -> None:
    client = FakeClient()
    groups = UserGroupResolver(client, ttl_seconds=0.0, grace_seconds=60.0)  # type: ignore[arg-type]
    assert await groups.groups_of("U0SRE") == ["sre"]
    client.down = True
    assert await groups.groups_of("U0SRE") == ["sre"]


async def test_channel_lookups_fail_closed() -> None:
    facts = SlackChannelFacts(FakeClient())  # type: ignore[arg-type]
    assert await facts.is_private("C0ANY") is True
    assert await facts.is_member("U0DEV", "C0ANY") is False


async def test_slack_connect_users_are_refused_unless_allowed() -> None:
    client = FakeClient()
    external = ExternalUsers(client)  # type: ignore[arg-type]
    assert await external.refuse({"user": {"id": "U0DEV", "team_id": "T0HOME"}}) is None
    refusal = await external.refuse({"user": {"id": "U0EXT", "team_id": "T0OTHER"}})
    assert refusal is not None and "another organization" in refusal
    assert await ExternalUsers(client, allowed=True).refuse(  # type: ignore[arg-type]
        {"user": {"id": "U0EXT", "team_id": "T0OTHER"}}) is None
    client.down = True  # cannot tell which team is ours: refused
    assert await ExternalUsers(client).refuse({"user": {"id": "U0DEV", "team_id": "T0HOME"}}) is not None  # type: ignore[arg-type]


def slash_command(team_id: str, *, enterprise_id: str | None = None) -> dict[str, Any]:
    """A slash command as Slack sends it (form fields): no ``user`` object, no ``user_team``. Its
    ``team_id`` (and ``enterprise_id`` on Enterprise Grid) say where the user was when they typed it:
    for a Slack Connect member, their own organization's workspace."""
    body = {"token": "t", "team_id": team_id, "team_domain": "d", "channel_id": "C0SHARED",
            "channel_name": "shared", "user_id": "U0ANY", "user_name": "someone", "command": "/incident",
            "text": "cart slow", "api_app_id": "A0SITREP", "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.com/commands/T/1/x", "trigger_id": "1.2.3"}
    if enterprise_id is not None:
        body |= {"enterprise_id": enterprise_id, "enterprise_name": "Org"}
    return body


async def test_slash_commands_from_another_organization_are_refused() -> None:
    client = FakeClient()
    external = ExternalUsers(client)  # type: ignore[arg-type]
    assert await external.refuse(slash_command("T0HOME")) is None
    refusal = await external.refuse(slash_command("T0OTHER"))
    assert refusal is not None and "another organization" in refusal
    assert await external.refuse(slash_command("T0OTHER", enterprise_id="E0OTHER")) is not None
    assert await ExternalUsers(client, allowed=True).refuse(slash_command("T0OTHER")) is None  # type: ignore[arg-type]
    assert await external.refuse({"user_id": "U0ANY", "command": "/incident"}) is not None  # no team: refused


async def test_another_workspace_of_our_own_grid_organization_is_not_an_outsider() -> None:
    client = FakeClient()
    client.enterprise = "E0HOME"
    external = ExternalUsers(client)  # type: ignore[arg-type]
    assert await external.refuse(slash_command("T0SISTER", enterprise_id="E0HOME")) is None
    assert await external.refuse(slash_command("T0OTHER", enterprise_id="E0OTHER")) is not None
    assert await external.refuse(slash_command("T0OTHER")) is not None
