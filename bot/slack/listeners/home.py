"""App Home: published when someone opens Sitrep's Home tab (``app_home_opened``), and again for the
clicker after an Approve/Reject click made from it."""

from __future__ import annotations

from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.container import Services
from bot.slack.home import publish_home
from bot.slack.approvers import Approvers

log = structlog.get_logger(__name__)


async def refresh_home(services: Services, client: AsyncWebClient, user: str, approvers: Approvers) -> None:
    try:
        await publish_home(services, client, user, groups=await approvers.groups.groups_of(user),
                           directory=approvers.directory)
    except SlackApiError as exc:  # Home is a convenience: a failed publish must not fail the click
        log.warning("home_publish_failed", user=user, error=exc.response.get("error"))


def register(app: AsyncApp, services: Services, *, approvers: Approvers) -> None:
    async def handle_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        await refresh_home(services, client, event["user"], approvers)

    app.event("app_home_opened")(handle_home_opened)
