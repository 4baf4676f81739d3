"""Log lines → templates (drain3), so thousands of lines become a few dozen lines a model can read.

Each template carries its count, first/last seen, worst level, whether it is new (first seen after
``since``: the last deploy or the onset), one example line and the evidence ids of its lines (what a
brief may cite). Errors and new templates come first.

What is templated is the line's parsed message and a few key fields (``bot.digest.logformat``), not
the raw line: a Spring, klog or access line's timestamp, thread, pid and caller never reach drain3,
and a folded stack trace is templated by its innermost exception. Variable parts (timestamps, UUIDs,
IPs, hex ids, ids with digits, quoted values, numbers and durations) are masked, so one message
from different pods or requests, in any format, is one template.

Speed: each line is first reduced to a cheap shape (digits, hex ids, UUIDs and IPs masked); a line is
parsed only when its shape is new, and identical message shapes are counted before drain3 sees
them, so drain3 mines only distinct shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.digest.logformat import describe, summary

if TYPE_CHECKING:
    from drain3 import TemplateMiner

#: worst first
LEVELS = ("fatal", "panic", "critical", "error", "warn", "warning", "info", "debug", "trace")
_ERRORISH = {"fatal", "panic", "critical", "error"}
_ORDER = {level: i for i, level in enumerate(LEVELS)}

_MASKS: tuple[tuple[str, str], ...] = (
    (r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|\b\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d"
     r"(?: [+-]\d{4})?|\b\d{4}/\d\d/\d\d \d\d:\d\d:\d\d|\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b", "<TS>"),
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<UUID>"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", "<IP>"),
    (r"\b(?:0x)?[0-9a-fA-F]{12,}\b", "<HEX>"),
    (r'"[^"\n]{0,120}"|(?<!\w)\'[^\'\n]{0,120}\'(?!\w)', "<STR>"),
    (r"\b(?:[A-Za-z_]+\d|\d+[A-Za-z_])\w{3,}", "<ID>"),  # u_50412, 7d9f8b6c5, e5f90a7b: ids with digits
    (r"\b\d+(?:\.\d+)?(?:ms|s|m|h|us|µs|ns|%|[KMG]i?B)?\b", "<NUM>"),
)
_MASK = re.compile("|".join(f"(?P<m{i}>{pattern})" for i, (pattern, _) in enumerate(_MASKS)))
_MASK_WITH = [name for _, name in _MASKS]
#: a cheap first shape of a raw line (each run of word characters with a digit made ``0``, on bytes:
#: three times faster than on text): lines of one rough shape parse to one message shape. Matched
#: from the start of a run only, possessively, so a long run without a digit is scanned once.
_ROUGH = re.compile(rb"(?<![\w.-])(?:[^\W\d]|[.-])*+\d[\w.-]*+")
#: formats whose level sits in a token with a digit (``E1125``, a 503, ``<11>``, pino's ``"level":50``),
#: which the rough shape hides: that token is found in each line and read with the shape
_NUMERIC_JSON_LEVEL = re.compile(rb'"(?:level|lvl|severity|@l|loglevel|log\.level)"\s*:\s*0')
_LEVEL_TOKENS = {
    "klog": re.compile(rb"\s*([IWEF])"),
    "access": re.compile(rb'.*?" (\d)\d\d '),  # the status class, after the request line
    "syslog": re.compile(rb"\s*<(\d{1,3})>"),
    "json": re.compile(rb'.*?"(?:level|lvl|severity|@l|loglevel|log\.level)"\s*:\s*(\d+)'),  # pino, bunyan
}


def mask(line: str) -> str:
    """The line's shape: variable parts replaced by ``<TS>``, ``<UUID>``, ``<IP>``, ``<HEX>``,
    ``<STR>``, ``<ID>``, ``<NUM>``."""
    return _MASK.sub(lambda m: _MASK_WITH[int((m.lastgroup or "m0")[1:])], line)


#: fields that name one request or span, which only some formats carry: shown in an example, never part
#: of a template (the same message with and without a trace id is one template)
_LINE_IDS = frozenset({"trace_id", "trace.id", "traceId", "span_id", "span.id", "spanId", "dd.trace_id", "dd.span_id"})


def message_of(line: str) -> str:
    """What is templated of a raw line (or a folded event): its message and a few key fields."""
    return _read(line)[0]


def _read(line: str) -> tuple[str, str, str | None, str]:
    """(what is templated, the example a reader sees, the level its text gives, its format)."""
    parsed = describe(line)
    example = summary(parsed.message, parsed.fields, limit=4)
    if not _LINE_IDS.isdisjoint(parsed.fields):
        fields = {k: v for k, v in parsed.fields.items() if k not in _LINE_IDS}
        return summary(parsed.message, fields, limit=4), example, parsed.level, parsed.fmt
    return example, example, parsed.level, parsed.fmt


@dataclass(slots=True)
class LogEntry:
    """One log line as the digest needs it."""

    at: datetime
    line: str
    #: None: read from the line's text (its level word, klog letter, HTTP status, an exception or panic)
    level: str | None = None
    evidence_id: str | None = None
    count: int = 1  # the collector may already have merged identical lines
    #: the parsed message (``LogLine.message``); None: parsed here from ``line``
    message: str | None = None


@dataclass(slots=True)
class LogTemplate:
    template: str
    count: int
    first_seen: datetime
    last_seen: datetime
    level: str | None
    example: str
    evidence_ids: list[str] = field(default_factory=list)
    new: bool = False

    @property
    def is_error(self) -> bool:
        return (self.level or "") in _ERRORISH

    def rank(self) -> tuple[int, int, int]:
        return (0 if self.is_error else 1, 0 if self.new else 1, -self.count)


def _worst(a: str | None, b: str | None) -> str | None:
    if a is None or b is None or a == b:
        return a or b
    return a if _ORDER.get(a, 99) <= _ORDER.get(b, 99) else b


def _miner() -> TemplateMiner:
    # drain3 is imported by the first investigation that folds logs, not by the web app's start-up
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    config.drain_sim_th = 0.5
    config.drain_depth = 4
    config.masking_instructions = [MaskingInstruction(r"<[A-Z]+>", "*")]
    config.parametrize_numeric_tokens = True
    return TemplateMiner(config=config)


def mine_templates(entries: Iterable[LogEntry], *, since: datetime | None = None,
                   ids_per_template: int = 3) -> list[LogTemplate]:
    """Templates of ``entries``, errors first, then new ones, then the most frequent."""
    shapes: dict[str, LogTemplate] = {}
    # rough shape of a raw line (+ the token that holds its level, for the formats that have one with a
    # digit) → (message shape, example, level read from the text, where the level hides in such a token)
    parsed: dict[bytes, tuple[str, str, str | None, re.Pattern[bytes] | None]] = {}
    for entry in entries:
        level = entry.level.lower() if entry.level else None
        if entry.message is not None:
            example = entry.message
            shape = mask(example)
        else:
            raw = entry.line.encode("utf-8", "backslashreplace")
            rough = _ROUGH.sub(b"0", raw)
            known = parsed.get(rough)
            if known is None:
                templated, example, read, fmt = _read(entry.line)
                token = _LEVEL_TOKENS.get(fmt) if fmt != "json" or _NUMERIC_JSON_LEVEL.search(rough) else None
                known = parsed[rough] = (mask(templated), example, read, token)
            if level is None and known[3] is not None and (m := known[3].match(raw)):
                key = rough + b"\0" + m.group(1)
                known = parsed.get(key) or parsed.setdefault(key, (*known[:2], describe(entry.line).level, None))
            shape, example = known[0], known[1]
            level = level or known[2]
        found = shapes.get(shape)
        if found is None:
            shapes[shape] = LogTemplate(template=shape, count=entry.count, first_seen=entry.at, last_seen=entry.at,
                                        level=level, example=example,
                                        evidence_ids=[entry.evidence_id] if entry.evidence_id else [])
            continue
        found.count += entry.count
        if entry.at < found.first_seen:
            found.first_seen = entry.at
        elif entry.at > found.last_seen:
            found.last_seen = entry.at
        if level != found.level:
            found.level = _worst(found.level, level)
        if entry.evidence_id and len(found.evidence_ids) < ids_per_template:
            found.evidence_ids.append(entry.evidence_id)
    # errors are mined apart from the rest: an error never hides in a template of routine lines that
    # happen to look like it (a 503 among the 200s of a path, a failure worded like a success)
    miners = {True: _miner(), False: _miner()}
    clusters: dict[tuple[bool, int], LogTemplate] = {}
    for shape, item in shapes.items():
        result = miners[item.is_error].add_log_message(shape)
        cluster_id = (item.is_error, int(result["cluster_id"]))
        merged = clusters.get(cluster_id)
        if merged is None:
            clusters[cluster_id] = item
            continue
        merged.count += item.count
        merged.first_seen = min(merged.first_seen, item.first_seen)
        merged.last_seen = max(merged.last_seen, item.last_seen)
        merged.level = _worst(merged.level, item.level)
        room = ids_per_template - len(merged.evidence_ids)
        merged.evidence_ids += item.evidence_ids[: max(room, 0)]
    for is_error, miner in miners.items():
        for cluster in miner.drain.clusters:
            if (is_error, cluster.cluster_id) in clusters:
                clusters[is_error, cluster.cluster_id].template = cluster.get_template().replace("<*>", "*")
    templates = list(clusters.values())
    for item in templates:
        item.new = since is not None and item.first_seen >= since
    return sorted(templates, key=LogTemplate.rank)


def estimate_tokens(text: str) -> int:
    """About four characters a token for English and log text (Anthropic's rule of thumb)."""
    return (len(text) + 3) // 4


@dataclass(frozen=True, slots=True)
class LogDigest:
    lines: list[str]
    kept: list[LogTemplate]
    dropped: int
    tokens: int

    def note(self) -> str | None:
        return f"dropped {self.dropped} less informative templates to fit the token budget" if self.dropped else None


def render_templates(templates: Sequence[LogTemplate], *, token_budget: int, example_chars: int = 160,
                     fmt: callable = lambda t: t.strftime("%H:%M:%SZ")) -> LogDigest:  # type: ignore[valid-type]
    """One line per template, most informative first, until ``token_budget`` is spent. Error
    templates are never dropped for non-errors; when even they do not fit, their examples go."""
    lines: list[str] = []
    kept: list[LogTemplate] = []
    used = 0
    for item in templates:
        ids = ", ".join(item.evidence_ids) if item.evidence_ids else "-"
        head = (f"[{ids}] ×{item.count} {item.level or '-'}{' NEW' if item.new else ''} "
                f"{fmt(item.first_seen)}..{fmt(item.last_seen)} {item.template[:300]}")
        line = f"{head} | e.g. {item.example[:example_chars]}"
        cost = estimate_tokens(line) + 1
        if used + cost > token_budget:
            cost = estimate_tokens(head) + 1  # keep the template, drop the example
            if used + cost > token_budget or not item.is_error:
                continue
            line = head
        lines.append(line)
        kept.append(item)
        used += cost
    return LogDigest(lines=lines, kept=kept, dropped=len(templates) - len(kept), tokens=used)
