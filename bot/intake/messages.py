"""Alert messages posted in Slack (by other bots, or by people) → ``Alert``s.

``parse_slack_message(event, known_services=...)`` takes the ``event`` of an Events API
``message`` callback. Alerting products mostly post **legacy attachments** with an empty top-level
``text``; newer apps post blocks (sometimes inside an attachment). The message is flattened
(title, text, fields, links; Slack's ``<url|label>`` markup and ``&amp;`` escapes undone), the
product is recognised (sender name, then the link of the title, then the title's shape) and read by
its parser. Default shapes each parser expects, from the products' templates and documentation:

* **Alertmanager** ``slack_configs`` (prometheus/alertmanager ``template/default.tmpl``): title
  ``[FIRING:1] HighLatencyP99 (prod-eu1 shop checkout critical)``: the group labels' *values*, then
  in parentheses the values of the other common labels, each list sorted by label *name*;
  ``title_link`` to Alertmanager; **empty text**. Label names are lost, so service, namespace and
  severity are inferred (see ``_guess``). Teams often customise ``text`` with one section per alert:
  ``*Alert:* … - `critical``` / ``*Description:* …`` / ``*Details:*`` / ``• *service:* `checkout```;
  labels written out like that are exact and win over the guesses.
* **Grafana** Slack contact point (grafana/alerting ``templates/default_template.go``): title as
  Alertmanager's; text ``**Firing**`` then per alert ``Value: …``, ``Labels:`` with `` - key = value``
  lines, ``Annotations:`` likewise, ``Source:``/``Silence:``/``Dashboard:``/``Panel:`` URLs; footer
  ``Grafana v…``.
* **Datadog** Slack integration (docs.datadoghq.com/integrations/slack, monitor notifications):
  title ``Triggered: [P1] <monitor name>`` (older: ``[Triggered] <name>``, multi-alert:
  ``[Triggered on {service:checkout,env:prod}] <name>``; also ``Recovered``, ``Warn``,
  ``Re-Triggered``, ``No Data``), ``title_link`` to ``app.datadoghq.com/monitors/<id>``, text = the
  monitor message, then (display option "tags") the scope tags ``env:prod, service:checkout``.
* **Sentry** Slack integration (getsentry/sentry ``integrations/slack/message_builder``): legacy
  attachment titled with the issue (``ConnectionError: …``) linking to ``…sentry.io/issues/<id>/``,
  text = culprit, ``fields`` = tags (``environment``, ``level``, ``service``…), footer
  ``<SHORT-ID> via <alert rule>``, buttons Resolve/Ignore; or the newer blocks: a section with the
  linked title, the culprit, a context ``State: *New*   First Seen: *…*``, tags as
  ``environment: `production```, a context ``Project: <url|checkout>   Alert: …   Short ID: …``,
  buttons Resolve/Archive/Assign. ``State: *Resolved*`` (or "Resolved by") → resolved.
* **PagerDuty** Slack app (support.pagerduty.com, Slack integration guide): attachment whose text
  links the incident ``<https://acme.pagerduty.com/incidents/<id>|#1234: [checkout] …>``, fallback
  ``Triggered: #1234 …``, fields ``Status`` (Triggered / Acknowledged / Resolved), ``Urgency``,
  ``Service``, ``Assigned``; buttons Acknowledge/Resolve.
* **Opsgenie** Slack app (support.atlassian.com, Opsgenie Slack app): title
  ``#123: checkout p99 latency above 2s`` (also ``[Opsgenie] #123: …`` and ``[Closed] …``) linking
  to ``<sub>.app.opsgenie.com/alert/detail/<id>/details``, fields ``Priority: P1``,
  ``Tags: service:checkout, …``, ``Routed Teams``; buttons Acknowledge/Close. Closed → resolved.
* **Anything else** (a person, an unknown bot): read as plain text when it names a service
  (``service=checkout``, ``service: checkout`` or a known service's name), else refused with what to
  do instead.

Every parser fills: source, name, service, namespace, severity (as the product says it), state,
starts_at (the message's ``ts`` unless the message says when it started), summary, fingerprint (the
product's id when it gives one, else a hash of source, name, service and namespace: the same alert
posted again gets the same fingerprint), links (``title_link``, ``generatorURL``, ``silenceURL``,
``dashboardURL``, ``panelURL``, ``runbook_url``, and the product's own page) and labels (exact
ones only; guessed values go to the ``Alert`` fields, listed in ``annotations["inferred"]``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.intake.errors import AlertParseError
from bot.models import Alert, AlertSource, AlertState

__all__ = ["alert_identity", "parse_slack_message", "stable_fingerprint"]

#: label keys that name the service / namespace / severity, best first
SERVICE_KEYS = ("service", "service_name", "service.name", "app", "app_kubernetes_io_name",
                "app.kubernetes.io/name", "kube_service", "kube_app_name", "job")
NAMESPACE_KEYS = ("namespace", "kube_namespace", "k8s_namespace", "kubernetes_namespace",
                  "k8s.namespace.name", "exported_namespace")
SEVERITY_KEYS = ("severity", "priority", "level", "urgency")
#: values that are a severity when seen bare (the parentheses of Alertmanager's title)
SEVERITIES = frozenset({
    "critical", "crit", "error", "err", "warning", "warn", "info", "information", "page", "high",
    "medium", "low", "major", "minor", "fatal", "emergency", "notice", "debug", "none",
    "p1", "p2", "p3", "p4", "p5", "sev1", "sev2", "sev3", "sev4", "sev-1", "sev-2", "sev-3", "sev-4",
})
#: written-out keys that describe an alert rather than label it
DESCRIPTIVE_KEYS = frozenset({
    "alert", "summary", "description", "details", "message", "title", "value", "values", "status",
    "state", "source", "silence", "dashboard", "panel", "runbook", "runbook_url", "link", "url",
    "labels", "annotations", "tags", "notified", "assigned", "assignee", "first_seen", "last_seen",
    "started", "starts_at", "since", "short_id", "routed_teams", "responders", "acknowledged_by",
})
#: "Source:"-style keys whose URL becomes a named link (the names webhooks use)
LINK_KEYS = {"source": "generatorURL", "generatorurl": "generatorURL", "silence": "silenceURL",
             "silenceurl": "silenceURL", "dashboard": "dashboardURL", "dashboardurl": "dashboardURL",
             "panel": "panelURL", "panelurl": "panelURL", "runbook": "runbook_url",
             "runbook_url": "runbook_url"}

_ENV = r"(?:prod|production|prd|staging|stage|stg|dev|develop|development|test|testing|qa|uat|preprod|sandbox)"
#: values that look like a cluster, environment or region rather than a service or namespace
_CLUSTER_LIKE = re.compile(
    rf"^(?:{_ENV}|{_ENV}[-_.][\w.-]+"
    r"|(?:gke|eks|aks|k8s|kube|cluster)[-_][\w.-]+|[a-z]{2}-[a-z]+-\d+"
    r"|(?:eu|us|ap|sa|ca|me|af|uk|euw|euc|use|usw|apse|apne)\d{1,2})$", re.I)
#: values that look like an instance, pod, address or number
_INSTANCE_LIKE = re.compile(r"[:/@]|^\d[\d.]*$|-[a-z0-9]{8,10}-[a-z0-9]{5}$|^[0-9a-f]{12,}$"
                            r"|^(?:node|ip|host|worker|vm|i)-[\w.-]+$", re.I)

_SLACK_LINK = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
_URL = re.compile(r"https?://[^\s<>|`\"')\]]+")
_EMOJI = re.compile(r":[a-z0-9_+-]+:")
_STATUS_TITLE = re.compile(r"^\[(FIRING|RESOLVED)(?::(\d+))?\]\s*(.*)$", re.I)
_PARENS = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")
_HEADER = re.compile(r"^\**\s*(labels|annotations|details|tags)\s*\**\s*:?\s*\**\s*$", re.I)
_PAIR = re.compile(
    r"^(?P<bullet>[•◦▪‣\-–]\s*)?\**_?(?P<key>[A-Za-z][\w./-]*(?: [A-Za-z][\w./-]*){0,2})_?\**"
    r"\s*(?::\**|=)(?!//)\s*(?P<value>.*?)\s*$")
_TAG = re.compile(r"(?<![\w/:.@-])([A-Za-z][\w.-]*):(?![/\s])([A-Za-z0-9][\w./@-]*)")
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]*[a-z0-9]|[a-z0-9]", re.I)


def alert_identity(alert: Alert) -> str:
    """A key equal for the same alert seen as a Slack message and by webhook: ``name|service``
    lower-cased. No fingerprint (an Alertmanager Slack message carries none) and no namespace (a
    Slack title only lets it be guessed): intake compares namespaces where both are known."""
    parts = (alert.name, alert.service or "")
    return "|".join(" ".join(part.split()).lower() for part in parts)


def stable_fingerprint(*, source: AlertSource, name: str, service: str | None,
                       namespace: str | None) -> str:
    """sha256 (hex, first 16) of source, name, service and namespace: no state, no time, so a
    re-post of the same alert gets the same fingerprint."""
    key = json.dumps([source.value, " ".join(name.split()).lower(), (service or "").lower(),
                      (namespace or "").lower()])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def parse_slack_message(event: Mapping[str, Any], *, known_services: Collection[str] = ()) -> list[Alert]:
    """The alerts in one Slack ``message`` event (the ``event`` object of the callback; the whole
    callback is accepted too). ``known_services`` helps find the service when labels do not say it.

    Raises ``AlertParseError`` — and nothing else — for a message that cannot be read.
    """
    try:
        message = _read(event)
        known = {str(name).lower(): str(name) for name in known_services if str(name).strip()}
        return _PARSERS[_detect(message)](message, known)
    except AlertParseError:
        raise
    except Exception as exc:  # a shape nobody planned for: still a reason, never a crash
        raise AlertParseError(f"unexpected message shape ({type(exc).__name__}: {exc})") from exc


# --------------------------------------------------------------------------- a message, flattened


@dataclass(slots=True)
class _Message:
    """Everything readable in a message, as plain text (links undone, entities unescaped)."""

    sender: str = ""  # username, bot name, attachment author and footer, lower-cased
    is_bot: bool = False
    title: str = ""
    title_link: str | None = None
    lines: list[str] = field(default_factory=list)  # text, pretext, attachment text, blocks
    fallback: str = ""
    footer: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # attachment/block fields, key lower-cased
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url), in order
    ts: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def everything(self) -> str:
        return "\n".join([self.title, self.text, *(f"{k}: {v}" for k, v in self.fields.items())])


def _read(event: Mapping[str, Any]) -> _Message:
    if not isinstance(event, Mapping):
        raise AlertParseError("not a Slack message event")
    if event.get("type") == "event_callback" and isinstance(event.get("event"), Mapping):
        event = event["event"]
    msg = _Message(ts=_str(event.get("ts")) or None)
    raw_profile = event.get("bot_profile")
    profile: Mapping[str, Any] = raw_profile if isinstance(raw_profile, Mapping) else {}
    senders = [_str(event.get("username")), _str(profile.get("name"))]
    msg.is_bot = bool(event.get("bot_id") or event.get("subtype") == "bot_message" or profile)
    text = _str(event.get("text"))
    msg.lines += _plain(text, msg.links).splitlines()
    for attachment in _list(event.get("attachments")):
        if not isinstance(attachment, Mapping) or attachment.get("from_url"):
            continue  # a link unfurl is not the alert
        title = _plain(_str(attachment.get("title")), msg.links).strip()
        if title and not msg.title:
            msg.title = title
            msg.title_link = _url(attachment.get("title_link"))
            if msg.title_link:
                msg.links.insert(0, (title, msg.title_link))
        for key in ("pretext", "text"):
            msg.lines += _plain(_str(attachment.get(key)), msg.links).splitlines()
        msg.fallback = msg.fallback or _plain(_str(attachment.get("fallback")), []).strip()
        footer = _plain(_str(attachment.get("footer")), msg.links).strip()
        msg.footer = msg.footer or footer
        senders += [_str(attachment.get("author_name")), footer, _str(attachment.get("service_name"))]
        for item in _list(attachment.get("fields")):
            if isinstance(item, Mapping) and _str(item.get("title")).strip():
                key = _str(item.get("title")).strip().strip("*:").strip().lower()
                msg.fields.setdefault(key, _clean(_plain(_str(item.get("value")), msg.links)))
        for action in _list(attachment.get("actions")):
            if isinstance(action, Mapping):
                _button(msg, _str(action.get("text")), action.get("url"))
        _read_blocks(_list(attachment.get("blocks")), msg)
    _read_blocks(_list(event.get("blocks")), msg, skip_rich_text=bool(text.strip()))
    msg.sender = " ".join(s for s in senders if s).lower()
    if not msg.title:  # blocks or text only: the first line is the title
        first_line = next((line for line in msg.lines if line.strip()), "")
        msg.title = first_line or next(iter(msg.fallback.splitlines()), "")
    msg.title = _EMOJI.sub("", msg.title).strip().strip("*_~").strip()
    if not (msg.title or msg.text.strip() or msg.fields):
        raise AlertParseError("empty message")
    return msg


def _read_blocks(blocks: Iterable[Any], msg: _Message, *, skip_rich_text: bool = False) -> None:
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "rich_text":
            if not skip_rich_text:
                msg.lines += _rich_text(block, msg).splitlines()
            continue
        if isinstance(block.get("text"), Mapping):
            msg.lines += _plain(_str(block["text"].get("text")), msg.links).splitlines()
        for item in _list(block.get("fields")):
            if isinstance(item, Mapping):
                _block_field(_plain(_str(item.get("text")), msg.links), msg)
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping):
            _button(msg, _text_of(accessory), accessory.get("url"))
        for element in _list(block.get("elements")):
            if not isinstance(element, Mapping):
                continue
            if element.get("type") in ("mrkdwn", "plain_text"):
                msg.lines += _plain(_str(element.get("text")), msg.links).splitlines()
            elif element.get("type") in ("button", "overflow", "static_select", "users_select"):
                _button(msg, _text_of(element), element.get("url"))


def _block_field(text: str, msg: _Message) -> None:
    """A block field ``*Key*\\nValue`` is a field; anything else is a line."""
    head, _, rest = text.partition("\n")
    key = head.strip().strip("*_").strip().rstrip(":").strip("*_").strip()
    if rest.strip() and key and len(key) <= 40:
        msg.fields.setdefault(key.lower(), _clean(rest))
    else:
        msg.lines += text.splitlines()


def _rich_text(node: Any, msg: _Message) -> str:
    if isinstance(node, Mapping):
        if node.get("type") == "link" and _url(node.get("url")):
            msg.links.append((_str(node.get("text")), _str(node.get("url"))))
            return _str(node.get("text")) or _str(node.get("url"))
        if node.get("type") in ("text", "emoji") or "elements" not in node:
            return _str(node.get("text"))
        parts = "".join(_rich_text(child, msg) for child in _list(node.get("elements")))
        return parts + ("\n" if node.get("type") in ("rich_text_section", "rich_text_preformatted") else "")
    return ""


def _button(msg: _Message, text: str, url: Any) -> None:
    """A button or menu: only a URL it opens is kept (as a link named by its text)."""
    if _url(url):
        msg.links.append((text, str(url)))


def _plain(text: str, links: list[tuple[str, str]]) -> str:
    """Slack markup to plain text: ``<url|label>`` → label (the URL is kept in ``links``),
    ``<@U1>`` → ``@U1``, ``&amp;`` → ``&``. Bare URLs are collected too."""
    def link(match: re.Match[str]) -> str:
        target, label = _unescape(match.group(1)), _unescape(match.group(2) or "")
        if target.startswith(("http://", "https://")):
            links.append((label, target))
            return label or target
        if target[:1] in "@#":
            return target[:1] + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target.removeprefix("mailto:")

    plain = _SLACK_LINK.sub(link, text)
    links += [("", url) for url in _URL.findall(_SLACK_LINK.sub(" ", text))]
    return _unescape(plain)


#: what Slack would read as markup again (``<!channel>``, ``<@U1>``, ``<#C1>``, ``<https://…|label>``)
_LIVE_MARKUP = re.compile(r"<(?=[!@#]|[a-z][a-z0-9+.-]*:)", re.IGNORECASE)


def _unescape(text: str) -> str:
    """Slack's entities undone for reading, but never back into live markup: an escaped
    ``&lt;!channel&gt;`` stays text (a word joiner after ``<``), whatever later posts it."""
    plain = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _LIVE_MARKUP.sub("<\u2060", plain)


def _text_of(element: Mapping[str, Any]) -> str:
    for key in ("text", "placeholder"):
        value = element.get(key)
        if isinstance(value, Mapping):
            return _str(value.get("text"))
        if isinstance(value, str):
            return value
    return ""


def _str(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def _clean(value: str) -> str:
    """A written value without its surrounding markup: ``*`x`*`` → ``x``."""
    value = " ".join(value.split())
    while len(value) >= 2 and value[0] == value[-1] and value[0] in "`*_~":
        value = value[1:-1].strip()
    return value


# --------------------------------------------------------------------------- written labels


@dataclass(slots=True)
class _Written:
    """What a message writes out: exact labels, annotations, other ``key: value`` pairs, links."""

    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    state: AlertState | None = None  # a Grafana "**Firing**"/"**Resolved**" header above


def _written(text: str, *, fields: Mapping[str, str] | None = None) -> _Written:
    """Read ``key: value`` lines. A ``Labels:``/``*Details:*``/``Tags:`` header starts a section
    whose bulleted pairs (`` - key = value``, ``• *key:* `value```) are exact labels; an
    ``Annotations:`` section gives annotations. Other pairs (several on one line when spaced
    apart, as Sentry writes them) go to ``pairs``; single-word keys with single-token values
    that do not describe the alert are labels too."""
    out = _Written()
    section: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            section = None
            continue
        header = _HEADER.match(line)
        if header:
            section = "annotations" if header.group(1).lower() == "annotations" else "labels"
            continue
        lowered = line.strip("*_ ").lower()
        if lowered in ("firing", "resolved"):
            out.state = AlertState(lowered)
            continue
        match = _PAIR.match(line)
        if section and match and match.group("bullet") is not None:
            key, value = match.group("key").strip(), _clean(match.group("value"))
            target = out.annotations if section == "annotations" else out.labels
            target.setdefault(key if section == "annotations" else key.lower(), value)
            continue
        section = None
        for chunk in re.split(r"\s{2,}|\s+[|·]\s+", line):
            pair = _PAIR.match(chunk.strip())
            if pair and pair.group("key").lower() not in ("http", "https"):
                _add_pair(out, pair.group("key"), pair.group("value"))
    for key, value in (fields or {}).items():
        _add_pair(out, key, value)
    return out


def _add_pair(out: _Written, key: str, value: str) -> None:
    name = "_".join(key.lower().split())
    value = _clean(value)
    if not value or name in out.pairs:
        return
    out.pairs[name] = value
    url = _URL.match(value)
    if url:
        out.links.setdefault(LINK_KEYS.get(name, name), url.group(0))
    elif " " not in key.strip() and " " not in value and name not in DESCRIPTIVE_KEYS:
        out.labels.setdefault(name, value)


def _tags(text: str) -> dict[str, str]:
    """``service:checkout, env:prod`` style tags (URLs, times and ``Key: value`` prose skipped)."""
    tags: dict[str, str] = {}
    for key, value in _TAG.findall(_URL.sub(" ", text)):
        if key.lower() in ("http", "https", "mailto") or value.isdigit():
            continue
        tags.setdefault(key.lower(), value.rstrip(".,;"))
    return tags


# --------------------------------------------------------------------------- which product


def _detect(msg: _Message) -> AlertSource:
    """The product that wrote the message: its sender's name, else the link of its title, else the
    shape of its title, else any product link; a person's message is plain text."""
    for source, words in _SENDER_WORDS:
        if any(word in msg.sender for word in words):
            return _alertmanager_or_grafana(msg) if source is AlertSource.ALERTMANAGER else source
    if msg.title_link:
        by_link = _by_link(msg.title_link)
        if by_link:
            return by_link
    if _STATUS_TITLE.match(msg.title):
        return _alertmanager_or_grafana(msg)
    if not msg.is_bot:
        return AlertSource.TEXT
    if _DD_STATUS.match(msg.title):
        return AlertSource.DATADOG
    if re.match(r"^\[?opsgenie\]?", msg.title, re.I):
        return AlertSource.OPSGENIE
    for _label, url in msg.links:
        by_link = _by_link(url)
        if by_link:
            return by_link
    return AlertSource.TEXT


_SENDER_WORDS: tuple[tuple[AlertSource, tuple[str, ...]], ...] = (
    (AlertSource.GRAFANA, ("grafana",)),
    (AlertSource.ALERTMANAGER, ("alertmanager", "prometheus")),
    (AlertSource.DATADOG, ("datadog",)),
    (AlertSource.SENTRY, ("sentry",)),
    (AlertSource.PAGERDUTY, ("pagerduty",)),
    (AlertSource.OPSGENIE, ("opsgenie",)),
)


def _by_link(url: str) -> AlertSource | None:
    parts = urlsplit(url)
    host, path = parts.netloc.lower(), parts.path.lower()
    if "datadoghq" in host or "ddog-gov" in host:
        return AlertSource.DATADOG
    if "sentry" in host and "/issues/" in path:
        return AlertSource.SENTRY
    if "pagerduty.com" in host:
        return AlertSource.PAGERDUTY
    if "opsgenie" in host:
        return AlertSource.OPSGENIE
    if "/alerting/" in path:
        return AlertSource.GRAFANA
    if "alertmanager" in host or parts.port == 9093 or parts.fragment.startswith("/alerts"):
        return AlertSource.ALERTMANAGER
    return None


def _alertmanager_or_grafana(msg: _Message) -> AlertSource:
    """Both use ``[FIRING:n]`` titles; Grafana's text has ``Labels:`` with `` - key = value`` lines."""
    if "grafana" in msg.sender or re.search(r"^Labels:[ \t]*\n[ \t]*- \S+ = ", msg.text, re.M):
        return AlertSource.GRAFANA
    return AlertSource.ALERTMANAGER


# --------------------------------------------------------------------------- Alertmanager, Grafana


@dataclass(slots=True)
class _Guess:
    service: str | None = None
    namespace: str | None = None
    severity: str | None = None

    def inferred(self) -> list[str]:
        return [name for name in ("namespace", "service", "severity") if getattr(self, name)]


def _status_title(msg: _Message) -> tuple[AlertState | None, int | None, str, list[str]]:
    """``[FIRING:3] Name extra (v1 v2 v3)`` → (state, 3, "Name extra", [v1, v2, v3])."""
    match = _STATUS_TITLE.match(msg.title) or _STATUS_TITLE.match(msg.fallback)
    if not match:
        return None, None, msg.title, []
    state = AlertState.RESOLVED if match.group(1).upper() == "RESOLVED" else AlertState.FIRING
    rest = match.group(3).split(" | ")[0].strip()  # a fallback ends with " | <url>"
    parens = _PARENS.match(rest)
    if parens:
        return state, int(match.group(2) or 0) or None, parens.group(1).strip(), parens.group(2).split()
    return state, int(match.group(2) or 0) or None, rest, []


def _guess(*, group: list[str], values: list[str], exact: Mapping[str, str],
           known: Mapping[str, str]) -> _Guess:
    """Service, namespace and severity from label values whose names are lost.

    ``group`` are the group labels' values after the alert name, ``values`` the parenthesised
    ones, sorted by label name (…, cluster, …, namespace, …, service, severity, …). Exact labels
    win and their values are set aside. The severity is a value that is a known severity word; the
    service a known service if one is given, else the last value that does not look like a
    cluster, region, instance or number (``service`` sorts after ``namespace`` and ``cluster``);
    the namespace, only when there are three values or more, the plausible value right before the
    service, or — when the service is exact or outside the parentheses — the only plausible one left."""
    pool = [v for v in group + values if v not in exact.values()]
    guess = _Guess()
    if not _first(exact, SEVERITY_KEYS):
        guess.severity = next((v for v in pool if v.lower() in SEVERITIES), None)
    plausible = [v for v in pool if v.lower() not in SEVERITIES and not _CLUSTER_LIKE.match(v)
                 and not _INSTANCE_LIKE.search(v)]
    service = exact_service = _first(exact, SERVICE_KEYS)
    if not service:
        in_known = [v for v in pool if v.lower() in known]
        from_group = [v for v in plausible if v in group]
        from_values = [v for v in plausible if v in values]
        plausible_last = (from_group or from_values)[-1] if from_group or from_values else None
        service = guess.service = next(iter(in_known), None) or plausible_last
    if _first(exact, NAMESPACE_KEYS) or len(values) < 3:
        return guess
    others = [v for v in plausible if v != service and v in values]
    if service in values:
        before = [v for v in values[: values.index(service)] if v in others]
        if before:
            guess.namespace = before[-1]
            return guess
    if len(others) == 1 and (exact_service or service not in values):
        guess.namespace = others[0]  # the service's label may sort anywhere (app, job…): the one left
    return guess


def _alertmanager(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    state, count, group_text, values = _status_title(msg)
    if state is None:
        raise AlertParseError("an Alertmanager message without a `[FIRING:n]` or `[RESOLVED]` title")
    group = group_text.split()
    alerts = []
    for chunk in _alert_sections(msg.text):
        written = _written(chunk)
        labels = dict(written.labels)
        name = labels.get("alertname") or (group[0] if group else (values[0] if values else ""))
        if not name:
            raise AlertParseError("no alert name in the `[FIRING:n]` title")
        labels.setdefault("alertname", name)
        extra = group[1:] if group and group[0] == name else group
        summary = written.pairs.get("summary") or _without_severity(written.pairs.get("alert"))
        severity = _first(labels, SEVERITY_KEYS) or _trailing_severity(written.pairs.get("alert"))
        if severity:
            labels.setdefault("severity", severity)
        annotations = {k: v for k, v in (("summary", summary),
                                          ("description", written.pairs.get("description"))) if v}
        annotations |= written.annotations
        if count:
            annotations["alerts_" + state.value] = str(count)
        alerts.append(_title_alert(msg, known, source=AlertSource.ALERTMANAGER, state=state, name=name,
                                   labels=labels, group=extra, values=values, annotations=annotations,
                                   links=written.links, starts_at=written.pairs.get("started")))
    return alerts


def _grafana(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    title_state, count, group_text, values = _status_title(msg)
    group = group_text.split()
    alerts = []
    for chunk in _grafana_sections(msg.text):
        written = _written(chunk)
        state = written.state or title_state or AlertState.FIRING
        labels = dict(written.labels)
        name = labels.get("alertname") or (group[0] if group else "")
        if not name:
            raise AlertParseError("no alert name in the Grafana message (no `alertname` label, no title)")
        labels.setdefault("alertname", name)
        extra = [v for v in (group[1:] if group and group[0] == name else group)]
        annotations = dict(written.annotations)
        if written.pairs.get("value"):
            annotations.setdefault("value", written.pairs["value"])
        if count:
            annotations["alerts_" + state.value] = str(count)
        alerts.append(_title_alert(msg, known, source=AlertSource.GRAFANA, state=state, name=name,
                                   labels=labels, group=extra, values=values, annotations=annotations,
                                   links=written.links, starts_at=None))
    return alerts


def _title_alert(msg: _Message, known: Mapping[str, str], *, source: AlertSource, state: AlertState,
                 name: str, labels: dict[str, str], group: list[str], values: list[str],
                 annotations: dict[str, str], links: Mapping[str, str], starts_at: str | None) -> Alert:
    guess = _guess(group=group, values=values, exact=labels, known=known)
    if guess.inferred():
        annotations["inferred"] = ",".join(guess.inferred())
    return _build(
        msg, source=source, name=name, state=state, labels=labels, known=known,
        service=_first(labels, SERVICE_KEYS) or guess.service,
        namespace=_first(labels, NAMESPACE_KEYS) or guess.namespace,
        severity=_first(labels, SEVERITY_KEYS) or guess.severity,
        summary=annotations.get("summary") or annotations.get("description"),
        annotations=annotations, links=links, starts_at=starts_at)


def _alert_sections(text: str) -> list[str]:
    """A customised Alertmanager text repeats ``*Alert:* …`` per alert: one section each."""
    starts = [m.start() for m in re.finditer(r"^\s*\*?Alert:?\*?:?\s", text, re.M)]
    if len(starts) < 2:
        return [text]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _grafana_sections(text: str) -> list[str]:
    """Grafana's default text repeats ``Value:``/``Labels:``/… per alert under ``**Firing**`` and
    ``**Resolved**`` headers: one section per alert, each starting with its header."""
    sections: list[list[str]] = [[]]
    header, has_labels = "", False
    for line in text.splitlines():
        bare = line.strip().strip("*").strip().lower()
        if bare in ("firing", "resolved"):
            header = line
            if has_labels:
                sections.append([])
                has_labels = False
            sections[-1].append(line)
            continue
        starts_alert = re.match(r"^\s*(Value|Labels):", line)
        if starts_alert and has_labels:
            sections.append([header])
            has_labels = False
        if re.match(r"^\s*Labels:\s*$", line):
            has_labels = True
        sections[-1].append(line)
    return ["\n".join(lines) for lines in sections if any(line.strip() for line in lines)] or [text]


def _without_severity(text: str | None) -> str | None:
    """``checkout p99 above 2s - `critical``` → ``checkout p99 above 2s``."""
    return re.sub(r"\s+-\s+`?[\w-]+`?\s*$", "", text).strip() or None if text else None


def _trailing_severity(text: str | None) -> str | None:
    found = re.search(r"\s-\s+`?([\w-]+)`?\s*$", text or "")
    return found.group(1) if found and found.group(1).lower() in SEVERITIES else None


# --------------------------------------------------------------------------- Datadog

_DD_WORDS = r"(?:Re-?Triggered|Triggered|Recovered|Warn(?:ing)?(?: Recovered)?|No ?Data(?: Recovered)?|Re-?notify|Renotify|Resolved|Alert|OK)"
_DD_SURE = r"(?:Re-?Triggered|Triggered|Recovered|Warn(?: Recovered)?|No Data(?: Recovered)?|Re-?notify)"
#: a Datadog title, when nothing else says it is one
_DD_STATUS = re.compile(rf"^\s*(?:(?:\[P\d\]\s*)?\[{_DD_SURE}\b|{_DD_SURE}:)", re.I)


def _datadog(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    title, status, priority, scope = msg.title, "", None, ""
    while True:  # peel "[P1]", "[Triggered on {…}]", "Triggered:" off the front
        bracket = re.match(r"^\s*\[([^\]]*)\]\s*", title)
        prefix = re.match(rf"^\s*({_DD_WORDS})\s*:\s*", title, re.I)
        if bracket:
            inner = bracket.group(1).strip()
            if re.fullmatch(r"P\d", inner, re.I):
                priority = inner.upper()
            elif re.match(_DD_WORDS, inner, re.I):
                word, _, rest = inner.partition(" on ")
                status, scope = status or word, scope or rest
            else:
                break
            title = title[bracket.end():]
        elif prefix and not status:
            status, title = prefix.group(1), title[prefix.end():]
        else:
            break
    trailing = re.search(r"\s+on\s+\{?((?:[\w.-]+:[\w./-]+,?\s*)+)\}?\s*$", title)
    if trailing:  # "… on service:checkout,env:prod"
        scope, title = scope or trailing.group(1), title[:trailing.start()]
    labels = _tags(scope.strip("{} ")) | _tags("\n".join([msg.text, msg.fields.get("tags", "")]))
    labels = {**_written(msg.text, fields=msg.fields).labels, **labels}
    labels.pop("tags", None)
    if priority:
        labels.setdefault("priority", priority)
    word = status.lower()
    state = AlertState.RESOLVED if "recovered" in word or word in ("resolved", "ok") else AlertState.FIRING
    links = {"monitor": url for _l, url in msg.links if "/monitors/" in url}
    return [_build(msg, source=AlertSource.DATADOG, name=title, state=state, labels=labels, known=known,
                   severity=labels.get("severity") or priority, summary=_first_prose(msg.lines, skip=title),
                   links=links, annotations={"status": status} if status else {})]


# --------------------------------------------------------------------------- Sentry


def _sentry(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    written = _written(msg.text, fields=msg.fields)
    labels = {**_tags("\n".join(line for line in msg.lines if "`" not in line)), **written.labels}
    issue = next(((label, url) for label, url in msg.links if "/issues/" in url), None)
    name = msg.title
    if issue and issue[0] and (not name or name in (issue[1], msg.fallback)):
        name = issue[0]
    name = name.strip("*_~ ")
    project = labels.get("project") or written.pairs.get("project")
    short_id = written.pairs.get("short_id") or _short_id(msg.footer)
    if "service" not in labels:
        from_short_id = short_id.rsplit("-", 1)[0].lower() if short_id else None
        candidate = project or (from_short_id if from_short_id in known else None)
        if candidate:
            labels["service"] = candidate
    state_word = (written.pairs.get("state") or written.pairs.get("status") or "").lower()
    resolved = state_word.startswith("resolved") or re.search(
        r"\bresolved by\b|\bmarked (?:as )?resolved\b", msg.text, re.I) or msg.title.startswith("~")
    issue_id = re.search(r"/issues/(\d+)", issue[1]) if issue else None
    links = {"issue": issue[1]} if issue else {}
    annotations = {k: v for k, v in (("short_id", short_id), ("state", written.pairs.get("state"))) if v}
    return [_build(msg, source=AlertSource.SENTRY, name=name,
                   state=AlertState.RESOLVED if resolved else AlertState.FIRING, labels=labels, known=known,
                   severity=labels.get("level") or labels.get("severity"),
                   summary=_first_prose(msg.lines, skip=name) or name, links=links, annotations=annotations,
                   fingerprint=f"sentry-{issue_id.group(1)}" if issue_id else None)]


def _short_id(footer: str) -> str | None:
    found = re.match(r"^\s*([A-Z][A-Z0-9_-]*-[A-Z0-9]+)\b", footer)
    return found.group(1) if found else None


# --------------------------------------------------------------------------- PagerDuty

_PD_STATUS = re.compile(r"\b(Triggered|Acknowledged|Resolved|Escalated|Reassigned|Unacknowledged)\b", re.I)


def _pagerduty(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    incident = next(((label, url) for label, url in msg.links if "/incidents/" in url), None)
    status_text = msg.fields.get("status") or " ".join([msg.fallback, msg.title, msg.text])
    status = _PD_STATUS.search(status_text)
    title = incident[0] if incident and incident[0] else msg.title
    title = _PD_STATUS.sub("", title, count=1) if _PD_STATUS.match(title.strip()) else title
    title = re.sub(r"^[\s:*-]*(?:incident\s*)?\[?#\d+\]?\s*[:-]?\s*", "", title, flags=re.I).strip(" *:-")
    tags = re.findall(r"^\[([\w.-]+)\]\s*|\s\[([\w.-]+)\]", title)
    bracketed = [a or b for a, b in tags]
    name = re.sub(r"^(?:\[[\w.-]+\]\s*)+", "", title).strip() or title
    written = _written(msg.text, fields={k: v for k, v in msg.fields.items() if k != "service"})
    labels = {**_tags(msg.text), **written.labels}
    pd_service = msg.fields.get("service") or written.pairs.get("service")
    if "service" not in labels:
        candidates = [*bracketed, pd_service or "", (pd_service or "").split(" ")[0]]
        service = next((known[c.lower()] for c in candidates if c and c.lower() in known), None)
        service = service or next(iter(bracketed), None) or _slug(pd_service)
        if service:
            labels["service"] = service
    severity = msg.fields.get("urgency") or msg.fields.get("priority") or labels.get("severity")
    state = AlertState.RESOLVED if status and status.group(1).lower() == "resolved" else AlertState.FIRING
    incident_id = re.search(r"/incidents/([A-Za-z0-9]+)", incident[1]) if incident else None
    number = re.search(r"#(\d+)", " ".join([incident[0] if incident else "", msg.title, msg.fallback]))
    annotations = {"status": status.group(1).capitalize()} if status else {}
    if number:
        annotations["incident_number"] = number.group(1)
    if pd_service:
        annotations["pagerduty_service"] = pd_service
    return [_build(msg, source=AlertSource.PAGERDUTY, name=name, state=state, labels=labels, known=known,
                   severity=severity, summary=name, links={"incident": incident[1]} if incident else {},
                   annotations=annotations,
                   fingerprint=f"pagerduty-{incident_id.group(1)}" if incident_id else None)]


# --------------------------------------------------------------------------- Opsgenie


#: a pretext saying what happened to the alert ("Alert closed by Alice"), not what it is about
_OG_NOTICE = re.compile(r"^\W*(?:new )?alert\b.*\b(?:created|closed|acknowledged|resolved|escalated|"
                        r"assigned|snoozed)\b|\b(?:closed|resolved|acknowledged) by\b", re.I)
_OG_STATUS_LINE = re.compile(r"^\W*(?:alert\s+)?(?:closed|resolved)\b|\b(?:closed|resolved) by\b", re.I)


def _opsgenie(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    title, states = msg.title, []
    while True:  # peel "[Opsgenie]", "[Closed]", "New alert:" off the front
        bracket = re.match(r"^\s*\[([^\]]*)\]\s*", title)
        prefix = re.match(r"^\s*(?:opsgenie|new alert|alert)\s*:\s*", title, re.I)
        if bracket and not re.fullmatch(r"#?\d+", bracket.group(1).strip()):
            states.append(bracket.group(1).strip().lower())
            title = title[bracket.end():]
        elif prefix:
            title = title[prefix.end():]
        else:
            break
    tiny = re.match(r"^\s*\[?#(\d+)\]?\s*[:-]?\s*", title)
    name = title[tiny.end():].strip(' "') if tiny else title.strip(' "')
    raw_tags = msg.fields.get("tags", "")
    labels = {**_written(msg.text, fields={k: v for k, v in msg.fields.items() if k != "tags"}).labels,
              **_tags(msg.text), **_tags(raw_tags)}
    for bare in (t.strip() for t in re.split(r"[,\s]+", raw_tags) if t.strip() and ":" not in t):
        if bare.lower() in known and "service" not in labels:
            labels["service"] = known[bare.lower()]
        elif bare.lower() in SEVERITIES:
            labels.setdefault("severity", bare)
    priority = msg.fields.get("priority") or labels.get("priority")
    said = [line for line in msg.lines if _OG_STATUS_LINE.search(line)]
    status = " ".join([*states, msg.fields.get("status", ""), *said]).lower()
    resolved = re.search(r"\b(closed|resolved)\b", status)
    alert_link = next((url for _l, url in msg.links if "/alert/" in url), None)
    alert_id = re.search(r"/alert/(?:detail/)?([\w-]+)", alert_link) if alert_link else None
    annotations = {"tiny_id": tiny.group(1)} if tiny else {}
    return [_build(msg, source=AlertSource.OPSGENIE, name=name,
                   state=AlertState.RESOLVED if resolved else AlertState.FIRING, labels=labels, known=known,
                   severity=priority or labels.get("severity"),
                   summary=_first_prose([line for line in msg.lines if not _OG_NOTICE.search(line)], skip=name)
                   or name,
                   links={"alert": alert_link} if alert_link else {}, annotations=annotations,
                   fingerprint=f"opsgenie-{alert_id.group(1)}" if alert_id else None)]


# --------------------------------------------------------------------------- plain text


def _plain_text(msg: _Message, known: Mapping[str, str]) -> list[Alert]:
    text = msg.everything
    labels = {k.lower(): v for k, v in re.findall(
        r"\b(service|svc|app|namespace|ns|severity)\s*[=:]\s*`?([A-Za-z0-9][\w.-]*)`?", text, re.I)}
    for short, full in (("svc", "service"), ("ns", "namespace")):
        if short in labels:
            labels.setdefault(full, labels.pop(short))
    service = _first(labels, SERVICE_KEYS) or _known_in(text, known)
    if not service:
        raise AlertParseError("no service named: add a `service` label (service=checkout) "
                              "or use /incident <service>")
    labels["service"] = service
    resolved = re.match(r"^\W*(?:\[?resolved\]?|recovered|fixed)\b", msg.title, re.I)
    name = msg.title if len(msg.title) <= 120 else msg.title[:119].rstrip() + "…"
    return [_build(msg, source=AlertSource.TEXT, name=name, labels=labels, known=known,
                   state=AlertState.RESOLVED if resolved else AlertState.FIRING,
                   severity=labels.get("severity"), summary=" ".join(msg.text.split())[:300] or None)]


# --------------------------------------------------------------------------- building the Alert


def _build(msg: _Message, *, source: AlertSource, name: str, state: AlertState, labels: dict[str, str],
           known: Mapping[str, str], service: str | None = None, namespace: str | None = None,
           severity: str | None = None, summary: str | None = None, links: Mapping[str, str] | None = None,
           annotations: Mapping[str, str] | None = None, fingerprint: str | None = None,
           starts_at: str | None = None) -> Alert:
    name = " ".join(name.split())[:200]
    if not name:
        raise AlertParseError(f"no alert name in this {_PRODUCT[source]} message")
    service = service or _service_of(labels, known) or _known_in(msg.everything, known)
    if service is None and state is AlertState.FIRING:
        raise AlertParseError(f"no service in this {_PRODUCT[source]} alert: add a `service` label or tag, "
                              "or use /incident <service>")
    namespace = namespace or _first(labels, NAMESPACE_KEYS)
    if source in (AlertSource.ALERTMANAGER, AlertSource.GRAFANA):
        written_links: dict[str, str] = {}  # read per alert by their parsers
    else:
        written_links = _written(msg.text, fields=msg.fields).links
    all_links = {"title_link": msg.title_link, **written_links, **(links or {})}
    return Alert(
        source=source, name=name, service=service, namespace=namespace or None,
        severity=severity or None, state=state,
        starts_at=_when(starts_at) or _slack_time(msg.ts),
        summary=summary[:500] if summary else None,
        fingerprint=fingerprint or stable_fingerprint(source=source, name=name, service=service,
                                                      namespace=namespace),
        links={key: url for key, url in all_links.items() if url},
        labels=labels, annotations=dict(annotations or {}),
    )


_PRODUCT = {AlertSource.ALERTMANAGER: "Alertmanager", AlertSource.GRAFANA: "Grafana",
            AlertSource.DATADOG: "Datadog", AlertSource.SENTRY: "Sentry", AlertSource.PAGERDUTY: "PagerDuty",
            AlertSource.OPSGENIE: "Opsgenie", AlertSource.TEXT: "text", AlertSource.SLASH_COMMAND: "/incident"}


def _first(labels: Mapping[str, str], keys: Iterable[str]) -> str | None:
    return next((labels[key] for key in keys if labels.get(key)), None)


def _service_of(labels: Mapping[str, str], known: Mapping[str, str]) -> str | None:
    """The service label; among several service-ish labels, the one naming a known service."""
    values = [labels[key] for key in SERVICE_KEYS if labels.get(key)]
    return next((v for v in values if v.lower() in known), None) or next(iter(values), None)


def _known_in(text: str, known: Mapping[str, str]) -> str | None:
    """The first known service named in ``text`` (as a whole word)."""
    if not known:
        return None
    for word in _WORD.findall(text):
        if word.lower() in known:
            return known[word.lower()]
    return None


def _slug(value: str | None) -> str | None:
    """A PagerDuty service name usable as a service: ``checkout (prod)`` → ``checkout``."""
    first = (value or "").split(" ")[0].strip().lower()
    return first if re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", first) else None


def _first_prose(lines: Iterable[str], *, skip: str) -> str | None:
    """The first line that says something: not the title, not tags, not a mention."""
    skip = _clean(skip)
    for line in lines:
        bare = _clean(_EMOJI.sub("", line))
        if not bare or bare == skip or bare.startswith("@") or _URL.fullmatch(bare):
            continue
        if _tags(bare) and len(_TAG.sub("", bare).strip(" ,")) < 3:
            continue
        return bare[:300]
    return None


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _slack_time(ts: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC) if ts else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


Parser = Callable[[_Message, Mapping[str, str]], list[Alert]]

_PARSERS: dict[AlertSource, Parser] = {
    AlertSource.ALERTMANAGER: _alertmanager,
    AlertSource.GRAFANA: _grafana,
    AlertSource.DATADOG: _datadog,
    AlertSource.SENTRY: _sentry,
    AlertSource.PAGERDUTY: _pagerduty,
    AlertSource.OPSGENIE: _opsgenie,
    AlertSource.TEXT: _plain_text,
}
