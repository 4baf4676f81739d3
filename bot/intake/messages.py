"""Alert messages other bots post in Slack → ``Alert``s.

Most alerting products post **legacy attachments** with no top-level ``text``; some post blocks.
Each parser reads the product's default message (shapes below) and a customised one where the
labels are written out. What every parser extracts: product, alert name, service, namespace,
severity, firing/resolved, start time, fingerprint, links and labels.

Default shapes (from each product's documentation and templates):

* Alertmanager ``slack_configs`` (``template/default.tmpl``): title
  ``[FIRING:1] HighLatencyP99 (prod-eu1 shop checkout critical)`` — the group labels' *values* only,
  in label-name order — ``title_link`` to Alertmanager, empty ``text`` unless customised
  (often ``*service:* `checkout` `` lines).
* Grafana Slack contact point: title ``[FIRING:1] Name Folder (values)``, text with
  ``Labels:`` / `` - key = value`` lines and ``Source:``/``Silence:``/``Dashboard:``/``Panel:`` links,
  footer ``Grafana v…``.
* Datadog Slack integration: title ``[Triggered] <monitor name>`` (``[Recovered]``, ``[Warn]``,
  ``[Re-Triggered]``; also ``Triggered: …``), link to ``app.datadoghq.com/monitors/…``, text with the
  monitor message and tags such as ``service:checkout``, ``env:prod``.
* Sentry Slack integration: attachment (or blocks) titled with the issue (``ConnectionError: …``)
  linking to ``sentry.io/…/issues/…``, fields/context ``Project``, ``Environment`` and tags.
* PagerDuty Slack app: ``Triggered`` / ``Acknowledged`` / ``Resolved`` incident ``#1234`` with its
  title, a link to ``<sub>.pagerduty.com/incidents/…`` and a ``Service`` field.
* Opsgenie Slack app: ``#123: <message>`` with ``Priority: P1``, ``Tags: service:checkout`` and a
  link to ``<sub>.app.opsgenie.com/alert/…``; ``Closed`` → resolved.

A person's plain message is read when it names a service (``service=checkout`` or a known
service). Anything else raises ``AlertParseError`` with what to do instead.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.intake.errors import AlertParseError
from bot.models import Alert, AlertSource, AlertState

SEVERITIES = ("critical", "error", "warning", "warn", "info", "page", "high", "medium", "low",
              "p1", "p2", "p3", "p4", "p5", "sev1", "sev2", "sev3")
_STATUS_TITLE = re.compile(r"^\s*\[(FIRING|RESOLVED)(?::(\d+))?\]\s*(.+?)\s*$", re.I)
_PARENS = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")
_BOLD_LABEL = re.compile(r"\*\s*([A-Za-z_][\w.-]*)\s*:\s*\*[ \t]*(.+?)[ \t]*$", re.M)
_DASH_LABEL = re.compile(r"^\s*-\s*([A-Za-z_][\w.-]*)\s*=\s*(.+?)\s*$", re.M)
_TAG = re.compile(r"(?<![\w/.:-])([a-z_][\w.-]*):([A-Za-z0-9][\w./-]*)")
_KEY_EQ = re.compile(r"\b(service|app|namespace|severity|env)\s*[=:]\s*`?([\w.-]+)`?", re.I)
_LINK_LINE = re.compile(r"^\s*(Source|Silence|Dashboard|Panel|Runbook)\s*:\s*(\S+)", re.M | re.I)
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
_URL = re.compile(r"https?://[^\s<>|)]+")
_WORD = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]|[a-z0-9]")
SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job", "service_name")


@dataclass(slots=True)
class MessageText:
    """Everything readable in a message, flattened."""

    title: str = ""
    title_link: str | None = None
    body: str = ""  # text, pretext, fallback, fields, blocks
    footer: str = ""
    author: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)

    @property
    def everything(self) -> str:
        return "\n".join([self.title, self.body, self.footer, self.author])


def alert_identity(alert: Alert) -> str:
    """Equal for the same alert seen as a Slack message and by webhook (Slack messages of
    Alertmanager carry no fingerprint, and their namespace is a guess): ``name|service``,
    lower-case. Callers compare namespaces where both are known."""
    return "|".join(part.lower() for part in (alert.name, alert.service or ""))


def parse_slack_message(event: Mapping[str, Any], *, known_services: Collection[str] = ()) -> list[Alert]:
    """The alerts in one Slack ``message`` event. Raises ``AlertParseError``."""
    try:
        text = _flatten(event)
        if not text.everything.strip():
            raise AlertParseError("empty message")
        parser = _detect(event, text)
        alert = parser(event, text, frozenset(s.lower() for s in known_services))
    except AlertParseError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise AlertParseError(f"unexpected message shape ({type(exc).__name__})") from exc
    return [alert]


# --------------------------------------------------------------------------- reading a message


def _flatten(event: Mapping[str, Any]) -> MessageText:
    out = MessageText()
    body: list[str] = [str(event.get("text") or "")]
    for attachment in event.get("attachments") or []:
        if not isinstance(attachment, Mapping):
            continue
        out.title = out.title or str(attachment.get("title") or "")
        out.title_link = out.title_link or attachment.get("title_link")
        for key in ("pretext", "text"):
            body.append(str(attachment.get(key) or ""))
        if not attachment.get("title") and attachment.get("fallback"):
            body.append(str(attachment["fallback"]))
        out.footer = out.footer or str(attachment.get("footer") or "")
        out.author = out.author or str(attachment.get("author_name") or "")
        for item in attachment.get("fields") or []:
            if isinstance(item, Mapping) and item.get("title"):
                out.fields[str(item["title"]).strip().lower()] = _unlink(str(item.get("value") or "")).strip()
        for action in attachment.get("actions") or []:
            if isinstance(action, Mapping) and action.get("url"):
                out.links.append(str(action["url"]))
    body.extend(_block_texts(event.get("blocks") or []))
    joined = "\n".join(part for part in body if part)
    out.links += [m.group(1) for m in _SLACK_LINK.finditer(joined + "\n" + out.title)]
    out.links += _URL.findall(_SLACK_LINK.sub(" ", joined))
    if out.title_link:
        out.links.insert(0, out.title_link)
    if not out.title:  # blocks-only or text-only messages: the first line is the title
        first, _, rest = _unlink(joined).strip().partition("\n")
        out.title, joined = first.strip().strip("*"), rest
    out.body = _unlink(joined)
    out.title = _unlink(out.title).strip()
    return out


def _block_texts(blocks: Iterable[Any]) -> Iterable[str]:
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        text = block.get("text")
        if isinstance(text, Mapping):
            yield str(text.get("text") or "")
        for item in block.get("fields") or block.get("elements") or []:
            if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                yield item["text"]
            elif isinstance(item, Mapping) and item.get("url"):
                yield f"<{item['url']}|link>"


def _unlink(text: str) -> str:
    """``<https://x|label>`` → ``label https://x``; ``<https://x>`` → the URL."""
    return _SLACK_LINK.sub(lambda m: f"{m.group(2)} {m.group(1)}" if m.group(2) else m.group(1), text)


Parser = Callable[[Mapping[str, Any], MessageText, frozenset[str]], Alert]


def _detect(event: Mapping[str, Any], text: MessageText) -> Parser:
    who = " ".join(str(x or "") for x in (event.get("username"), (event.get("bot_profile") or {}).get("name"),
                                          text.footer, text.author)).lower()
    links = " ".join(text.links).lower()
    if "grafana" in who or "/alerting/" in links and "grafana" in links:
        return _grafana
    if "datadoghq" in links or "datadog" in who:
        return _datadog
    if "sentry.io" in links or "sentry" in who:
        return _sentry
    if "pagerduty.com" in links or "pagerduty" in who:
        return _pagerduty
    if "opsgenie" in links or "opsgenie" in who:
        return _opsgenie
    if "alertmanager" in who or _STATUS_TITLE.match(text.title) or "alertmanager" in links:
        return _alertmanager
    return _plain_text


# --------------------------------------------------------------------------- products


def _alertmanager(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    match = _STATUS_TITLE.match(text.title)
    if not match:
        raise AlertParseError("an Alertmanager message without a `[FIRING:n]`/`[RESOLVED]` title")
    state = AlertState.RESOLVED if match.group(1).upper() == "RESOLVED" else AlertState.FIRING
    rest = match.group(3)
    values: list[str] = []
    parens = _PARENS.match(rest)
    if parens:
        rest, values = parens.group(1), parens.group(2).split()
    labels = _written_labels(text.body)
    words = rest.split()
    name = labels.get("alertname") or (words[0] if words else "")
    if not name:
        raise AlertParseError("no alert name in the title")
    labels.setdefault("alertname", name)
    # the title is the group labels' values, then (the other common labels' values)
    _infer_from_values(labels, [w for w in words if w != name], values, known)
    written = [labels.pop(key, None) for key in ("alert", "description", "details")]
    summary = next((re.sub(r"\s*-\s*`?\w+`?$", "", w).strip() for w in written if w), None)
    return _alert(AlertSource.ALERTMANAGER, event, text, name=name, state=state, labels=labels, known=known,
                  summary=summary)


def _grafana(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    match = _STATUS_TITLE.match(text.title)
    state = AlertState.RESOLVED if match and match.group(1).upper() == "RESOLVED" else AlertState.FIRING
    if "**resolved**" in text.body.lower():
        state = AlertState.RESOLVED
    labels = _written_labels(text.body)
    rest = match.group(3) if match else text.title
    values: list[str] = []
    parens = _PARENS.match(rest)
    if parens:
        rest, values = parens.group(1), parens.group(2).split()
    name = labels.get("alertname") or (rest.split()[0] if rest.split() else "")
    if not name:
        raise AlertParseError("no alert name in the Grafana message")
    labels.setdefault("alertname", name)
    _infer_from_values(labels, [], values, known)
    summary = _section_value(text.body, "summary")
    return _alert(AlertSource.GRAFANA, event, text, name=name, state=state, labels=labels, known=known,
                  summary=summary)


_DD_TITLE = re.compile(r"^\s*(?:\[(?P<a>[\w -]+?)(?: on [^\]]*)?\]|(?P<b>[\w-]+):)\s*(?P<rest>.+)$")


def _datadog(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    match = _DD_TITLE.match(text.title)
    status = ((match.group("a") or match.group("b")) if match else "").lower()
    name = (match.group("rest") if match else text.title).strip()
    name = re.sub(r"^\[(P\d)\]\s*", "", name)
    labels = _tags(text.everything)
    priority = re.search(r"\[(P\d)\]", text.title)
    if priority:
        labels.setdefault("severity", priority.group(1).lower())
    state = AlertState.RESOLVED if status in {"recovered", "resolved", "ok"} else AlertState.FIRING
    return _alert(AlertSource.DATADOG, event, text, name=name, state=state, labels=labels, known=known)


def _sentry(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    labels = _tags(text.body)
    for key in ("project", "environment", "level", "service"):
        if text.fields.get(key):
            labels.setdefault(key, text.fields[key])
    for key in ("project", "environment"):
        found = re.search(rf"\b{key}\s*:\s*\*?`?([\w.-]+)", text.body, re.I)
        if found:
            labels.setdefault(key, found.group(1))
    if "service" not in labels and labels.get("project"):
        labels["service"] = labels["project"]
    if labels.get("level"):
        labels.setdefault("severity", labels["level"])
    resolved = re.search(r"\b(resolved|marked as resolved)\b", text.everything, re.I)
    state = AlertState.RESOLVED if resolved else AlertState.FIRING
    return _alert(AlertSource.SENTRY, event, text, name=text.title.strip("* "), state=state,
                  labels=labels, known=known, summary=text.title)


_PD_STATE = re.compile(r"\b(Triggered|Acknowledged|Resolved|Escalated|Reassigned)\b", re.I)


def _pagerduty(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    found = _PD_STATE.search(text.everything)
    status = found.group(1).lower() if found else "triggered"
    labels = _tags(text.body)
    if text.fields.get("service"):
        labels.setdefault("service", text.fields["service"].split()[0].lower())
    if text.fields.get("urgency"):
        labels.setdefault("severity", text.fields["urgency"].lower())
    title = _PD_STATE.sub("", text.title).strip(" *:-")
    title = re.sub(r"^(?:incident\s*)?#\d+\s*[:-]?\s*", "", title, flags=re.I).strip() or text.title
    bracket = re.search(r"\[([\w.-]+)\]", title)
    if bracket and "service" not in labels:
        labels["service"] = bracket.group(1).lower()
    state = AlertState.RESOLVED if status == "resolved" else AlertState.FIRING
    return _alert(AlertSource.PAGERDUTY, event, text, name=title, state=state, labels=labels, known=known)


def _opsgenie(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    labels = _tags(text.fields.get("tags", "") + "\n" + text.body)
    priority = text.fields.get("priority") or (re.search(r"Priority\s*:\s*\*?(P\d)", text.everything, re.I) or [None, None])[1]
    if priority:
        labels.setdefault("severity", priority.lower())
    title = re.sub(r"^\s*\[?Opsgenie\]?\s*", "", text.title, flags=re.I)
    title = re.sub(r"^(?:new alert:?\s*)?\"?#\d+\s*:\s*", "", title, flags=re.I).strip(' "')
    closed = re.search(r"\b(closed|resolved)\b", text.everything, re.I)
    state = AlertState.RESOLVED if closed else AlertState.FIRING
    return _alert(AlertSource.OPSGENIE, event, text, name=title, state=state, labels=labels, known=known)


def _plain_text(event: Mapping[str, Any], text: MessageText, known: frozenset[str]) -> Alert:
    labels = {k.lower(): v.lower() for k, v in _KEY_EQ.findall(text.everything)}
    service = labels.get("service") or labels.get("app") or _known_in(text.everything, known)
    if not service:
        raise AlertParseError(
            "no service named: add a `service` label (service=checkout) or type `/incident <service>`")
    labels["service"] = service
    resolved = re.search(r"\b(resolved|recovered)\b", text.everything, re.I)
    return _alert(AlertSource.TEXT, event, text, name=text.title[:120] or "alert", labels=labels,
                  state=AlertState.RESOLVED if resolved else AlertState.FIRING, known=known,
                  summary=text.everything.strip()[:300])


# --------------------------------------------------------------------------- helpers


def _alert(source: AlertSource, event: Mapping[str, Any], text: MessageText, *, name: str,
           state: AlertState, labels: dict[str, str], known: frozenset[str],
           summary: str | None = None) -> Alert:
    name = " ".join(name.split())[:200]
    if not name:
        raise AlertParseError("no alert name")
    service = next((labels[k] for k in SERVICE_LABELS if labels.get(k)), None) or _known_in(
        text.everything, known)
    if service is None:
        raise AlertParseError(f"no service in this {source.value} alert: add a `service` label or tag")
    service = service.lower()
    namespace = labels.get("namespace") or labels.get("kube_namespace")
    severity = labels.get("severity") or labels.get("priority")
    links = {"alert": text.links[0]} if text.links else {}
    for label, url in _LINK_LINE.findall(text.body):
        links[label.lower()] = url
    fingerprint = hashlib.sha256("|".join([source.value, name, service, namespace or ""]).encode()).hexdigest()[:16]
    return Alert(
        source=source, name=name, service=service, namespace=namespace,
        severity=severity.lower() if severity else None, state=state,
        starts_at=_message_time(event), summary=summary or labels.get("summary") or _summary(text),
        fingerprint=fingerprint, links=links, labels=labels,
    )


def _written_labels(body: str) -> dict[str, str]:
    """Labels written out in a message: ``*key:* `value` `` or `` - key = value`` lines (only the
    ``Labels:`` section of a Grafana message)."""
    labels = {k.lower(): v.strip().strip("`").strip() for k, v in _BOLD_LABEL.findall(body) if v.strip()}
    section = re.search(r"Labels:\s*\n(.*?)(?:\n\s*\n|\n[A-Z][\w ]*:|\Z)", body, re.S)
    if section:
        labels.update({k: v.strip() for k, v in _DASH_LABEL.findall(section.group(1))})
    return labels


def _section_value(body: str, key: str) -> str | None:
    found = re.search(rf"^\s*-\s*{key}\s*=\s*(.+)$", body, re.M)
    return found.group(1).strip() if found else None


def _tags(text: str) -> dict[str, str]:
    """``service:checkout, env:prod`` style tags (URLs and times are skipped)."""
    tags: dict[str, str] = {}
    for key, value in _TAG.findall(_URL.sub(" ", text)):
        if key in {"http", "https"} or value.isdigit():
            continue
        tags.setdefault(key.lower(), value)
    return tags


def _infer_from_values(labels: dict[str, str], grouped: list[str], common: list[str],
                       known: frozenset[str]) -> None:
    """Alertmanager's default title gives label *values* only: the group labels' (after the alert
    name), then in parentheses the other common labels', each in label-name order (cluster,
    namespace, service, severity are the usual ones). A known service wins; else a grouped value
    (teams group by service), else the value before the severity."""
    values = [v for v in [*grouped, *common] if v != labels.get("alertname")]
    if not values:
        return
    severity = next((v for v in values if v.lower() in SEVERITIES), None)
    if severity and "severity" not in labels:
        labels["severity"] = severity
    rest = [v for v in values if v != severity]
    if "service" not in labels:
        candidates = [v for v in grouped if v != severity] or [v for v in common if v != severity]
        service = next((v for v in rest if v.lower() in known), None) or (
            candidates[-1] if candidates else None)
        if service:
            labels["service"] = service
    in_common = [v for v in common if v != severity]
    if "namespace" not in labels and labels.get("service") in in_common:
        index = in_common.index(labels["service"])
        if index >= 1:  # sorted label names put namespace right before service
            labels["namespace"] = in_common[index - 1]
    elif "namespace" not in labels and labels.get("service") in grouped and len(in_common) == 1 \
            and in_common[0].lower() not in known:
        labels["namespace"] = in_common[0]


def _known_in(text: str, known: frozenset[str]) -> str | None:
    if not known:
        return None
    for word in _WORD.findall(text.lower()):
        if word in known:
            return word
    return None


def _summary(text: MessageText) -> str | None:
    lines = [line.strip() for line in text.body.splitlines() if line.strip()]
    return lines[0][:300] if lines else None


def _message_time(event: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(event["ts"]), tz=UTC)
    except (KeyError, TypeError, ValueError):
        return None
