"""What intake raises for input it cannot read.

    ValueError
     └── AlertParseError   .reason: short, human-readable, no stack trace
"""

from __future__ import annotations

from bot.digest.redact import redact_text

#: longest reason kept: it goes into a Slack thread and an HTTP 400 body
MAX_REASON = 300


class AlertParseError(ValueError):
    """An alert (Slack message or webhook body) that cannot be read.

    ``reason`` is short and meant for people: Sitrep says it in the message's thread
    ("could not read this alert: <reason>") and returns it in HTTP 400 bodies
    (``{"error": "<reason>"}``). It may quote the input, so it is redacted.
    """

    def __init__(self, reason: str) -> None:
        reason = redact_text(" ".join(str(reason).split())) or "unreadable alert"
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 1] + "…"
        self.reason = reason
        super().__init__(reason)
