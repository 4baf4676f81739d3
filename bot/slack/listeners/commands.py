"""``/incident``: ack at once, then open an incident and investigate off the request path."""

from __future__ import annotations

import re
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.alerts import RequestLimitedError
from bot.service.container import Services
from bot.service.incidents import IncidentChangeError, Viewer
from bot.store.incidents import IncidentNotFoundError
from bot.slack.blocks import MRKDWN, build_usage_blocks, usage_text
from bot.slack.channels import ExternalUsers

log = structlog.get_logger(__name__)

#: Kubernetes-style names: what a service, app or namespace can be called
SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")


class CommandTextError(ValueError):
    """The text after ``/incident`` cannot be read; the message says what to type instead."""


def parse_incident_text(text: str) -> tuple[str, str | None] | None:
    """``"checkout p99 is 8s"`` → ``("checkout", "p99 is 8s")``; ``""``/``"help"`` → None."""
    words = text.strip().split(maxsplit=1)
    if not words or words[0].lower() in {"help", "-h", "--help"}:
        return None
    service = words[0].lower()
    if not SERVICE_NAME.match(service):
        raise CommandTextError(
            f"`{words[0][:64]}` is not a service name (lower-case letters, digits, `-`, `.`, `_`). "
            "Try `/incident checkout p99 is 8s`."
        )
    message = words[1].strip() if len(words) > 1 else None
    return service, message


def register(app: AsyncApp, services: Services, *, external: ExternalUsers | None = None) -> None:
    async def handle_incident_command(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        refused = await external.refuse(command) if external is not None else None
        if refused is not None:
            await ack(response_type="ephemeral", text=refused)
            return
        words = (command.get("text") or "").split()
        if words and words[0].lower() == "stats":
            stats = await services.feedback.stats()
            await ack(response_type="ephemeral", text="Sitrep so far:\n" + stats.describe())
            return
        if words and words[0].lower() in {"list", "status", "resolve", "reopen"}:
            await _manage(ack, services, client=client, verb=words[0].lower(), args=words[1:],
                          text=command.get("text") or "", user=command.get("user_id") or "someone",
                          channel=command.get("channel_id"))
            return
        if words and words[0].lower() == "postmortem":
            await _postmortem(ack, services, client=client, respond=respond, args=words[1:],
                              channel=command["channel_id"])
            return
        try:
            parsed = parse_incident_text(command.get("text") or "")
        except CommandTextError as exc:
            await ack(response_type="ephemeral", text=str(exc))
            return
        if parsed is None:
            await ack(response_type="ephemeral", text=usage_text(), blocks=build_usage_blocks())
            return
        service, message = parsed
        if services.alerts is None:
            await ack(response_type="ephemeral", text="Sitrep's store is not available; try again shortly.")
            return
        try:  # stored (incident + queued investigation) before the answer
            await services.alerts.open_investigation(
                service=service, message=message, channel=command["channel_id"],
                user=command.get("user_id"), response_url=command.get("response_url"),
            )
        except RequestLimitedError as exc:
            await ack(response_type="ephemeral", text=f"⏳ {exc}")
            return
        except Exception:
            log.exception("incident_command_not_stored", service=service)
            await ack(response_type="ephemeral", text="I could not record this request; please try again.")
            return
        await ack(response_type="ephemeral", text=f"Investigating… `{service}`: results in a thread here.")

    app.command("/incident")(handle_incident_command)


async def _manage(ack: AsyncAck, services: Services, *, client: AsyncWebClient, verb: str, args: list[str],
                  text: str, user: str, channel: str | None) -> None:
    """``list``, ``status <id>``, ``resolve <id> [note]``, ``reopen <id>``: answered to the person
    (ephemeral); a resolve or reopen is also said in the incident's thread. An incident of a private
    channel is as if it did not exist anywhere else, except for its service's owners."""
    viewer = Viewer(user=user, channel=channel)
    incidents = services.incidents
    if incidents is None:
        await ack(response_type="ephemeral", text="Sitrep's store is not available; try again shortly.")
        return
    if verb == "list":
        open_now = await incidents.open_incidents(viewer)
        lines = [MRKDWN.text(summary.line()) for summary in open_now] or ["No open incidents."]
        await ack(response_type="ephemeral", text="Open incidents:\n" + "\n".join(lines[:20]))
        return
    if not args or not args[0].lstrip("#").isdecimal():
        await ack(response_type="ephemeral", text=f"Which incident? Type `/incident {verb} 12`"
                  + (" [note]" if verb == "resolve" else "") + " — the number is in each brief's footer.")
        return
    incident_id = int(args[0].lstrip("#"))
    try:
        if verb == "status":
            summary = await incidents.summary(incident_id, viewer)
            await ack(response_type="ephemeral", text=f"{MRKDWN.text(summary.line())} ({summary.status})")
            return
        note = text.split(maxsplit=2)[2].strip()[:500] if len(args) > 1 else None
        if verb == "resolve":
            summary = await incidents.resolve(incident_id, user=user, note=note, viewer=viewer)
            said = f"✅ Resolved by <@{user}>" + (f": {MRKDWN.text(note)}" if note else ".")
        else:
            summary = await incidents.reopen(incident_id, user=user, viewer=viewer)
            said = f"↩️ Reopened by <@{user}>."
    except IncidentNotFoundError:
        await ack(response_type="ephemeral",
                  text=f"There is no incident {incident_id}. `/incident list` shows the open ones.")
        return
    except IncidentChangeError as exc:
        await ack(response_type="ephemeral", text=str(exc))
        return
    await ack(response_type="ephemeral", text=f"Done: {MRKDWN.text(summary.line())}")
    if summary.channel and summary.thread_ts:
        try:
            await client.chat_postMessage(channel=summary.channel, thread_ts=summary.thread_ts, text=said)
        except SlackApiError as exc:
            log.warning("thread_line_failed", incident_id=incident_id, error=exc.response.get("error"))


async def _postmortem(ack: AsyncAck, services: Services, *, client: AsyncWebClient, respond: AsyncRespond,
                      args: list[str], channel: str) -> None:
    """``/incident postmortem <id>``: the Markdown draft as a file in the incident's thread."""
    if len(args) != 1 or not args[0].lstrip("#").isdecimal():
        await ack(response_type="ephemeral", text="Which incident? Type `/incident postmortem 12`.")
        return
    incident_id = int(args[0].lstrip("#"))
    try:
        filename, text = await services.postmortems.build(incident_id)
    except IncidentNotFoundError:
        await ack(response_type="ephemeral",
                  text=f"There is no incident {incident_id}. The number is in the footer of each brief.")
        return
    await ack(response_type="ephemeral", text=f"Writing the postmortem draft of incident {incident_id}…")
    message = await services.queries.brief_message(incident_id)
    try:
        await client.files_upload_v2(
            channel=message.channel or channel, thread_ts=message.thread_ts if message.channel else None,
            filename=filename, title=f"Postmortem draft — incident {incident_id}", content=text,
        )
    except SlackApiError as exc:
        error = exc.response.get("error", "unknown_error")
        log.warning("postmortem_upload_failed", incident_id=incident_id, error=error)
        await respond(response_type="ephemeral", text=f"I could not upload the postmortem ({error}).")
