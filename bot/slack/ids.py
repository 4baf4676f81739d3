"""Every identifier Sitrep puts into Slack and later reads back, in one place.

``ActionId`` values are fixed by design.md ("Buttons"): listeners match on them, and messages
already posted keep carrying them, so never rename a value.
"""

from __future__ import annotations

from enum import StrEnum

#: ``metadata.event_type`` of every brief message (design.md, "Slack")
BRIEF_EVENT_TYPE = "sitrep_brief"


class ActionId(StrEnum):
    """``action_id`` of interactive elements (buttons, selects)."""

    APPROVE = "sitrep_approve"
    REJECT = "sitrep_reject"
    FEEDBACK_CORRECT = "sitrep_feedback_correct"
    FEEDBACK_WRONG = "sitrep_feedback_wrong"
    SHOW_PROMPT = "sitrep_show_prompt"  # "What the model saw"
    REVERT = "sitrep_revert"  # after an executed rollback/scale/sync: propose putting it back


class CallbackId(StrEnum):
    """``callback_id`` of modals."""

    APPROVE_CONFIRM = "sitrep_approve_confirm"  # critical actions: evidence + exact change first
    REJECT_REASON = "sitrep_reject_reason"
    FEEDBACK_WRONG_CAUSE = "sitrep_feedback_wrong_cause"  # "what was the actual cause?"
    MODEL_INPUT = "sitrep_model_input"  # "What the model saw" (read only)
