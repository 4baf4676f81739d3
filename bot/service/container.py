"""The use cases an entry point (Slack listeners, HTTP routes, CLI) may call, built once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.service.investigate import Investigator
from bot.service.tasks import BackgroundTasks


@dataclass(frozen=True, slots=True)
class Services:
    investigator: Investigator
    tasks: BackgroundTasks
    #: how far back an investigation looks when nobody says otherwise
    default_window: timedelta = timedelta(minutes=30)
    default_namespace: str | None = None
