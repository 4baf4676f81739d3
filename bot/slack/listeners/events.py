"""Events API listeners. Alert-channel intake arrives with the alerts issue; until then message
events are acknowledged and ignored so Slack does not retry them."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.service.container import Services


def register(app: AsyncApp, services: Services) -> None:
    async def handle_message() -> None:
        return None

    app.event("message")(handle_message)
