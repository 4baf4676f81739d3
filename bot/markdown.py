"""A brief as text: Markdown for the CLI (``sitrep investigate``), and the phrasing Slack shares.

The wording of a brief (how an action, a source status or the model footer reads) lives here once;
each output format supplies a ``TextStyle`` saying how to escape and mark it up:

    Brief ─▶ describe_action / source_problems / source_states / analysis_facts (raw phrases)
          ─▶ TextStyle (MarkdownStyle here, ``bot.slack.blocks.MrkdwnStyle`` for Slack) ─▶ text

Everything the model wrote is untrusted: it is cleaned (control characters, newlines), clipped and
escaped by the style; links are only built by us, from ``http``/``https`` evidence links.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from bot.models import (
    RULE_BASED_BANNER,
    Action,
    ActionKind,
    Analysis,
    AnalysisStatus,
    Brief,
    Category,
    EvidenceSource,
    SourceName,
    SourceStatus,
)

_BROADCAST_WORDS = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)


def slack_text(raw: object) -> str:
    """The one way untrusted text (alert fields, labels, log lines, model text, user text) goes into
    a Slack message, blocks and fallback ``text`` alike: ``&``, ``<``, ``>`` escaped so it can never
    form a mention (``<!channel>``, ``<@U…>``) or a link (``<https://…|label>``), and ``@channel``-like
    words broken. Mentions and links are built only from values Sitrep resolved itself."""
    escaped = str(raw).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST_WORDS.sub("@\u2060\\1", escaped)


def slack_code(raw: object) -> str:
    """Untrusted text as inline code: escaped, its backticks made quotes so it cannot close the span."""
    return "`" + slack_text(str(raw).replace("`", "'").replace("\n", " ")) + "`"


#: appended to anything we had to cut
TRUNCATED = "… (truncated)"

EVIDENCE_LABEL: dict[EvidenceSource, str] = {
    EvidenceSource.LOGS: "Logs",
    EvidenceSource.METRICS: "Metrics",
    EvidenceSource.DEPLOYS: "Deploys",
    EvidenceSource.TRACES: "Traces",
    EvidenceSource.ALERT: "Alert",
}

#: how a source status reads; the words design.md fixes ("Loki: no data", "Jaeger: not configured")
STATUS_WORDS: dict[SourceStatus, str] = {
    SourceStatus.OK: "ok",
    SourceStatus.NO_DATA: "no data",
    SourceStatus.ERROR: "error",
    SourceStatus.TIMEOUT: "timeout",
    SourceStatus.SKIPPED: "not configured",
}

_SOURCE_ORDER = {name.value: i for i, name in enumerate(SourceName)}
_WHITESPACE = re.compile(r"\s+")

# per-item limits (characters, before escaping) shared by every output
SUMMARY_ITEM_MAX = 500
STATEMENT_MAX = 700
DETAIL_MAX = 300
RATIONALE_MAX = 300
PARAM_MAX = 100
LIST_ITEM_MAX = 300
URL_MAX = 2000  # longer links are dropped rather than cut


# --------------------------------------------------------------------------- text helpers


def clip(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start followed by ``… (truncated)``."""
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATED):
        return TRUNCATED[:limit]
    return text[: limit - len(TRUNCATED)].rstrip() + TRUNCATED


def one_line(text: str, *, limit: int) -> str:
    """Untrusted text as a single clean line: control characters (ANSI escapes included) dropped,
    runs of whitespace collapsed, clipped to ``limit``."""
    cleaned = "".join(
        ch if not unicodedata.category(ch).startswith("C") else " " for ch in text
    )
    return clip(_WHITESPACE.sub(" ", cleaned).strip(), limit)


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute ``http``/``https`` URL we may link to (at most ``URL_MAX``
    characters), made safe to embed (spaces, ``<``, ``>``, ``|``, quotes and parentheses
    percent-encoded); otherwise ``None``."""
    if not url:
        return None
    url = url.strip()
    if len(url) > URL_MAX:
        return None
    if any(unicodedata.category(ch).startswith("C") for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return None
    return quote(url, safe="/:?#[]@!$&'*+,;=%~-._")


def source_label(key: str) -> str:
    """``loki`` → ``Loki``; an unknown key as given."""
    try:
        return SourceName(key).label
    except ValueError:
        return key


def _ordered_sources(analysis: Analysis) -> list[tuple[str, SourceStatus]]:
    return sorted(
        analysis.sources.items(), key=lambda kv: (_SOURCE_ORDER.get(kv[0], len(_SOURCE_ORDER)), kv[0])
    )


def source_problems(analysis: Analysis) -> list[str]:
    """Every source that did not answer with data, as ``Loki: error HTTP 500``.

    ``analysis.source_notes`` is the authority and is kept word for word; a source whose status is
    not ok but which no note names is added as ``<Source>: <status>``."""
    problems = [note.strip() for note in analysis.source_notes if note.strip()]
    for key, status in _ordered_sources(analysis):
        if status is SourceStatus.OK:
            continue
        label = source_label(key)
        if not any(note.lower().startswith(f"{label.lower()}:") for note in problems):
            problems.append(f"{label}: {STATUS_WORDS[status]}")
    return problems


def source_states(analysis: Analysis) -> list[str]:
    """Every source's status, in the usual order: ``Loki: ok``, ``Jaeger: timeout``."""
    return [f"{source_label(key)}: {STATUS_WORDS[status]}" for key, status in _ordered_sources(analysis)]


def format_latency(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def format_cost(usd: float) -> str:
    return f"${usd:.4f}" if usd < 0.01 else f"${usd:.2f}"


def analysis_facts(analysis: Analysis) -> list[str]:
    """What the footer says about the analysis: who wrote it, how long, how many tokens, cost."""
    facts = [f"model {analysis.model}" if analysis.model else "rule-based"]
    if analysis.status not in {AnalysisStatus.COMPLETED, AnalysisStatus.DETERMINISTIC}:
        facts.append(analysis.status.value.lower().replace("_", " "))
    tokens = analysis.input_tokens + analysis.output_tokens
    facts += [
        format_latency(analysis.latency_ms),
        f"{tokens:,} tokens ({analysis.input_tokens:,} in / {analysis.output_tokens:,} out)",
        format_cost(analysis.cost_usd),
    ]
    if analysis.examined:
        facts.append("also examined " + ", ".join(analysis.examined))
    return facts


def second_opinion_words(analysis: Analysis) -> str | None:
    """``Second opinion (model): disagrees — reason`` for a checked rollback, else None."""
    opinion = analysis.second_opinion
    if opinion is None:
        return None
    verdict = "agrees" if opinion.agree else "disagrees"
    return f"Second opinion ({opinion.model}): {verdict} — {one_line(opinion.reason, limit=400)}"


def category_words(category: Category) -> str:
    return category.value.replace("_", " ")


# --------------------------------------------------------------------------- styles


class TextStyle:
    """How phrases are escaped and marked up in one output format. Every method takes raw
    (untrusted) text and escapes it; ``link`` takes a URL already checked by ``safe_url``."""

    def text(self, raw: str) -> str:
        raise NotImplementedError

    def bold(self, raw: str) -> str:
        raise NotImplementedError

    def code(self, raw: str) -> str:
        raise NotImplementedError

    def link(self, url: str, label: str) -> str:
        raise NotImplementedError


class PlainStyle(TextStyle):
    """Plain text (Slack confirm dialogs, timeline notes): no markup, nothing to escape."""

    def text(self, raw: str) -> str:
        return raw

    def bold(self, raw: str) -> str:
        return raw

    def code(self, raw: str) -> str:
        return raw

    def link(self, url: str, label: str) -> str:
        return label


PLAIN = PlainStyle()


class MarkdownStyle(TextStyle):
    """CommonMark: backslashes, ``<``/``>`` and brackets are backslash-escaped so model text cannot
    form HTML, autolinks or links (emphasis is left alone: harmless, and escaping it makes
    ``p99_latency`` unreadable in a terminal); backticks in code spans become quotes."""

    _SPECIAL = re.compile(r"([\\<>\[\]])")

    def text(self, raw: str) -> str:
        return self._SPECIAL.sub(r"\\\1", raw)

    def bold(self, raw: str) -> str:
        return f"**{self.text(raw)}**"

    def code(self, raw: str) -> str:
        return "`" + raw.replace("`", "'") + "`"

    def link(self, url: str, label: str) -> str:
        return f"[{self.text(label)}]({url})"


MARKDOWN = MarkdownStyle()


# --------------------------------------------------------------------------- shared phrases


def describe_action(action: Action, *, style: TextStyle) -> str:
    """``Roll back *checkout* to `v2.14.2` (history 12) in `shop``: kind, target and params, readably
    (the namespace, and the Argo CD app when it differs from the service, come last)."""
    target = action.target
    who = style.bold(one_line(target.service, limit=PARAM_MAX))
    where = ""
    if target.namespace:
        where += f" in {style.code(one_line(target.namespace, limit=PARAM_MAX))}"
    if target.app and target.app != target.service:
        where += f" via Argo CD app {style.code(one_line(target.app, limit=PARAM_MAX))}"
    params = action.params

    def param(key: str) -> str:
        return style.code(one_line(str(params.get(key, "?")), limit=PARAM_MAX))

    match action.kind:
        case ActionKind.ROLLBACK:
            # the label Sitrep took from the history (``v2.14.2 (8b1e0f4)``), else what the action names
            text = f"Roll back {who} to {param('label') if params.get('label') else param('to_revision')}"
            if params.get("history_id") is not None:
                text += style.text(f" (history {params['history_id']})")
            return text + where
        case ActionKind.RESTART:
            return f"Restart {who}{where}"
        case ActionKind.SCALE:
            replicas = style.text(one_line(str(params.get("replicas", "?")), limit=PARAM_MAX))
            return f"Scale {who} to {replicas} replicas{where}"
        case ActionKind.SYNC:
            return f"Sync {who} to {param('revision')}{where}"
        case ActionKind.RUNBOOK:
            return f"Run runbook {param('name')} for {who}{where}"
        case ActionKind.MANUAL:
            manual = style.text(one_line(str(params.get("text", "")), limit=RATIONALE_MAX))
            return f"Manual step for {who}{where}: {manual}"


def confidence_words(brief: Brief) -> str:
    """``HIGH, 85/100``."""
    return f"{brief.root_cause.confidence.value}, {brief.root_cause.confidence_score}/100"


# --------------------------------------------------------------------------- Markdown


def _bullets(items: Iterable[str], *, limit: int) -> list[str]:
    return [f"- {MARKDOWN.text(one_line(item, limit=limit))}" for item in items]


def render_brief_markdown(brief: Brief) -> str:
    """The brief as Markdown, for ``sitrep investigate`` (same content as the Slack message)."""
    md = MARKDOWN
    rc = brief.root_cause
    lines: list[str] = [f"# {md.text(one_line(brief.title, limit=200))}", ""]

    if brief.is_rule_based:
        reason = brief.analysis.fallback_reason or "no reason given"
        lines += [f"> **{RULE_BASED_BANNER}** ({md.text(one_line(reason, limit=300))})", ""]

    if brief.analysis.suspicious:
        lines += ["> **Suspicious content in the evidence** (reads like instructions to the model):",
                  *(f"> - {md.text(one_line(item, limit=300))}" for item in brief.analysis.suspicious[:10]), ""]

    if brief.summary:
        lines += ["## Summary", *_bullets(brief.summary, limit=SUMMARY_ITEM_MAX), ""]

    lines += [
        "## Root cause",
        f"**{confidence_words(brief)}**: {md.text(one_line(rc.statement, limit=STATEMENT_MAX))}",
        "",
        f"- Service: {md.code(one_line(rc.service, limit=PARAM_MAX))}",
        f"- Category: {category_words(brief.category)}",
    ]
    if brief.affected_services:
        affected = ", ".join(md.code(one_line(s, limit=PARAM_MAX)) for s in brief.affected_services)
        lines.append(f"- Affected: {affected}")
    if (opinion := second_opinion_words(brief.analysis)) is not None:
        lines.append(f"- {md.text(opinion)}")
    lines.append("")

    if brief.evidence:
        lines.append("## Evidence")
        for item in brief.evidence:
            line = (
                f"- {md.code(one_line(item.id, limit=PARAM_MAX))} {EVIDENCE_LABEL[item.source]}: "
                f"{md.text(one_line(item.detail, limit=DETAIL_MAX))}"
            )
            url = safe_url(item.link)
            if url:
                line += f" ({md.link(url, 'link')})"
            lines.append(line)
        lines.append("")

    lines.append("## Recommended actions (safest first)")
    actions = brief.sorted_actions()
    for i, action in enumerate(actions, start=1):
        rationale = md.text(one_line(action.rationale, limit=RATIONALE_MAX))
        lines.append(f"{i}. {describe_action(action, style=md)} — {rationale}")
    if not actions:
        lines.append("_No action proposed._")
    lines.append("")

    if brief.unknowns:
        lines += ["## What I could not check", *_bullets(brief.unknowns, limit=LIST_ITEM_MAX), ""]
    if brief.next_checks:
        lines += ["## Next checks", *_bullets(brief.next_checks, limit=LIST_ITEM_MAX), ""]

    problems = source_problems(brief.analysis)
    if problems:
        lines += [f"**Sources:** {md.text(' · '.join(problems))}", ""]
    footer = [*analysis_facts(brief.analysis), *source_states(brief.analysis)]
    lines.append(md.text(" · ".join(one_line(part, limit=200) for part in footer)))
    return "\n".join(lines) + "\n"
