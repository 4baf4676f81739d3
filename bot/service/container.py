"""The use cases an entry point (Slack listeners, HTTP routes, CLI) may call, built once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.service.alerts import AlertService
from bot.service.feedback import FeedbackService
from bot.service.incidents import IncidentCommands, IncidentQueries
from bot.service.postmortem import PostmortemService
from bot.service.remediation import RemediationService
from bot.service.tasks import BackgroundTasks

if TYPE_CHECKING:
    from bot.service.investigate import Investigator


class RemediationNotConfiguredError(RuntimeError):
    """There is no policy in force, so nothing can be approved or run."""


@dataclass(frozen=True, slots=True)
class Services:
    #: None where no investigation runs: serve's web process (its worker process investigates)
    investigator: Investigator | None
    tasks: BackgroundTasks
    queries: IncidentQueries
    postmortems: PostmortemService
    feedback: FeedbackService
    remediation: RemediationService | None = None
    alerts: AlertService | None = None
    incidents: IncidentCommands | None = None
    #: how far back an investigation looks when nobody says otherwise
    default_window: timedelta = timedelta(minutes=30)
    default_namespace: str | None = None

    def require_remediation(self) -> RemediationService:
        if self.remediation is None:
            raise RemediationNotConfiguredError("no policy is loaded: remediation is off")
        return self.remediation
