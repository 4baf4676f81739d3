"""The Bolt ``AsyncApp`` factory: one app per process, listeners wired with ``register``.

Bolt, the Slack SDK and aiohttp (~0.3 s to import) are imported when Slack is configured and the
app is built, so a process without Slack (``sitrep worker`` on its own, tests, the CLI) starts
without them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.service.container import Services
from bot.settings import Settings

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp


class SlackNotConfiguredError(RuntimeError):
    """SLACK_BOT_TOKEN or SLACK_SIGNING_SECRET is missing."""


def create_bolt_app(settings: Settings, services: Services) -> AsyncApp:
    if settings.slack_bot_token is None or (settings.slack_signing_secret is None
                                            and settings.slack_app_token is None):
        raise SlackNotConfiguredError(
            "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode) or "
            "SLACK_APP_TOKEN (Socket Mode) (see README.md, 'Create the Slack app')"
        )
    from slack_bolt.async_app import AsyncApp

    from bot.oncall import OnCallDirectory
    from bot.service.incidents import IncidentAccess
    from bot.slack.approvers import Approvers, SlackApproverDirectory
    from bot.slack.channels import ExternalUsers, SlackChannelFacts
    from bot.slack.listeners import actions, commands, events, feedback, home, views
    from bot.slack.pacing import Pacing, PacedWebClient, use_in_listeners
    from bot.slack.usergroups import UserGroupResolver

    token = settings.slack_bot_token.get_secret_value()
    signing = settings.slack_signing_secret
    # every Web API call Sitrep makes: paced per channel, in order, 429s waited out, 5xx retried
    # (then the job's retry takes over); ``app.client`` is this one, and listeners get it too
    client = PacedWebClient(token=token, base_url=settings.slack_api_url, pacing=Pacing(
        post_interval=settings.sitrep_slack_post_interval, burst=settings.sitrep_slack_post_burst))
    _quiet_token_warning()
    app = AsyncApp(  # the bot token comes with the client
        # Socket Mode alone needs no signing secret: then no HTTP request is ever handed to this app
        # (runtime serves /slack/events only with a secret to verify against)
        signing_secret=signing.get_secret_value() if signing is not None else None,
        request_verification_enabled=signing is not None,
        client=client,
        # the listener acks first and hands the work to a background task
        process_before_response=False,
        # named: without a name Bolt takes its caller's file name from inspect.stack(), which reads the
        # source of every frame and maps modules by file (0.6 s of start-up in a worker process)
        name="sitrep",
    )
    use_in_listeners(app, client)
    schedules = OnCallDirectory(
        pagerduty_url=settings.pagerduty_api_url, pagerduty_token=settings.pagerduty_token,
        opsgenie_url=settings.opsgenie_api_url, opsgenie_key=settings.opsgenie_api_key,
        rota_file=settings.sitrep_oncall_rota)
    approvers = Approvers(UserGroupResolver(client), SlackApproverDirectory(client, schedules))
    if services.incidents is not None:  # private channels' incidents are seen from there, or by owners
        services.incidents.access = IncidentAccess(SlackChannelFacts(client), groups_of=approvers.groups.groups_of)
    external = ExternalUsers(client, allowed=settings.sitrep_allow_external_users)
    commands.register(app, services, external=external)
    events.register(app, services)
    actions.register(app, services, approvers=approvers, external=external)
    views.register(app, services, approvers=approvers, external=external)
    feedback.register(app, services)
    home.register(app, services, approvers=approvers)
    return app


class _DropTokenSkipped(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment itself and, given our client too, warns at every
    start that the token "will be unused" — it is the client's token; the line only confuses operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _quiet_token_warning() -> None:
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(f, _DropTokenSkipped) for f in bolt_log.filters):
        bolt_log.addFilter(_DropTokenSkipped())
