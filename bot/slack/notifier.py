"""Things Sitrep says in an incident's thread on its own: verification verdicts, expired buttons."""

from __future__ import annotations

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.markdown import describe_action
from bot.service.container import Services
from bot.service.proposals import ProposalView
from bot.service.verify import Verdict, VerdictState
from bot.slack.blocks import MRKDWN, _section
from bot.slack.proposals import revert_button
from bot.slack.refresh import refresh_brief

log = structlog.get_logger(__name__)

_MARK = {VerdictState.RECOVERED: "✅ recovered", VerdictState.STILL_FAILING: "⚠️ still failing",
         VerdictState.WORSE: "🔥 worse", VerdictState.UNKNOWN: "❔ could not verify"}


_DID_NOT_HELP = (VerdictState.STILL_FAILING, VerdictState.WORSE)


def verdict_text(verdict: Verdict) -> str:
    text = f"{_MARK[verdict.state]}: {MRKDWN.text(verdict.detail)}"
    if verdict.next_option:
        text += f" — next option: {MRKDWN.text(verdict.next_option)}"
    return text


class SlackThreadNotifier:
    def __init__(self, client: AsyncWebClient, services: Services) -> None:
        self._client = client
        self._services = services

    async def verification_result(self, *, incident_id: int, proposal_id: int, verdict: Verdict,
                                  final: bool) -> None:
        message = await self._services.queries.brief_message(incident_id)
        if message.channel is None:
            return
        text = f"Verification of proposal {proposal_id}: {verdict_text(verdict)}"
        blocks = None
        view = await self._revertible(proposal_id) if verdict.state in _DID_NOT_HELP else None
        if view is not None and view.revert is not None:  # it did not help: offer to put things back
            text += f" — consider reverting it: {describe_action(view.revert, style=MRKDWN)}"
            blocks = [_section(text), revert_button(view)]
        await self._client.chat_postMessage(channel=message.channel, thread_ts=message.thread_ts, text=text,
                                            blocks=blocks)

    async def _revertible(self, proposal_id: int) -> ProposalView | None:
        remediation = self._services.remediation
        if remediation is None:
            return None
        view = await remediation.view(proposal_id)
        return view if view.revertible else None

    async def expire_due(self) -> None:
        """Expire proposals past their time and replace their buttons by "expired"."""
        remediation = self._services.remediation
        if remediation is None:
            return
        for incident_id in sorted({view.incident_id for view in await remediation.expire_due()}):
            try:
                await refresh_brief(self._services, self._client, incident_id)
            except SlackApiError as exc:
                log.warning("expired_refresh_failed", incident_id=incident_id, error=exc.response.get("error"))
