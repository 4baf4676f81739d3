"""Where an investigation's progress and brief go: a Protocol the Slack layer implements.

The service never sees Slack types; ``bot.slack.publisher`` turns these calls into Web API calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.analyst.chart import Chart
from bot.models import Brief, SourceResult
from bot.service.proposals import ProposalView


class BriefPublisher(Protocol):
    async def started(self, *, incident_id: int) -> None:
        """The investigation began (post a placeholder in the thread)."""

    async def source_finished(self, *, incident_id: int, result: SourceResult) -> None:
        """One source answered, failed or timed out."""

    async def brief_ready(
        self, *, incident_id: int, brief: Brief, proposals: Sequence[ProposalView] = ()
    ) -> str | None:
        """Publish the brief with each proposal's decision; return the message id (Slack ``ts``)."""

    async def chart_ready(self, *, incident_id: int, chart: Chart) -> None:
        """The incident's key series as a PNG, after the brief."""

    async def failed(self, *, incident_id: int, reason: str) -> None:
        """The investigation could not produce any brief (should not happen; say so)."""
