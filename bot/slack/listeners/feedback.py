""""Root cause correct / wrong" buttons on every brief, the "what was it?" modal, and "What the model saw"."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.service.container import Services
from bot.service.incidents import ModelInputUnavailableError
from bot.slack.blocks import build_feedback_modal
from bot.slack.ids import ActionId, CallbackId
from bot.slack.model_input import build_model_input_modal
from bot.slack.refresh import refuse
from bot.store.incidents import IncidentNotFoundError


def _incident_id(raw: str) -> int | None:
    try:
        value = json.loads(raw).get("incident_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def register(app: AsyncApp, services: Services) -> None:
    async def handle_feedback_correct(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        incident_id = _incident_id(body["actions"][0].get("value", ""))
        if incident_id is None:
            await refuse(client, body, "This button is not one Sitrep can read.")
            return
        try:
            await services.feedback.record(incident_id, user=body["user"]["id"], correct=True)
        except IncidentNotFoundError:
            await refuse(client, body, f"Incident {incident_id} is gone from Sitrep's records.")
            return
        await refuse(client, body, "Thanks — recorded: the root cause was right.")

    async def handle_feedback_wrong(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        incident_id = _incident_id(body["actions"][0].get("value", ""))
        if incident_id is None:
            await refuse(client, body, "This button is not one Sitrep can read.")
            return
        await client.views_open(trigger_id=body["trigger_id"], view=build_feedback_modal(incident_id))

    async def handle_show_prompt(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        incident_id = _incident_id(body["actions"][0].get("value", ""))
        if incident_id is None:
            await refuse(client, body, "This button is not one Sitrep can read.")
            return
        try:
            model_input = await services.queries.model_input(incident_id)
        except (ModelInputUnavailableError, IncidentNotFoundError) as exc:
            await refuse(client, body, f"Nothing to show: {exc}.")
            return
        await client.views_open(trigger_id=body["trigger_id"], view=build_model_input_modal(model_input))

    async def handle_feedback_cause(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        incident_id = _incident_id(view.get("private_metadata", ""))
        if incident_id is None:
            return
        values = view.get("state", {}).get("values", {})
        cause = ((values.get("cause") or {}).get("cause") or {}).get("value")
        await services.feedback.record(incident_id, user=body["user"]["id"], correct=False,
                                       actual_cause=(cause or "").strip()[:1000] or None)

    app.action(ActionId.FEEDBACK_CORRECT.value)(handle_feedback_correct)
    app.action(ActionId.FEEDBACK_WRONG.value)(handle_feedback_wrong)
    app.action(ActionId.SHOW_PROMPT.value)(handle_show_prompt)
    app.view(CallbackId.FEEDBACK_WRONG_CAUSE.value)(handle_feedback_cause)
