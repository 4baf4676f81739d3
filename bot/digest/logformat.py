"""Log lines of every common format → level, message and fields; multi-line events folded into one.

Pure (no I/O). ``parse_line`` reads one line; ``fold_events`` merges a pod's streams by time and
folds stack traces and continuation lines into the event they belong to, whose headline is the
innermost exception (the last line of a Python traceback, the deepest ``Caused by:`` of a Java stack,
else its first line; a Go ``panic:``).

Formats (``Parsed.fmt``)::

    json          {"level":"error","msg":…}; pino/bunyan numeric levels; a nested error.stack / stacktrace
    logfmt        ts=… level=error msg="…" key=value (Go kit, logrus text, Grafana)
    spring        2025-11-25 03:41:06.480  WARN 1 --- [exec-2] c.e.Client  : msg (Boot 2 and 3)
    logback       03:41:06.480 [main] ERROR c.e.App - msg (and log4j's date level [thread] logger - msg)
    python        ERROR:root:msg, asctime - name - LEVEL - msg, Flask's [ts] ERROR in app: msg, Celery
    gunicorn      [2025-11-25 03:41:07 +0000] [42] [CRITICAL] WORKER TIMEOUT (pid:42)
    klog          E1125 03:41:02.117312       7 reflector.go:147] msg (and structured "msg" key="v")
    zap           2025-11-25T03:41:02.117Z<TAB>ERROR<TAB>caller.go:12<TAB>msg<TAB>{"k": "v"}
    zerolog       2025-11-25T03:41:02Z ERR msg key=value (ConsoleWriter, colours stripped)
    access        nginx/Apache combined (and ingress-nginx's upstream fields); 5xx → error, 4xx → warn
    nginx_error   2025/11/25 03:41:09 [error] 29#29: *1 msg, client: …, upstream: "…"
    apache_error  [Tue Nov 25 03:41:09.1 2025] [proxy:error] [pid 1] AH01114: msg
    syslog        RFC 3164 and RFC 5424 (level from the priority)
    text          a timestamp and a level word, then the message
    plain         anything else: the line is the message

No parser library is used: the one logfmt parser on PyPI (``logfmt`` 0.4) has not been released since
2018, and grok patterns are slower than these anchored regexes; the formats are small and fixed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: normalised level names, worst first (``bot.digest.logs.LEVELS`` orders them the same way)
ERROR_LEVELS = frozenset({"fatal", "panic", "critical", "error"})
WARN_LEVELS = frozenset({"warn"})

_LEVEL_WORDS: dict[str, str] = {
    "fatal": "fatal", "ftl": "fatal", "f": "fatal", "emerg": "fatal", "emergency": "fatal",
    "panic": "panic", "pnc": "panic", "dpanic": "panic",
    "critical": "critical", "crit": "critical", "alert": "critical", "severe": "error",
    "error": "error", "err": "error", "e": "error", "eror": "error",
    "warning": "warn", "warn": "warn", "wrn": "warn", "w": "warn",
    "notice": "info", "info": "info", "inf": "info", "i": "info", "information": "info",
    "debug": "debug", "dbg": "debug", "d": "debug", "fine": "debug", "config": "info",
    "trace": "trace", "trc": "trace", "finer": "trace", "finest": "trace",
}
_NUMERIC_LEVELS = ((60, "fatal"), (50, "error"), (40, "warn"), (30, "info"), (20, "debug"), (10, "trace"))
_SYSLOG_SEVERITY = ("fatal", "critical", "critical", "error", "warn", "info", "info", "debug")


def normal_level(value: object) -> str | None:
    """``"ERROR"``, ``"E"``, ``"ERR"``, ``"Warning"``, ``50`` → ``error``/``warn``; None if unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return next((name for floor, name in _NUMERIC_LEVELS if value >= floor), "trace")
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    if word.isdigit():
        return normal_level(int(word))
    return _LEVEL_WORDS.get(word)


@dataclass(frozen=True, slots=True)
class Parsed:
    """One line read: its format, level (normalised, None when the line has none), the human message
    and its other fields (values as text; no time, level or message keys)."""

    fmt: str
    level: str | None
    message: str
    fields: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- one line

_LEVEL = r"(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|SEVERE|CRITICAL|FATAL|PANIC)"
_TS = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

_SPRING = re.compile(
    rf"(?P<ts>{_TS})\s+(?P<level>{_LEVEL})\s+(?P<pid>\d+)\s+---\s+(?:\[(?P<app>[^\]]*)\]\s+)?"
    r"\[\s*(?P<thread>[^\]]*)\]\s+(?P<logger>\S+)\s*:\s(?P<msg>.*)", re.S)
_LOGBACK = re.compile(
    rf"(?P<ts>(?:\d{{4}}-\d\d-\d\d[T ])?\d\d:\d\d:\d\d[.,]\d+)\s+\[(?P<thread>[^\]]+)\]\s+"
    rf"(?P<level>{_LEVEL})\s+(?P<logger>\S+)\s+-\s(?P<msg>.*)", re.S)
_LOG4J = re.compile(
    rf"(?P<ts>{_TS})\s+(?P<level>{_LEVEL})\s+\[(?P<thread>[^\]]+)\]\s+(?P<logger>[\w.$]+)\s*[-:]\s(?P<msg>.*)", re.S)
_PY_DASHES = re.compile(rf"(?P<ts>{_TS})\s+-\s+(?P<logger>\S+)\s+-\s+(?P<level>{_LEVEL})\s+-\s(?P<msg>.*)", re.S)
_PY_BASIC = re.compile(r"(?P<level>CRITICAL|ERROR|WARNING|INFO|DEBUG):(?P<logger>[\w.\-]*):(?P<msg>.*)", re.S)
_UVICORN = re.compile(r"(?P<level>CRITICAL|ERROR|WARNING|INFO|DEBUG):\s+(?P<msg>.*)", re.S)
_FLASK = re.compile(rf"\[(?P<ts>{_TS})\]\s+(?P<level>{_LEVEL})\s+in\s+(?P<logger>[\w.]+):\s?(?P<msg>.*)", re.S)
_CELERY = re.compile(rf"\[(?P<ts>{_TS}):\s+(?P<level>{_LEVEL})/(?P<process>[^\]]+)\]\s(?P<msg>.*)", re.S)
_GUNICORN = re.compile(
    r"\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: [+-]\d{4})?)\]\s+\[(?P<pid>\d+)\]\s+\[(?P<level>[A-Z]+)\]\s(?P<msg>.*)",
    re.S)
_TEXT = re.compile(
    rf"(?P<ts>{_TS})\s*(?:\|\s*)?(?:\[(?P<level1>{_LEVEL})\]|(?P<level2>{_LEVEL}))\s*[:|-]?\s*"
    r"(?:\[(?P<logger>[^\]]{1,80})\]\s*[:-]?\s*)?(?P<msg>.*)", re.S | re.I)
_KLOG = re.compile(
    r"(?P<level>[IWEF])(?P<date>\d{4})\s+(?P<time>\d\d:\d\d:\d\d\.\d+)\s+(?P<tid>\d+)\s+(?P<caller>[^\s\]]+)\]\s(?P<msg>.*)",
    re.S)
_ZEROLOG = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\S+|\d{1,2}:\d\d(?::\d\d)?(?:AM|PM)?)\s+(?P<level>TRC|DBG|INF|WRN|ERR|FTL|PNC)\s+"
    r"(?:(?P<caller>\S+:\d+)\s+>\s+)?(?P<msg>.*)", re.S)
_ACCESS = re.compile(
    r'(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<ts>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<method>[A-Z]+) (?P<path>\S+)(?: (?P<protocol>[^"]*))?" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?(?P<rest>.*)', re.S)
_INGRESS = re.compile(
    r"\s+(?P<request_length>\d+) (?P<request_time>[\d.]+) \[(?P<upstream_name>[^\]]*)\] \[[^\]]*\] "
    r"(?P<upstream_addr>\S+) (?P<upstream_length>\S+) (?P<upstream_time>\S+) (?P<upstream_status>\S+)"
    r"(?: (?P<request_id>\S+))?")
_NGINX_ERROR = re.compile(
    r"(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<cid>\d+) )?(?P<msg>.*)",
    re.S)
_NGINX_CONTEXT = re.compile(r", (client|server|request|upstream|host|referrer|subrequest|port|login): "
                            r'("[^"]*"|[^,]*)')
_APACHE_ERROR = re.compile(
    r"\[(?P<ts>\w{3} \w{3} [\d ]\d [\d:.]+ \d{4})\] \[(?:(?P<module>[\w-]+):)?(?P<level>\w+)\] "
    r"(?:\[pid [^\]]*\] )?(?:\[client (?P<client>[^\]]*)\] )?(?:(?P<code>AH\d+): )?(?P<msg>.*)", re.S)
_SYSLOG_5424 = re.compile(
    r"<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<pid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[[^\]]*\])+) ?(?P<msg>.*)", re.S)
_SYSLOG_3164 = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>\S+) "
    r"(?P<app>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)", re.S)
_LOGFMT_PAIR = re.compile(r'([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|\S*))?')
_LOGFMT_START = re.compile(r'[A-Za-z_@][\w.\-/@]*=(?:"|\S)')
_KV_TAIL = re.compile(r'\s(?=[A-Za-z_][\w.\-]*=(?:"(?:[^"\\]|\\.)*"|\S+)(?:\s+[A-Za-z_][\w.\-]*=(?:"(?:[^"\\]|\\.)*"|\S+))*\s*$)')
_KLOG_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(.*)', re.S)

_MESSAGE_KEYS = ("msg", "message", "@m", "event", "@mt", "textPayload")
_LEVEL_KEYS = ("level", "lvl", "severity", "levelname", "log.level", "@l", "loglevel", "level_name", "@level")
_TIME_KEYS = frozenset({"ts", "time", "timestamp", "@timestamp", "t", "@t", "asctime", "date", "datetime"})
#: fields that hold a stack trace: read for its headline, never shown whole
_STACK_KEYS = frozenset({"stack", "stacktrace", "stack_trace", "exc_info", "exception.stacktrace",
                         "error.stack", "error.stack_trace", "err.stack", "trace.stack"})


def parse_line(line: str) -> Parsed:
    """The line's format, level, message and fields. Never raises; ``plain`` when nothing fits."""
    text = line.rstrip("\r\n")
    if "\x1b[" in text:
        text = _ANSI.sub("", text)
    stripped = text.strip()
    if not stripped:
        return Parsed("plain", None, "")
    first = stripped[0]
    parsed: Parsed | None = None
    if first == "{":
        parsed = _json(stripped)
    elif first == "[":
        parsed = _bracketed(stripped)
    elif first == "<":
        parsed = _syslog(stripped)
    elif first.isdigit():
        parsed = _dated(stripped)
    elif first in "IWEF" and len(stripped) > 5 and stripped[1:5].isdigit():
        parsed = _klog(stripped)
    if parsed is None and first.isalpha():
        parsed = _worded(stripped)
    return parsed or Parsed("plain", None, stripped)


def _json(text: str) -> Parsed | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if "log" in value and isinstance(value["log"], str) and not any(k in value for k in _MESSAGE_KEYS):
        inner = parse_line(value["log"])  # a Docker/CRI json-file wrapper around the real line
        return Parsed(inner.fmt, inner.level, inner.message, inner.fields)
    flat = _flatten(value)
    level = next((normal_level(flat[k]) for k in _LEVEL_KEYS if k in flat and normal_level(flat[k])), None)
    message = next((str(flat[k]) for k in _MESSAGE_KEYS if isinstance(flat.get(k), str)), None)
    fields: dict[str, str] = {}
    for key, item in flat.items():
        if key in _TIME_KEYS or key in _LEVEL_KEYS or key in _MESSAGE_KEYS or item is None:
            continue
        if key in _STACK_KEYS or (isinstance(item, str) and "\n" in item and key.split(".")[-1].startswith("stack")):
            found = headline(str(item))
            if found:
                fields.setdefault("exception", found)
            continue
        fields[key] = item if isinstance(item, str) else json.dumps(item) if isinstance(item, list) else str(item)
    if message is None:
        message = fields.pop("error", None) or fields.pop("err", None) or text
    message, inline = _split_kv(message.strip())
    return Parsed("json", level, message, {**inline, **fields} if inline else fields)


def _flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            out.update(_flatten(item, f"{name}."))
        else:
            out[name] = item
    return out


def _bracketed(text: str) -> Parsed | None:
    if m := _GUNICORN.match(text):
        return Parsed("gunicorn", normal_level(m["level"]), m["msg"].strip(), {})
    if m := _FLASK.match(text):
        return Parsed("python", normal_level(m["level"]), m["msg"].strip(), {"logger": m["logger"]})
    if m := _CELERY.match(text):
        return Parsed("python", normal_level(m["level"]), m["msg"].strip(), {"process": m["process"]})
    if m := _APACHE_ERROR.match(text):
        fields = {k: m[k] for k in ("module", "client", "code") if m[k]}
        return Parsed("apache_error", normal_level(m["level"]) or _apache_level(m["level"]), m["msg"].strip(), fields)
    return None


def _apache_level(word: str) -> str | None:
    return "debug" if word.startswith("trace") else None


def _syslog(text: str) -> Parsed | None:
    m = _SYSLOG_5424.match(text) or _SYSLOG_3164.match(text)
    if m is None:
        return None
    level = _SYSLOG_SEVERITY[int(m["pri"]) % 8] if m["pri"] else None
    fields = {"hostname": m["host"], "app": m["app"]}  # the sender, like a pod: not what the line is about
    message = m["msg"].strip()
    inner = parse_line(message) if message else None
    if inner is not None and inner.fmt != "plain":  # a structured line sent through syslog
        return Parsed("syslog", inner.level or level, inner.message, {**fields, **inner.fields})
    return Parsed("syslog", level, message, fields)


def _dated(text: str) -> Parsed | None:
    if "\t" in text and (zap := _zap(text)):
        return zap
    if m := _SPRING.match(text):
        return _with_pairs("spring", m["level"], m["msg"], {"logger": m["logger"]})
    if m := _LOGBACK.match(text):
        return _with_pairs("logback", m["level"], m["msg"], {"logger": m["logger"]})
    if m := _LOG4J.match(text):
        return _with_pairs("logback", m["level"], m["msg"], {"logger": m["logger"]})
    if m := _PY_DASHES.match(text):
        return _with_pairs("python", m["level"], m["msg"], {"logger": m["logger"]})
    if m := _ZEROLOG.match(text):
        message, fields = _split_kv(m["msg"])
        return Parsed("zerolog", normal_level(m["level"]), message, fields)
    if m := _NGINX_ERROR.match(text):
        return _nginx_error(m)
    if m := _ACCESS.match(text):
        return _access(m)
    if m := _TEXT.match(text):
        level = normal_level(m["level1"] or m["level2"])
        message, fields = _split_kv(m["msg"].strip())
        fmt = "python" if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}$", m["ts"]) else "text"
        if m["logger"]:
            fields = {"logger": m["logger"], **fields}
        return Parsed(fmt, level, message, fields)
    return None


def _with_pairs(fmt: str, level: str, text: str, fields: dict[str, str]) -> Parsed:
    """A message with trailing ``key=value`` pairs (``lookup failed invoiceId=INV-1``): the pairs
    become fields, so the message reads (and templates) the same in every format."""
    message, pairs = _split_kv(text.strip())
    return Parsed(fmt, normal_level(level), message or text.strip(), {**fields, **pairs})


def _zap(text: str) -> Parsed | None:
    parts = [p for p in text.split("\t")]
    if len(parts) < 3 or normal_level(parts[1]) is None:
        return None
    fields: dict[str, str] = {}
    rest = parts[2:]
    if rest and rest[-1].lstrip().startswith("{"):
        try:
            extra = json.loads(rest[-1])
        except ValueError:
            extra = None
        if isinstance(extra, dict):
            for key, item in _flatten(extra).items():
                if key in _STACK_KEYS:
                    continue
                fields[key] = item if isinstance(item, str) else str(item)
            rest = rest[:-1]
    callers = [p for p in rest if re.fullmatch(r"\S+\.go:\d+", p)]
    others = [p for p in rest if p not in callers]
    if len(others) > 1:
        fields = {"logger": others[0], **fields}
        others = others[1:]
    return Parsed("zap", normal_level(parts[1]), " ".join(others).strip(), fields)


def _klog(text: str) -> Parsed | None:
    m = _KLOG.match(text)
    if m is None:
        return None
    message, fields = m["msg"].strip(), {"caller": m["caller"]}
    if message.startswith('"') and (q := _KLOG_QUOTED.fullmatch(message)):  # structured: "msg" key="value"
        kv = _logfmt(q[2]) if q[2] else {}
        if q[2] == "" or kv:
            message = q[1].replace('\\"', '"')
            fields.update(kv)
    else:
        message, pairs = _split_kv(message)
        fields.update(pairs)
    return Parsed("klog", normal_level(m["level"]), message, fields)


def _nginx_error(m: re.Match[str]) -> Parsed:
    body = m["msg"]
    fields: dict[str, str] = {}
    context = _NGINX_CONTEXT.search(body)
    if context:
        for key, item in _NGINX_CONTEXT.findall(body[context.start():]):
            fields[key] = item.strip('"')
        body = body[:context.start()]
    return Parsed("nginx_error", normal_level(m["level"]), body.strip(), fields)


def _access(m: re.Match[str]) -> Parsed:
    status = int(m["status"])
    level = "error" if status >= 500 else "warn" if status >= 400 else "info"
    fields = {"status": m["status"], "method": m["method"], "path": m["path"], "client": m["client"]}
    if m["agent"]:
        fields["agent"] = m["agent"]
    if m["rest"] and (ingress := _INGRESS.match(m["rest"])):
        for key in ("upstream_name", "upstream_addr", "upstream_status", "request_time", "request_id"):
            if ingress[key] and ingress[key] != "-":
                fields[key] = ingress[key]
    return Parsed("access", level, f"{m['method']} {m['path']} {status}", fields)


def _worded(text: str) -> Parsed | None:
    if m := _PY_BASIC.match(text):
        return Parsed("python", normal_level(m["level"]), m["msg"].strip(), {"logger": m["logger"]} if m["logger"] else {})
    if m := _UVICORN.match(text):
        return Parsed("python", normal_level(m["level"]), m["msg"].strip(), {})
    if _LOGFMT_START.match(text):
        pairs = _logfmt(text)
        if len(pairs) >= 2 or any(k in pairs for k in ("msg", "level", "lvl")):
            return _from_pairs(pairs, text)
    if m := _SYSLOG_3164.match(text):
        return _syslog(text)
    if m := _ACCESS.match(text):
        return _access(m)
    return None


def _logfmt(text: str) -> dict[str, str]:
    """``key=value key="quoted value" bare`` → dict; {} unless most of the text is pairs."""
    pairs: dict[str, str] = {}
    bare = 0
    for m in _LOGFMT_PAIR.finditer(text):
        key, value = m.group(1), m.group(2)
        if value is None:
            bare += 1
            continue
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        pairs[key] = value
    return pairs if pairs and bare <= len(pairs) else {}


def _from_pairs(pairs: dict[str, str], text: str) -> Parsed:
    level = next((normal_level(pairs[k]) for k in _LEVEL_KEYS if k in pairs and normal_level(pairs[k])), None)
    message = next((pairs[k] for k in _MESSAGE_KEYS if k in pairs), None)
    fields = {k: v for k, v in pairs.items()
              if k not in _TIME_KEYS and k not in _LEVEL_KEYS and k not in _MESSAGE_KEYS}
    if message is None:
        message = fields.pop("error", None) or fields.pop("err", None) or text
    message, inline = _split_kv(message.strip())
    return Parsed("logfmt", level, message, {**inline, **fields} if inline else fields)


def _split_kv(text: str) -> tuple[str, dict[str, str]]:
    """``msg words key=value k2="v 2"`` → (``msg words``, pairs) when the tail is only pairs."""
    if "=" not in text:
        return text, {}
    m = _KV_TAIL.search(text)
    if m is None:
        if _LOGFMT_START.match(text):  # only pairs
            pairs = _logfmt(text)
            message = pairs.pop("msg", None) or pairs.pop("message", None) or pairs.pop("error", None) or text
            return message, pairs
        return text, {}
    return text[:m.start()].strip(), _logfmt(text[m.end():])


# --------------------------------------------------------------------------- stack traces

_PY_TRACEBACK = "Traceback (most recent call last):"
_PY_CHAIN = ("During handling of the above exception, another exception occurred:",
             "The above exception was the direct cause of the following exception:")
#: ``pkg.mod.ClassName: message`` (Java, Python, .NET), or ``ClassName: message`` inside a traceback
_QUALIFIED_EXC = re.compile(r"(?:[a-zA-Z_][\w$]*\.)+[A-Z][\w$]*(?::\s.*)?")
_BARE_EXC = re.compile(r"[A-Z][\w]*(?:\.[A-Z][\w]*)*(?::\s.*)?|[a-z_][\w.]*\.[A-Z]\w*(?::\s.*)?")
_EXC_WORD = re.compile(r"(?:Error|Exception|Exit|Interrupt|Timeout|Failure|Fault|Throwable|Warning|Iteration)\b")
_JAVA_MORE = re.compile(r"\.\.\. \d+ (?:more|common frames omitted)")
_GO_FRAME = re.compile(r"(?:goroutine \d+ \[[^\]]*\]:|created by .*|[\w./*()\-\[\]{}]+\(.*\)|exit status \d+"
                       r"|\[signal .*\])")
_JAVA_START = re.compile(r'Exception in thread "[^"]*" ')


def headline(text: str) -> str | None:
    """The innermost exception of a stack trace (its lines joined by newlines, or flattened onto one
    line): the last exception of a Python traceback, the deepest ``Caused by:`` of a Java stack, else
    the stack's first exception line; a Go ``panic:``. None when ``text`` holds no exception."""
    raw = text.splitlines()
    if len(raw) <= 1:
        return _flat_headline(text)
    lines = [ln.strip() for ln in raw]
    caused = [ln[len("Caused by: "):] for ln in lines if ln.startswith("Caused by: ")]
    if caused:
        return caused[-1]
    if any(ln.startswith(_PY_TRACEBACK) for ln in lines):  # the last unindented exception line
        after = [ln.strip() for ln in raw if ln[:1] not in ("", " ", "\t") and _exception_line(ln.strip(), bare=True)]
        return after[-1] if after else None
    for ln in lines:
        if ln.startswith("panic: "):
            return ln
        candidate = _JAVA_START.sub("", ln)
        if _exception_line(candidate, bare=True) and _EXC_WORD.search(candidate.split(":")[0]):
            return candidate
    return None


_FLAT_PY = re.compile(r"Traceback \(most recent call last\):.*File \"[^\"]*\", line \d+.*?"
                      r"\s((?:[a-zA-Z_]\w*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Timeout|Warning|Failure)"
                      r"(?::\s.*)?)$", re.S)
_FLAT_JAVA = re.compile(r"(?:^|\s)((?:[a-z_][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)[\w$]*(?::\s.*?)?)(?=\s+at\s[\w$.<>]+\(|$)")
_FLAT_CAUSED = re.compile(r"Caused by: ((?:[a-zA-Z_][\w$]*\.)+[A-Z][\w$]*(?::\s(?:(?!\sat\s|\s\.\.\.\s\d+\s|\sCaused by: ).)*)?)")


def _flat_headline(text: str) -> str | None:
    if "Caused by: " in text:
        found = _FLAT_CAUSED.findall(text)
        if found:
            return found[-1].strip()
    if _PY_TRACEBACK in text and (m := _FLAT_PY.search(text)):
        return m.group(1).strip()
    if " at " in text and (m := _FLAT_JAVA.search(text)):
        return m.group(1).strip()
    return None


def describe(text: str) -> Parsed:
    """``parse_line``, and for a folded event (its lines joined by newlines, or flattened onto one
    line by a whitespace normaliser) the innermost exception as the message, the first line's
    message kept as the ``logged`` field. An event with a stack and no level word is an error (a
    Go ``panic:`` a panic), as ``fold_events`` reads it."""
    first, _, rest = text.partition("\n")
    parsed = parse_line(first)
    if rest.strip():
        found = headline(text)
    elif "Traceback (most recent" in first or "Caused by: " in first or " at " in first:
        found = _flat_headline(first)
    else:
        return parsed
    if not found:
        return parsed
    level = parsed.level or ("panic" if found.startswith("panic: ") else "error")
    if found == parsed.message:
        return parsed if parsed.level else Parsed(parsed.fmt, level, parsed.message, parsed.fields)
    logged = parsed.message.split(" Traceback (most recent")[0]
    if found in logged:
        logged = logged[: logged.index(found)].strip()
    fields = {"logged": logged, **parsed.fields} if logged else parsed.fields
    return Parsed(parsed.fmt, level, found, fields)


def _exception_line(line: str, *, bare: bool) -> bool:
    if _QUALIFIED_EXC.fullmatch(line):
        return True
    return bare and bool(_BARE_EXC.fullmatch(line)) and bool(_EXC_WORD.search(line.split(":")[0]) or ":" not in line)


# --------------------------------------------------------------------------- folding


@dataclass(slots=True)
class LogEvent:
    """One event: a line, or a stack trace with the lines it folds. ``message`` is the headline (the
    innermost exception) when the event folds a stack; ``fields`` those of its first line, with
    ``logged`` = the first line's own message when the headline replaced it."""

    at: datetime
    lines: list[str]
    labels: dict[str, str]
    fmt: str
    level: str | None
    message: str
    fields: dict[str, str]
    last_at: datetime
    state: str = "line"  # line | python | java | go | text: what a next line may continue

    @property
    def folded(self) -> int:
        return len(self.lines)

    @property
    def raw(self) -> str:
        return "\n".join(self.lines)


#: lines further apart than this never fold into one event
FOLD_GAP = timedelta(seconds=2)
_STREAM_LABELS = ("namespace", "pod", "container")
_LEVEL_LABELS = frozenset({"level", "detected_level", "stream", "severity", "lvl"})


def stream_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """What one writer's lines share: namespace/pod/container when the labels have a pod, else every
    label except the per-line level guesses (Loki 3's ``detected_level``) and stdout/stderr."""
    if "pod" in labels:
        return tuple((k, labels[k]) for k in _STREAM_LABELS if k in labels)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in _LEVEL_LABELS))


def label_level(labels: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(an explicit ``level`` label, Loki 3's guessed ``detected_level``), normalised."""
    explicit = normal_level(labels.get("level") or labels.get("severity") or labels.get("lvl") or "")
    detected = normal_level(labels.get("detected_level") or "")
    return explicit, detected


def line_level(parsed: Parsed, labels: Mapping[str, str]) -> str | None:
    """A ``level`` label set by the pipeline, else the line's own, else Loki's ``detected_level``."""
    explicit, detected = label_level(labels)
    return explicit or parsed.level or detected


def fold_events(entries: Iterable[tuple[datetime, str, Mapping[str, str]]]) -> list[LogEvent]:
    """``(time, line, stream labels)`` of any streams, in any order → events, oldest first.

    Each writer's (pod/container) lines are merged across streams and sorted by time, then stack
    traces (Python tracebacks with 3.11 ``^^^`` lines, Java ``at …``/``Caused by:``/``... N more``,
    Go ``goroutine``/panic stacks) and indented continuation lines fold into the event before them."""
    by_stream: dict[tuple[tuple[str, str], ...], list[tuple[datetime, int, str, Mapping[str, str]]]] = {}
    for i, (at, line, labels) in enumerate(entries):
        by_stream.setdefault(stream_key(labels), []).append((at, i, line, labels))
    events: list[LogEvent] = []
    for items in by_stream.values():
        items.sort(key=lambda item: (item[0], item[1]))
        current: LogEvent | None = None
        for at, _, line, labels in items:
            if current is not None and at - current.last_at <= FOLD_GAP and _continues(current, line, labels):
                current.last_at = at
                continue
            current = _start(at, line, labels)
            events.append(current)
    for event in events:
        _finish(event)
    events.sort(key=lambda e: e.at)
    return events


def _start(at: datetime, line: str, labels: Mapping[str, str]) -> LogEvent:
    parsed = parse_line(line)
    text = line.strip()
    state = "line"
    if text.startswith(_PY_TRACEBACK):
        state = "python"
    elif text.startswith("panic: ") or text.startswith("fatal error: "):
        state = "go"
    elif _JAVA_START.match(text) or (parsed.fmt == "plain" and _QUALIFIED_EXC.fullmatch(text)
                                     and _EXC_WORD.search(text.split(":")[0])):
        state = "java"
    level = line_level(parsed, labels)
    if state == "go" and level is None:
        level = "panic" if text.startswith("panic: ") else "fatal"
    return LogEvent(at=at, lines=[line.rstrip("\r\n")], labels=dict(labels), fmt=parsed.fmt, level=level,
                    message=parsed.message, fields=parsed.fields, last_at=at, state=state)


def _continues(event: LogEvent, line: str, labels: Mapping[str, str]) -> bool:
    """Whether ``line`` belongs to ``event`` (and if so, add it)."""
    raw = line.rstrip("\r\n")
    text = raw.strip()
    state = event.state
    kind: str | None = None
    if not text:
        kind = state if state != "line" else None
    elif raw[0] in " \t":
        kind = state if state != "line" else "text"  # a frame, a code line, ^^^ or an indented continuation
    elif text.startswith(_PY_TRACEBACK):
        if state == "python" or _may_have_stack(event):
            kind = "python"
    elif text.startswith(_PY_CHAIN):  # also after an exception line found without its frames
        kind = "python" if state in ("python", "java") else None
    elif text.startswith(("Caused by: ", "Suppressed: ")) or _JAVA_MORE.fullmatch(text):
        kind = "java" if state in ("java", "line") else None
    elif state == "python" and _exception_line(text, bare=True):
        kind = "python"
    elif state == "go" and _GO_FRAME.fullmatch(text):
        kind = "go"
    elif _QUALIFIED_EXC.fullmatch(text) and _EXC_WORD.search(text.split(":")[0]) and \
            (state == "java" or _may_have_stack(event)) and parse_line(text).fmt == "plain":
        kind = "java"
    if kind is None:
        return False
    event.lines.append(raw)
    event.state = kind
    explicit, detected = label_level(labels)
    if (labelled := explicit or detected) in ERROR_LEVELS:
        event.level = _worse(event.level, labelled)
    return True


def _may_have_stack(event: LogEvent) -> bool:
    """A log record that may be followed by its exception: an error or warning line (or a line of an
    unknown level) whose next lines would be its stack."""
    return event.state != "line" or event.level in ERROR_LEVELS or event.level in WARN_LEVELS or event.level is None


def _finish(event: LogEvent) -> None:
    if len(event.lines) <= 1:
        return
    first = event.message
    found = headline(event.raw)
    if found and found != first:
        event.message = found
        if first:
            event.fields = {"logged": first, **event.fields}
    if event.level is None and found:
        event.level = "error"


_ORDER = {name: i for i, name in enumerate(("fatal", "panic", "critical", "error", "warn", "info", "debug", "trace"))}


def _worse(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if _ORDER.get(a, 99) <= _ORDER.get(b, 99) else b


# --------------------------------------------------------------------------- change lines

_CONFIG_WORDS = re.compile(
    r"\b(?:deprecated|is ignored|ignoring (?:the )?(?:setting|option|property|config|flag|value)|overrid(?:den|es|ing)"
    r"|no longer supported|unknown (?:config|setting|option|property|flag)|falling back to (?:the )?default"
    r"|using default|configur(?:ed|ation|ing)|settings? (?:loaded|applied|changed)|feature[ _-]?flags?"
    r"|(?:flag|toggle) \S+ (?:is )?(?:on|off|enabled|disabled|set)|(?:enabled|disabled) (?:feature|flag)"
    r"|starting .{0,60}\bv(?:ersion)?\s*[=:]?\s*v?\d+(?:\.\d+)+|version\s*[=:]?\s*v?\d+\.\d+(?:\.\d+)?"
    r"|(?:timeout|pool[ _-]?size|max[ _-]?(?:pool|conn\w*|idle|open|retries|size|threads|workers|requests)"
    r"|min[ _-]?idle|limit|quota|retries|concurrency|batch[ _-]?size|ttl|keep-?alive|replicas|workers|threads)"
    r"\s*(?:=|:|\bset to\b|\bis\b|\bof\b)\s*\S)", re.I)
_CONFIG_KEYS = re.compile(
    r"(?:^|[._-])(?:timeout|pool(?:_?size|_?max|_?min)?|max_?\w+|min_?idle|limit\w*|quota|retries|concurrency"
    r"|batch_?size|ttl|keepalive|feature\w*|flag\w*|version|config\w*|setting\w*|replicas|workers|threads)$", re.I)


def is_config(parsed: Parsed, level: str | None) -> bool:
    """A non-error line that sets or reports configuration: a client's timeout or pool size, a limit,
    a feature flag, a setting reported as ignored/deprecated/overridden, ``starting … version …``."""
    if level in ERROR_LEVELS or parsed.fmt == "access":
        return False
    if _CONFIG_WORDS.search(parsed.message):
        return True
    keys = [k for k in parsed.fields if k not in ("logger", "caller", "status", "duration_ms", "duration")]
    found = sum(1 for k in keys if _CONFIG_KEYS.search(k))
    return found >= 2 or found == 1 and bool(
        re.search(r"\b(?:start|boot|init|config|load|set|using|appl|flag|version|client|pool)", parsed.message, re.I))


# --------------------------------------------------------------------------- what a reader sees

#: fields never worth a reader's attention in a one-line summary
_NOISE_FIELDS = frozenset({"logger", "caller", "pid", "tid", "thread", "process", "agent", "referer", "referrer",
                           "source", "file", "line", "func", "function", "hostname", "host.name", "v", "name",
                           "pod", "pod_name", "container", "container_name", "namespace", "node", "instance",
                           "app", "ecs.version", "logging.googleapis.com/trace", "logging.googleapis.com/spanId",
                           "logging.googleapis.com/trace_sampled"})
_FIRST_FIELDS = ("exception", "error", "err", "error.kind", "error.message", "error.type", "reason", "status",
                 "upstream_status", "upstream", "upstream_name", "upstream_addr", "logged")
_LONG_FIELDS = frozenset({"exception", "error", "err", "error.message", "reason", "upstream", "logged"})


def key_fields(fields: Mapping[str, str], *, message: str = "", limit: int = 6) -> list[tuple[str, str]]:
    """A few fields worth showing beside the message: errors and statuses first; no times, threads,
    pids, callers or user agents; none whose value the message already says."""
    keys = [k for k in _FIRST_FIELDS if k in fields]
    keys += [k for k in fields if k not in keys]
    out: list[tuple[str, str]] = []
    for key in keys:
        value = fields[key]
        short = key.rsplit(".", 1)[-1]
        if key in _NOISE_FIELDS or short in _NOISE_FIELDS or key in _TIME_KEYS or not value:
            continue
        if short.endswith(("_id", "Id")) and short not in ("trace_id", "invoice_id", "order_id"):
            continue  # request and session ids: a different one on every line
        value = " ".join(value.split())
        if value in message.split() or len(value) >= 4 and (value in message or any(value in shown for _, shown in out)):
            continue
        width = 160 if key in _LONG_FIELDS else 40
        value = value if len(value) <= width else value[: width - 1] + "…"
        out.append((key, value))
        if len(out) == limit:
            break
    return out


def summary(message: str, fields: Mapping[str, str], *, limit: int = 6) -> str:
    """``message (key=value key2="two words")``: what a reader needs of the line."""
    pairs = key_fields(fields, message=message, limit=limit)
    if not pairs:
        return message
    shown = " ".join(f'{k}="{v}"' if " " in v else f"{k}={v}" for k, v in pairs)
    return f"{message} ({shown})"
