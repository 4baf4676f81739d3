"""Block Kit builders: pure functions from domain types to the ``blocks`` of a Slack message.

Every builder returns a list of plain dicts made through ``slack_sdk.models.blocks`` objects, whose
``to_dict()`` validates Slack's limits; our own clipping keeps every text inside those limits first
and says so (``… (truncated)``) when it had to cut.

Untrusted text (anything a model, an alert or a log line wrote) goes through ``MRKDWN.text``:
``&``, ``<`` and ``>`` are escaped so it can never form a mention (``<!channel>``, ``<@U…>``) or a
link, bare ``@here``/``@channel``/``@everyone`` are broken with a word joiner, and every mrkdwn
object is ``verbatim`` so Slack does not auto-link or auto-mention plain text. The only links are
the ``<url|label>`` we build from an evidence ``link`` that ``safe_url`` accepted (http/https), and
the only mention is the requesting user's id, which came from Slack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.markdown import (
    DETAIL_MAX,
    EVIDENCE_LABEL,
    LIST_ITEM_MAX,
    PARAM_MAX,
    RATIONALE_MAX,
    STATEMENT_MAX,
    STATUS_WORDS,
    SUMMARY_ITEM_MAX,
    TRUNCATED,
    TextStyle,
    analysis_facts,
    category_words,
    second_opinion_words,
    slack_text,
    confidence_words,
    describe_action,
    one_line,
    safe_url,
    source_label,
    source_problems,
    source_states,
)
from bot.models import RULE_BASED_BANNER, Brief, SourceName, SourceStatus
from bot.slack.ids import BRIEF_EVENT_TYPE, ActionId, CallbackId

# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks)
MAX_BLOCKS = 50
HEADER_TEXT_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
CONTEXT_MAX_ELEMENTS = 10
CONTEXT_TEXT_MAX = 2000  # text objects allow 3000; context lines stay short
#: ``text`` of chat.postMessage: Slack truncates at 40,000; a notification needs far less
FALLBACK_TEXT_MAX = 3000

#: how many actions a brief shows; each gets its own section so that the approvals issue can put
#: an ``actions`` block (Approve/Reject) right after it, and the blocks budget keeps room for them
MAX_ACTIONS = 5
ACTION_ROWS_RESERVED = MAX_ACTIONS
MAX_EVIDENCE_ITEMS = 20
MAX_EVIDENCE_SECTIONS = 3
MAX_LIST_ITEMS = 10

SEVERITY_EMOJI: dict[str, str] = {
    "critical": "🔴",
    "page": "🔴",
    "high": "🔴",
    "error": "🟠",
    "warning": "🟠",
    "warn": "🟠",
    "medium": "🟠",
    "low": "🟡",
    "info": "🔵",
}
DEFAULT_SEVERITY_EMOJI = "🚨"

_STATUS_EMOJI: dict[str, str] = {
    SourceStatus.OK: "✅",
    SourceStatus.NO_DATA: "◽",
    SourceStatus.ERROR: "❌",
    SourceStatus.TIMEOUT: "⏱️",
    SourceStatus.SKIPPED: "➖",
}
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_TRUNCATION_NOTE_ROOM = 80  # kept free in a packed section for the "… (truncated: N more …)" line


# --------------------------------------------------------------------------- mrkdwn


class MrkdwnStyle(TextStyle):
    """Slack mrkdwn, with every piece of raw text escaped."""

    def text(self, raw: str) -> str:
        return slack_text(raw)

    def bold(self, raw: str) -> str:
        return f"*{self.text(raw)}*"

    def code(self, raw: str) -> str:
        return "`" + self.text(raw.replace("`", "'")) + "`"

    def link(self, url: str, label: str) -> str:
        return f"<{url.replace('&', '&amp;')}|{self.text(label)}>"


MRKDWN = MrkdwnStyle()


def clip_mrkdwn(text: str, limit: int) -> str:
    """Clip escaped mrkdwn to ``limit`` characters without leaving half an entity (``&am``) or
    half a link or mention (``<https://…``) behind; says ``… (truncated)`` when it cut."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - len(TRUNCATED), 0)]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    lt = head.rfind("<")
    if lt > head.rfind(">"):
        head = head[:lt]
    return (head.rstrip() + TRUNCATED)[:limit]


def _mrkdwn(text: str, *, limit: int = SECTION_TEXT_MAX) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip_mrkdwn(text, limit), verbatim=True)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(text))


def _context(parts: Sequence[str]) -> ContextBlock:
    parts = [p for p in parts if p]
    if len(parts) > CONTEXT_MAX_ELEMENTS:
        parts = [*parts[: CONTEXT_MAX_ELEMENTS - 1], " · ".join(parts[CONTEXT_MAX_ELEMENTS - 1 :])]
    return ContextBlock(elements=[_mrkdwn(p, limit=CONTEXT_TEXT_MAX) for p in parts])


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip_mrkdwn(text, HEADER_TEXT_MAX), emoji=True))


def _pack_sections(
    lines: Sequence[str], *, heading: str, noun: str, max_sections: int, max_items: int,
    left_out_note: str = "truncated",
) -> tuple[list[Block], int]:
    """Lines (escaped mrkdwn) into as few sections as fit Slack's 3,000 characters, at most
    ``max_sections`` and ``max_items`` lines; what is left out is counted in a last line
    (``… (<left_out_note>: N more <noun>)``). Returns the blocks and how many lines they show."""
    shown = list(lines[:max_items])
    budget = SECTION_TEXT_MAX - _TRUNCATION_NOTE_ROOM
    texts: list[str] = []
    current = heading
    for i, line in enumerate(shown):
        line = clip_mrkdwn(line, budget - len(heading) - 1)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= budget:
            current = candidate
            continue
        if len(texts) + 1 >= max_sections:
            shown = shown[:i]
            break
        texts.append(current)
        current = line
    left_out = len(lines) - len(shown)
    if left_out:
        current += f"\n… ({left_out_note}: {left_out} more {noun})"
    texts.append(current)
    return [_section(text) for text in texts], len(shown)


def _to_dicts(blocks: Iterable[Block], *, limit: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """Validated dicts (``to_dict`` raises on any Slack limit), never more than ``limit`` blocks."""
    blocks = list(blocks)
    if len(blocks) > limit:
        left_out = len(blocks) - limit + 1
        blocks = [*blocks[: limit - 1], _context([f"… (truncated: {left_out} more blocks)"])]
    return [block.to_dict() for block in blocks]


# --------------------------------------------------------------------------- /incident


def build_root_blocks(*, service: str, message: str | None, requested_by: str | None,
                      latest: str | None = None) -> list[dict[str, Any]]:
    """The channel message ``/incident`` posts; the brief goes in its thread. ``latest``: the newest
    change seen (a re-fire's delta), shown under it."""
    text = f"🔎 Investigating {MRKDWN.bold(one_line(service, limit=PARAM_MAX))}"
    if message and message.strip():
        text += f' — "{MRKDWN.text(one_line(message, limit=SUMMARY_ITEM_MAX))}"'
    if requested_by:
        who = (
            f"<@{requested_by}>"
            if _SLACK_USER_ID.fullmatch(requested_by)
            else MRKDWN.text(one_line(requested_by, limit=PARAM_MAX))
        )
        text += f" (requested by {who})"
    blocks: list[Block] = [_section(text)]
    if latest:
        blocks.append(_context([f"🔁 Latest: {MRKDWN.text(one_line(latest, limit=500))} — details in the thread"]))
    return _to_dicts(blocks)


def _progress_field(key: str, value: str) -> str:
    word, _, rest = value.strip().partition(" ")
    try:
        status = SourceStatus(word.lower())
    except ValueError:
        shown, emoji = value.strip() or "pending", "⏳"
    else:
        shown, emoji = " ".join(filter(None, [STATUS_WORDS[status], rest])), _STATUS_EMOJI[status]
    label = MRKDWN.bold(one_line(source_label(key), limit=PARAM_MAX))
    return f"{label}\n{emoji} {MRKDWN.text(one_line(shown, limit=200))}"


def build_progress_blocks(
    *, service: str, statuses: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The in-thread placeholder while sources are collected, optionally with each source's
    progress (``{"loki": "ok", "jaeger": "timeout", "argocd": "pending"}``)."""
    names = ", ".join(name.label for name in SourceName)
    text = f"⏳ Collecting context for {MRKDWN.bold(one_line(service, limit=PARAM_MAX))} from {names}…"
    fields = None
    if statuses:
        order = {name.value: i for i, name in enumerate(SourceName)}
        keys = sorted(statuses, key=lambda k: (order.get(k, len(order)), k))[:MAX_FIELDS]
        fields = [_mrkdwn(_progress_field(k, statuses[k]), limit=FIELD_TEXT_MAX) for k in keys]
    return _to_dicts([SectionBlock(text=_mrkdwn(text), fields=fields)])


_USAGE_LINES = (
    "/incident <service> [what you see] — investigate a service now, e.g. /incident checkout p99 is 8s."
    " I post a message here and the brief in its thread.",
    "/incident list — the open incidents; /incident status <id> — where one stands.",
    "/incident resolve <id> [note] — close it (said in its thread); /incident reopen <id>.",
    "/incident postmortem <id> — a postmortem draft (Markdown) of incident <id> in its thread.",
    "/incident stats — briefs, root-cause accuracy from feedback, time to brief, model cost.",
    "/incident help — this help.",
)


def usage_text() -> str:
    """Help for ``/incident`` as plain text (our own words, so nothing to escape): the ``text`` of
    the help response. The command syntax keeps its literal ``<service>``; in the blocks it sits in
    a ``plain_text`` object, where Slack shows angle brackets as they are."""
    return "\n".join(["Sitrep turns an alert into an incident brief.", *_USAGE_LINES])


def build_usage_blocks() -> list[dict[str, Any]]:
    return _to_dicts(
        [
            _section("*Sitrep* turns an alert into an incident brief."),
            SectionBlock(text=PlainTextObject(text="\n".join(_USAGE_LINES), emoji=True)),
        ]
    )


def build_error_blocks(*, service: str, reason: str) -> list[dict[str, Any]]:
    """For the thread when an investigation produced no brief at all."""
    text = (
        f"⚠️ Could not investigate {MRKDWN.bold(one_line(service, limit=PARAM_MAX))}: "
        f"{MRKDWN.text(one_line(reason, limit=1000))}"
    )
    return _to_dicts([_section(text)])


# --------------------------------------------------------------------------- the brief


def _title(brief: Brief) -> str:
    """The title, with the root-cause service in it."""
    title = one_line(brief.title, limit=HEADER_TEXT_MAX)
    service = one_line(brief.root_cause.service, limit=PARAM_MAX)
    if service and service.lower() not in title.lower():
        title = f"{service}: {title}"
    return title


def _incident_label(incident_id: str | int | None) -> str | None:
    if incident_id is None or incident_id == "":
        return None
    return f"Incident #{MRKDWN.text(one_line(str(incident_id), limit=PARAM_MAX))}"


def _banner_blocks(brief: Brief) -> list[Block]:
    if not brief.is_rule_based:
        return []
    reason = one_line(brief.analysis.fallback_reason or "no reason given", limit=500)
    return [_section(f"⚠️ *{RULE_BASED_BANNER}*\nReason: {MRKDWN.text(reason)}")]


def _summary_blocks(brief: Brief) -> list[Block]:
    if not brief.summary:
        return []
    bullets = [f"• {MRKDWN.text(one_line(item, limit=SUMMARY_ITEM_MAX))}" for item in brief.summary]
    return [_section("\n".join(["*Summary*", *bullets]))]


def _root_cause_blocks(brief: Brief) -> list[Block]:
    rc = brief.root_cause
    facts = [
        f"Service: {MRKDWN.code(one_line(rc.service, limit=PARAM_MAX))}",
        f"Category: {category_words(brief.category)}",
    ]
    if brief.affected_services:
        affected = ", ".join(
            MRKDWN.code(one_line(s, limit=PARAM_MAX)) for s in brief.affected_services[:MAX_LIST_ITEMS]
        )
        facts.append(f"Affected: {affected}")
    statement = MRKDWN.text(one_line(rc.statement, limit=STATEMENT_MAX))
    blocks: list[Block] = [_section(f"*Root cause* ({confidence_words(brief)}) — {statement}\n{'  ·  '.join(facts)}")]
    if (opinion := second_opinion_words(brief.analysis)) is not None:
        mark = "✅" if brief.analysis.second_opinion and brief.analysis.second_opinion.agree else "⚠️"
        blocks.append(_context([f"{mark} {MRKDWN.text(opinion)}"]))
    return blocks


def _evidence_line(brief: Brief, index: int) -> str:
    item = brief.evidence[index]
    line = (
        f"• *{EVIDENCE_LABEL[item.source]}* {MRKDWN.code(one_line(item.id, limit=PARAM_MAX))} "
        f"{MRKDWN.text(one_line(item.detail, limit=DETAIL_MAX))}"
    )
    url = safe_url(item.link)
    if url:
        line += f" {MRKDWN.link(url, 'open')}"
    return line


def _evidence_blocks(brief: Brief) -> tuple[list[Block], int]:
    """The evidence part of the brief message and how many items it shows; the rest continues in
    the thread (``build_continuation_messages``)."""
    if not brief.evidence:
        return [], 0
    lines = [_evidence_line(brief, i) for i in range(len(brief.evidence))]
    return _pack_sections(
        lines,
        heading="*Evidence*",
        noun="evidence items",
        max_sections=MAX_EVIDENCE_SECTIONS,
        max_items=MAX_EVIDENCE_ITEMS,
        left_out_note="continued in the thread",
    )


def build_continuation_messages(brief: Brief) -> list[list[dict[str, Any]]]:
    """The evidence the brief message had no room for, as follow-up messages for its thread (each
    within Slack's limits, numbered ``Evidence (continued) 21–60 of 200``). Empty when it all fit."""
    _, shown = _evidence_blocks(brief)
    total = len(brief.evidence)
    lines = [_evidence_line(brief, i) for i in range(shown, total)]
    messages: list[list[dict[str, Any]]] = []
    start = shown
    per_message = MAX_BLOCKS - 5
    while lines:
        sections, used = _pack_sections(lines, heading="", noun="evidence items", max_sections=per_message,
                                        max_items=len(lines), left_out_note="continued below")
        used = max(used, 1)
        title = f"*Evidence (continued)* {start + 1}–{start + used} of {total}"
        messages.append(_to_dicts([_section(title), *sections]))
        lines, start = lines[used:], start + used
    return messages


def _action_blocks(brief: Brief) -> list[Block]:
    """A heading, then one section per action, safest first. The approvals issue appends an
    ``actions`` block after each action section (room is kept: ``ACTION_ROWS_RESERVED``)."""
    actions = brief.sorted_actions()
    heading = "*Recommended actions* (safest first)"
    if not actions:
        return [_section(f"{heading}\n_No action proposed._")]
    blocks: list[Block] = [_section(heading)]
    for i, action in enumerate(actions[:MAX_ACTIONS], start=1):
        rationale = MRKDWN.text(one_line(action.rationale, limit=RATIONALE_MAX))
        blocks.append(_section(f"{i}. {describe_action(action, style=MRKDWN)} — {rationale}"))
    if len(actions) > MAX_ACTIONS:
        blocks.append(_context([f"… (truncated: {len(actions) - MAX_ACTIONS} more actions)"]))
    return blocks


def _list_blocks(items: Sequence[str], *, heading: str, noun: str) -> list[Block]:
    if not items:
        return []
    lines = [f"• {MRKDWN.text(one_line(item, limit=LIST_ITEM_MAX))}" for item in items]
    return _pack_sections(lines, heading=heading, noun=noun, max_sections=1, max_items=MAX_LIST_ITEMS)[0]


def _source_blocks(brief: Brief) -> list[Block]:
    problems = source_problems(brief.analysis)
    if not problems:
        return []
    return [_context([f"⚠️ {MRKDWN.text(' · '.join(problems))}"])]


def _footer_blocks(brief: Brief, *, incident_id: str | int | None) -> list[Block]:
    parts = [MRKDWN.text(one_line(fact, limit=200)) for fact in analysis_facts(brief.analysis)]
    states = source_states(brief.analysis)
    if states:
        parts.append(MRKDWN.text("Sources: " + " · ".join(states)))
    incident = _incident_label(incident_id)
    if incident:
        parts.append(incident)
    return [_context(parts)]


def _feedback_blocks(brief: Brief, incident_id: str | int | None) -> list[Block]:
    """"Was this right?" buttons, and "What the model saw" on a model's brief; their value is the
    incident id only."""
    if incident_id is None or not str(incident_id).isdecimal():
        return []
    value = json.dumps({"incident_id": int(incident_id)})
    buttons = [
        ButtonElement(text="✓ Root cause correct", action_id=ActionId.FEEDBACK_CORRECT, value=value),
        ButtonElement(text="✗ Wrong root cause", action_id=ActionId.FEEDBACK_WRONG, value=value),
    ]
    if not brief.is_rule_based and brief.analysis.model:
        buttons.append(ButtonElement(text="🔍 What the model saw", action_id=ActionId.SHOW_PROMPT, value=value))
    return [ActionsBlock(block_id="sitrep_feedback", elements=buttons)]


def _suspicious_blocks(brief: Brief) -> list[Block]:
    """Instruction-like text in the evidence, shown where nobody can miss it."""
    if not brief.analysis.suspicious:
        return []
    lines = [f"• {MRKDWN.text(one_line(item, limit=300))}" for item in brief.analysis.suspicious[:MAX_LIST_ITEMS]]
    more = len(brief.analysis.suspicious) - MAX_LIST_ITEMS
    if more > 0:
        lines.append(f"… and {more} more")
    return [_section("🕵️ *Suspicious content in the evidence* — text that reads like instructions to the "
                     "model; check the brief against the evidence before acting\n" + "\n".join(lines))]


def build_feedback_modal(incident_id: int) -> dict[str, Any]:
    """Asks for the actual cause when someone says the brief was wrong."""
    return View(
        type="modal", callback_id=CallbackId.FEEDBACK_WRONG_CAUSE, title=PlainTextObject(text="Wrong root cause"),
        submit=PlainTextObject(text="Send"), close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"incident_id": incident_id}),
        blocks=[InputBlock(block_id="cause", label=PlainTextObject(text="What was the actual cause?"),
                           optional=True, element=PlainTextInputElement(action_id="cause", multiline=True,
                                                                         max_length=1000))],
    ).to_dict()


def build_brief_blocks(
    brief: Brief,
    *,
    incident_id: str | int | None = None,
    severity: str | None = None,
    action_blocks: Sequence[Block] | None = None,
) -> list[dict[str, Any]]:
    """The brief message: header, rule-based banner, summary, root cause, evidence, actions
    (safest first; ``action_blocks`` replaces the plain list once proposals carry decisions),
    unknowns, next checks, missing sources, footer."""
    emoji = SEVERITY_EMOJI.get((severity or "").strip().lower(), DEFAULT_SEVERITY_EMOJI)
    blocks: list[Block] = [
        _header(f"{emoji} {MRKDWN.text(_title(brief))}"),
        *_banner_blocks(brief),
        *_suspicious_blocks(brief),
        *_summary_blocks(brief),
        *_root_cause_blocks(brief),
        *_evidence_blocks(brief)[0],
        DividerBlock(),
        *(_action_blocks(brief) if action_blocks is None else action_blocks),
        *_list_blocks(brief.unknowns, heading="*What I could not check*", noun="unknowns"),
        *_list_blocks(brief.next_checks, heading="*Next checks*", noun="next checks"),
        *_source_blocks(brief),
        *_feedback_blocks(brief, incident_id),
        *_footer_blocks(brief, incident_id=incident_id),
    ]
    return _to_dicts(blocks, limit=MAX_BLOCKS if action_blocks is not None else MAX_BLOCKS - ACTION_ROWS_RESERVED)


def brief_fallback_text(brief: Brief) -> str:
    """The message's ``text``: what notifications and screen readers get. Slack parses it as
    mrkdwn, so it is escaped like the blocks."""
    rc = brief.root_cause
    lines = [
        MRKDWN.text(_title(brief)),
        f"Root cause ({confidence_words(brief)}): "
        f"{MRKDWN.text(one_line(rc.statement, limit=STATEMENT_MAX))} "
        f"(service {MRKDWN.text(one_line(rc.service, limit=PARAM_MAX))})",
    ]
    if brief.is_rule_based:
        reason = one_line(brief.analysis.fallback_reason or "no reason given", limit=500)
        lines.append(f"{RULE_BASED_BANNER} ({MRKDWN.text(reason)})")
    problems = source_problems(brief.analysis)
    if problems:
        lines.append(f"Sources: {MRKDWN.text(' · '.join(problems))}")
    return clip_mrkdwn("\n".join(lines), FALLBACK_TEXT_MAX)


def brief_metadata(brief: Brief, *, incident_id: str | int | None) -> dict[str, Any]:
    """Slack message ``metadata`` of a brief, so briefs can be found without parsing text."""
    return {
        "event_type": BRIEF_EVENT_TYPE,
        "event_payload": {
            "incident_id": incident_id,
            "status": brief.analysis.status.value,
            "root_cause_service": brief.root_cause.service,
            "confidence": brief.root_cause.confidence.value,
            "category": brief.category.value,
        },
    }
