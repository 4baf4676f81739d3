"""What intake raises for input it cannot read."""

from __future__ import annotations


class AlertParseError(ValueError):
    """An alert (message or webhook body) that cannot be read. ``reason`` is short and meant for
    people: it is said in Slack ("could not read this alert: …") and returned in HTTP 400 bodies."""

    def __init__(self, reason: str) -> None:
        self.reason = reason[:300]
        super().__init__(self.reason)
