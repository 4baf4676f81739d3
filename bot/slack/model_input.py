"""The "What the model saw" modal: the model, its tokens and cost, what redaction removed (by kind and
count, never a value), and the exact prompt — system and evidence — as it was sent, in code blocks."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, PlainTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.service.incidents import ModelInput
from bot.slack.blocks import MRKDWN, _mrkdwn
from bot.slack.ids import CallbackId

#: a modal holds 100 blocks; each section ≤ 3,000 characters (the code fence takes 8)
MAX_MODAL_BLOCKS = 100
CHUNK = 2_900


def _chunks(text: str) -> list[str]:
    """``text`` cut at line ends into pieces of at most ``CHUNK`` characters."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > CHUNK:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:CHUNK])
            line = line[CHUNK:]
        if len(current) + len(line) > CHUNK:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return pieces


def _code(piece: str) -> SectionBlock:
    # escaped like every other text (so a log line cannot become a mention or a link), in a code fence
    return SectionBlock(text=_mrkdwn("```" + MRKDWN.text(piece).replace("```", "'''") + "```"))


def build_model_input_modal(model_input: ModelInput) -> dict[str, Any]:
    analysis = model_input.brief.analysis
    redacted = ", ".join(f"{count} {kind}" for kind, count in sorted(model_input.redactions.items())) or "nothing"
    facts = (f"*Model* `{MRKDWN.text(analysis.model or 'unknown')}` · {analysis.input_tokens:,} tokens in, "
             f"{analysis.output_tokens:,} out · ${analysis.cost_usd:.4f} · {analysis.latency_ms:,} ms\n"
             f"*Redacted before sending*: {MRKDWN.text(redacted)} (kinds and counts only)")
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(facts))]
    if analysis.suspicious:
        blocks.append(SectionBlock(text=_mrkdwn("🕵️ " + MRKDWN.text("; ".join(analysis.suspicious[:5])))))
    system, user = _chunks(model_input.system), _chunks(model_input.user)
    room = MAX_MODAL_BLOCKS - len(blocks) - 4  # two headers, a possible cut note, the context line
    shown_system = system[: max(1, room // 4)]
    shown_user = user[: room - len(shown_system)]
    blocks += [HeaderBlock(text=PlainTextObject(text="System prompt")), *map(_code, shown_system),
               HeaderBlock(text=PlainTextObject(text="Evidence and request sent")), *map(_code, shown_user)]
    left = len(system) - len(shown_system) + len(user) - len(shown_user)
    if left:
        blocks.append(SectionBlock(text=_mrkdwn(f"… (truncated: {left} more parts of the prompt)")))
    blocks.append(ContextBlock(elements=[_mrkdwn(
        "The first request of the brief, rebuilt from the redacted evidence kept with it; a request to fix "
        "an answer that did not fit the schema repeats it with the error.")]))
    return View(type="modal", callback_id=CallbackId.MODEL_INPUT, title=PlainTextObject(text="What the model saw"),
                close=PlainTextObject(text="Close"), blocks=blocks).to_dict()
