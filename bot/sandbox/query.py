"""Just enough of LogQL, PromQL and the upstreams' time formats for the fakes to answer real queries.

LogQL: a stream selector, line filters (``|=``, ``!=``, ``|~``, ``!~``), ``| json`` / ``| logfmt`` and
label filters; metric queries ``[sum|count|... [by (…)]] (count_over_time|rate|…(<log query> [range]))``.
PromQL: no evaluation, only which scenario series a query asks for (by metric name) and its label
matchers. Anything we cannot read raises ``QueryError`` with the upstream's wording.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

#: ``re`` and RE2 agree on what Loki queries use in practice ((?i), groups, alternation, classes)
Regex = re.Pattern[str]


class QueryError(ValueError):
    """A query or parameter the upstream would reject with HTTP 400."""


# --------------------------------------------------------------------------- times and durations

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_PROM_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PROM_UNITS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
               "y": 31536000.0}


def _duration(text: str, pattern: re.Pattern[str], units: Mapping[str, float]) -> float | None:
    text = text.strip()
    pos, total = 0, 0.0
    while pos < len(text):
        match = pattern.match(text, pos)
        if match is None:
            return None
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    return total if text else None


def go_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` (``500ms``, ``1.5s``, ``1m30s``) in seconds; Jaeger's format."""
    value = _duration(text, _GO_DURATION, _GO_UNITS)
    if value is None:
        raise QueryError(f'time: invalid duration "{text}"')
    return value


def prom_duration(text: str) -> float:
    """A Prometheus duration (``5m``, ``1h30m``) or float seconds, in seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    value = _duration(text, _PROM_DURATION, _PROM_UNITS)
    if value is None:
        raise QueryError(f'cannot parse "{text}" to a valid duration')
    return value


def unix_seconds(text: str) -> float:
    """Prometheus' time parameter: unix seconds (float) or RFC3339."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise QueryError(f'cannot parse "{text}" to a valid timestamp') from None


def loki_time_ns(text: str) -> int:
    """Loki's start/end: unix nanoseconds, unix seconds (with a fraction or ≤ 12 digits) or RFC3339."""
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        value = int(text)
        return value * 1_000_000_000 if value < 10**12 else value
    try:
        return int(round(float(text) * 1e9))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f'cannot parse "{text}" to a valid timestamp') from None
    return int(round(moment.timestamp() * 1e9))


# --------------------------------------------------------------------------- label matchers

Op = Literal["=", "!=", "=~", "!~"]
_STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'
_MATCHER = re.compile(rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*")


def unquote(literal: str) -> str:
    """A Go string literal (``"a\\"b"`` or a raw `` `a` ``) to its value."""
    if literal.startswith("`"):
        return literal[1:-1]
    try:
        value = json.loads(literal)
    except json.JSONDecodeError:
        raise QueryError(f"invalid string literal {literal}") from None
    return str(value)


def compile_regex(pattern: str) -> Regex:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise QueryError(f"error parsing regexp: {exc}: `{pattern}`") from None


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    regex: Regex | None = None

    @classmethod
    def of(cls, name: str, op: str, value: str) -> Matcher:
        regex = compile_regex(value) if op in ("=~", "!~") else None
        return cls(name, op, value, regex)  # type: ignore[arg-type]

    def matches(self, value: str | None) -> bool:
        value = value or ""
        match self.op:
            case "=":
                return value == self.value
            case "!=":
                return value != self.value
            case "=~":
                return self.regex is not None and self.regex.fullmatch(value) is not None
            case _:
                return self.regex is not None and self.regex.fullmatch(value) is None


def parse_matchers(body: str, *, col: int = 1) -> list[Matcher]:
    """``a="x", b=~"y"`` (the inside of ``{...}``)."""
    matchers: list[Matcher] = []
    pos = 0
    while pos < len(body) and body[pos:].strip():
        match = _MATCHER.match(body, pos)
        if match is None:
            raise QueryError(f"parse error at line 1, col {col + pos}: syntax error: unexpected "
                             f"IDENTIFIER, expecting STRING")
        matchers.append(Matcher.of(match.group(1), match.group(2), unquote(match.group(3))))
        pos = match.end()
        if pos < len(body):
            if body[pos] != ",":
                raise QueryError(f"parse error at line 1, col {col + pos}: syntax error: "
                                 f"unexpected {body[pos]!r}, expecting , or }}")
            pos += 1
    return matchers


# --------------------------------------------------------------------------- LogQL


@dataclass(frozen=True, slots=True)
class LineFilter:
    op: Literal["|=", "!=", "|~", "!~"]
    value: str
    regex: Regex | None = None

    def keeps(self, line: str) -> bool:
        match self.op:
            case "|=":
                return self.value in line
            case "!=":
                return self.value not in line
            case "|~":
                return self.regex is not None and self.regex.search(line) is not None
            case _:
                return self.regex is not None and self.regex.search(line) is None


@dataclass(frozen=True, slots=True)
class LabelFilter:
    name: str
    op: str  # = == != =~ !~ > >= < <=
    value: str
    regex: Regex | None = None

    def keeps(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op in (">", ">=", "<", "<="):
            try:
                left, right = float(actual), float(self.value)
            except ValueError:
                return False
            return {">": left > right, ">=": left >= right, "<": left < right,
                    "<=": left <= right}[self.op]
        op = "=" if self.op == "==" else self.op
        return Matcher(self.name, op, self.value, self.regex).matches(actual)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class LogQuery:
    selector: list[Matcher]
    line_filters: list[LineFilter] = field(default_factory=list)
    parser: str | None = None  # json | logfmt
    label_filters: list[LabelFilter] = field(default_factory=list)

    def selects(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name)) for m in self.selector)

    def keeps(self, labels: Mapping[str, str], line: str) -> bool:
        if not all(f.keeps(line) for f in self.line_filters):
            return False
        if not self.label_filters:
            return True
        return all(f.keeps({**labels, **extracted_labels(line, self.parser)}) for f in self.label_filters)


@dataclass(frozen=True, slots=True)
class MetricQuery:
    log: LogQuery
    function: str  # count_over_time | rate | bytes_over_time | bytes_rate
    range_s: float
    aggregation: str | None = None  # sum | count | max | min | avg
    by: tuple[str, ...] | None = None  # grouping labels; None = keep every label


_LINE_FILTER = re.compile(rf"\s*(\|=|!=|\|~|!~)\s*({_STRING})")
_PARSER = re.compile(r"\s*\|\s*(json|logfmt|unpack|decolorize)\b([^|]*)")
_IGNORED_STAGE = re.compile(rf"\s*\|\s*(line_format|label_format|pattern|regexp|drop|keep)\s+"
                            rf"(?:{_STRING}|[^|])*")
_LABEL_FILTER = re.compile(rf"\s*\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|=~|!~|!=|>=|<=|=|>|<)\s*"
                           rf"({_STRING}|[0-9.]+[a-z]*)")
_AGGREGATE = re.compile(r"^\s*(sum|count|max|min|avg)\s*(?:(by|without)\s*\(([^)]*)\))?\s*\((.*?)\)"
                        r"\s*(?:(by|without)\s*\(([^)]*)\))?\s*$", re.S)
_RANGE_FUNCTION = re.compile(r"^\s*(count_over_time|rate|bytes_over_time|bytes_rate)\s*\((.*)"
                             r"\[\s*([0-9]+[a-z]+)\s*\]\s*\)\s*$", re.S)


def parse_logql(text: str) -> LogQuery | MetricQuery:
    """Parse a log or simple metric query, or raise ``QueryError`` (Loki's 400 wording)."""
    if not text.strip():
        raise QueryError("parse error : syntax error: unexpected $end")
    aggregation: str | None = None
    by: tuple[str, ...] | None = None
    inner = text
    if agg := _AGGREGATE.match(text):
        aggregation = agg.group(1)
        inner = agg.group(4)
        labels = agg.group(3) if agg.group(3) is not None else agg.group(6)
        kind = agg.group(2) or agg.group(5)
        if kind == "by" and labels is not None:
            by = tuple(part.strip() for part in labels.split(",") if part.strip())
        else:
            by = ()
    if fn := _RANGE_FUNCTION.match(inner):
        log = _parse_log_query(fn.group(2))
        return MetricQuery(log, fn.group(1), prom_duration(fn.group(3)), aggregation, by)
    if aggregation is not None:
        raise QueryError("parse error : syntax error: unexpected aggregation, expecting range function")
    return _parse_log_query(text)


def _parse_log_query(text: str) -> LogQuery:
    stripped = text.lstrip()
    col = len(text) - len(stripped) + 1
    if not stripped.startswith("{"):
        raise QueryError(f"parse error at line 1, col {col}: syntax error: unexpected IDENTIFIER")
    close = _closing_brace(stripped)
    selector = parse_matchers(stripped[1:close], col=col + 1)
    if not any(m.op in ("=", "=~") and not m.matches("") for m in selector):
        raise QueryError("parse error : queries require at least one regexp or equality matcher that "
                         "does not have an empty-compatible value. For instance, app=~\".*\" does not "
                         "meet this requirement, but app=~\".+\" will")
    rest = stripped[close + 1:]
    line_filters: list[LineFilter] = []
    label_filters: list[LabelFilter] = []
    parser: str | None = None
    pos = 0
    while rest[pos:].strip():
        if match := _LINE_FILTER.match(rest, pos):
            op, value = match.group(1), unquote(match.group(2))
            regex = compile_regex(value) if op in ("|~", "!~") else None
            line_filters.append(LineFilter(op, value, regex))  # type: ignore[arg-type]
        elif match := _PARSER.match(rest, pos):
            parser = match.group(1)
        elif match := _IGNORED_STAGE.match(rest, pos):
            pass
        elif match := _LABEL_FILTER.match(rest, pos):
            op, raw = match.group(2), match.group(3)
            value = unquote(raw) if raw[0] in "\"`" else raw
            regex = compile_regex(value) if op in ("=~", "!~") else None
            label_filters.append(LabelFilter(match.group(1), op, value, regex))
        else:
            raise QueryError(f"parse error at line 1, col {col + close + 1 + pos}: syntax error: "
                             f"unexpected {rest[pos:].strip()[:12]!r}")
        pos = match.end()
    return LogQuery(selector, line_filters, parser, label_filters)


def _closing_brace(text: str) -> int:
    quote: str | None = None
    escaped = False
    for i, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"`":
            quote = char
        elif char == "}":
            return i
    raise QueryError("parse error : syntax error: unexpected $end, expecting } or ,")


def extracted_labels(line: str, parser: str | None) -> dict[str, str]:
    """The labels ``| json`` / ``| logfmt`` would add (top-level keys only)."""
    if parser == "json":
        try:
            fields = json.loads(line)
        except json.JSONDecodeError:
            return {"__error__": "JSONParserErr"}
        if not isinstance(fields, dict):
            return {}
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    if parser == "logfmt":
        return {m.group(1): m.group(2).strip('"') for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', line)}
    return {}


# --------------------------------------------------------------------------- PromQL

#: query metric name → the scenario series it asks for, first match wins
_SERIES_BY_METRIC: tuple[tuple[str, str], ...] = (
    ("kube_pod_container_status_last_terminated_reason", "oom_killed"),
    ("kube_pod_container_status_restarts_total", "restarts"),
    ("container_cpu_cfs_throttled", "cpu_throttling"),
    ("container_cpu", "cpu"),
    ("container_spec_memory_limit", "memory_vs_limit"),
    ("container_memory", "memory"),
    ("kube_horizontalpodautoscaler", "hpa_at_max"),
    ("node_filesystem_avail", "filesystem_available"),
    ("probe_ssl_earliest_cert_expiry", "cert_expiry_days"),
    ("probe_success", "probe_success"),
    ("http_request_duration_seconds", "p99_latency"),
)
_FIVE_XX = re.compile(r"""\b(?:code|status|status_code)\s*=~?\s*["']5""")
_PROM_MATCHER = re.compile(rf"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING}|'(?:[^'\\]|\\.)*')")
#: labels that say nothing about which service a query is about
NON_SERVICE_LABELS = frozenset({
    "code", "status", "status_code", "le", "quantile", "method", "handler", "route", "path", "uri",
    "instance", "pod", "container", "image", "id", "le", "__name__", "cpu", "device", "interface",
    "reason", "resource", "unit", "fstype", "mountpoint", "condition",
})


def promql_series(query: str) -> str | None:
    """Which scenario series a PromQL query asks for, by the metric names in it."""
    for metric, series in _SERIES_BY_METRIC:
        if metric in query:
            return series
    if "http_requests_total" in query:
        if _FIVE_XX.search(query):
            return "error_ratio" if "/" in query else "error_rate"
        return "request_rate"
    if re.fullmatch(r"\s*up\s*(\{.*\})?\s*", query, re.S):
        return "up"
    return None


def promql_matchers(query: str) -> list[Matcher]:
    """Every label matcher inside ``{...}`` of the query."""
    matchers: list[Matcher] = []
    for body in re.findall(r"\{([^{}]*)\}", query):
        for match in _PROM_MATCHER.finditer(body):
            literal = match.group(3)
            value = literal[1:-1] if literal.startswith("'") else unquote(literal)
            matchers.append(Matcher.of(match.group(1), match.group(2), value))
    return matchers


def check_promql(query: str) -> None:
    """Reject what Prometheus would not parse: empty, unbalanced brackets or quotes."""
    if not query.strip():
        raise QueryError('invalid parameter "query": 1:1: parse error: no expression found in input')
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    quote: str | None = None
    escaped = False
    for i, char in enumerate(query, start=1):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in ")]}":
            if not stack or stack.pop() != pairs[char]:
                raise QueryError(f'invalid parameter "query": 1:{i}: parse error: unexpected '
                                 f'"{char}"')
    if quote or stack:
        raise QueryError(f'invalid parameter "query": 1:{len(query)}: parse error: unexpected end '
                         f"of input")
