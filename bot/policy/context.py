"""What the engine needs to know besides the action and the policy: the time, who asked, the app's
ArgoCD history, the current replica count and recent executions. The caller gathers it; the engine
does no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bot.models import ActionKind, Deploy


class Prompt(StrEnum):
    """What prompted a proposed action: only ``alert`` may run without a human.

    - ``alert``: an alert from a configured source (a webhook with its token, a watched alert
      channel), the action on the alerting service itself,
    - ``request``: text a person typed (``/incident cart please restart …``, ``sitrep investigate
      --message``): anyone in the workspace can write it,
    - ``evidence``: the analysis of collected evidence (log lines, traces) pointed at another service
      than the alert's: text outsiders can cause.
    """

    ALERT = "alert"
    REQUEST = "request"
    EVIDENCE = "evidence"


class Execution(BaseModel):
    """An action that ran (or was sent to run), for rate limits."""

    model_config = ConfigDict(frozen=True)
    kind: ActionKind
    service: str
    at: datetime


class PolicyContext(BaseModel):
    """``executions`` may hold any (kind, service): the engine counts those of the action's kind and
    service inside each matching rule's ``rate_limit`` window. Fetch at least
    ``Policy.longest_rate_window()`` of them. Naive datetimes are taken as UTC."""

    model_config = ConfigDict(frozen=True)
    now: AwareDatetime
    requester: str | None = None  # Slack user id of whoever asked (None: an alert)
    history: list[Deploy] = []  # the target app's ArgoCD history
    replicas: int | None = Field(default=None, ge=0)  # current replicas of the target
    executions: list[Execution] = []
    #: what prompted the action (``Prompt``); anything but an alert needs a human
    prompted_by: Prompt = Prompt.ALERT
    #: instruction-like text was found in the evidence: nothing runs without a human
    suspicious: bool = False


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
