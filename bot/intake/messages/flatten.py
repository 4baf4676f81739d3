"""A Slack message event, flattened: everything readable in it as plain text.

``flatten(event)`` reads the top-level ``text``, legacy ``attachments`` (title, pretext, text,
fields, footer, buttons) and ``blocks`` (sections, fields, context, rich text) into a
``FlatMessage``; Slack's ``<url|label>`` markup and ``&amp;`` escapes are undone (never back into
live markup) and every URL is kept in ``links``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.intake.errors import AlertParseError

_SLACK_LINK = re.compile(r"<([^<>|\s]+)(?:\|([^<>]*))?>")
URL = re.compile(r"https?://[^\s<>|`\"')\]]+")
EMOJI = re.compile(r":[a-z0-9_+-]+:")


@dataclass(slots=True)
class FlatMessage:
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


def flatten(event: Mapping[str, Any]) -> FlatMessage:
    if not isinstance(event, Mapping):
        raise AlertParseError("not a Slack message event")
    if event.get("type") == "event_callback" and isinstance(event.get("event"), Mapping):
        event = event["event"]
    msg = FlatMessage(ts=_str(event.get("ts")) or None)
    raw_profile = event.get("bot_profile")
    profile: Mapping[str, Any] = raw_profile if isinstance(raw_profile, Mapping) else {}
    senders = [_str(event.get("username")), _str(profile.get("name"))]
    msg.is_bot = bool(event.get("bot_id") or event.get("subtype") == "bot_message" or profile)
    text = _str(event.get("text"))
    msg.lines += plain(text, msg.links).splitlines()
    for attachment in _list(event.get("attachments")):
        if not isinstance(attachment, Mapping) or attachment.get("from_url"):
            continue  # a link unfurl is not the alert
        title = plain(_str(attachment.get("title")), msg.links).strip()
        if title and not msg.title:
            msg.title = title
            msg.title_link = _url(attachment.get("title_link"))
            if msg.title_link:
                msg.links.insert(0, (title, msg.title_link))
        for key in ("pretext", "text"):
            msg.lines += plain(_str(attachment.get(key)), msg.links).splitlines()
        msg.fallback = msg.fallback or plain(_str(attachment.get("fallback")), []).strip()
        footer = plain(_str(attachment.get("footer")), msg.links).strip()
        msg.footer = msg.footer or footer
        senders += [_str(attachment.get("author_name")), footer, _str(attachment.get("service_name"))]
        for item in _list(attachment.get("fields")):
            if isinstance(item, Mapping) and _str(item.get("title")).strip():
                key = _str(item.get("title")).strip().strip("*:").strip().lower()
                msg.fields.setdefault(key, clean(plain(_str(item.get("value")), msg.links)))
        for action in _list(attachment.get("actions")):
            if isinstance(action, Mapping):
                _button(msg, _str(action.get("text")), action.get("url"))
        _read_blocks(_list(attachment.get("blocks")), msg)
    _read_blocks(_list(event.get("blocks")), msg, skip_rich_text=bool(text.strip()))
    msg.sender = " ".join(s for s in senders if s).lower()
    if not msg.title:  # blocks or text only: the first line is the title
        first_line = next((line for line in msg.lines if line.strip()), "")
        msg.title = first_line or next(iter(msg.fallback.splitlines()), "")
    msg.title = EMOJI.sub("", msg.title).strip().strip("*_~").strip()
    if not (msg.title or msg.text.strip() or msg.fields):
        raise AlertParseError("empty message")
    return msg


def _read_blocks(blocks: Iterable[Any], msg: FlatMessage, *, skip_rich_text: bool = False) -> None:
    for block in blocks:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "rich_text":
            if not skip_rich_text:
                msg.lines += _rich_text(block, msg).splitlines()
            continue
        if isinstance(block.get("text"), Mapping):
            msg.lines += plain(_str(block["text"].get("text")), msg.links).splitlines()
        for item in _list(block.get("fields")):
            if isinstance(item, Mapping):
                _block_field(plain(_str(item.get("text")), msg.links), msg)
        accessory = block.get("accessory")
        if isinstance(accessory, Mapping):
            _button(msg, _text_of(accessory), accessory.get("url"))
        for element in _list(block.get("elements")):
            if not isinstance(element, Mapping):
                continue
            if element.get("type") in ("mrkdwn", "plain_text"):
                msg.lines += plain(_str(element.get("text")), msg.links).splitlines()
            elif element.get("type") in ("button", "overflow", "static_select", "users_select"):
                _button(msg, _text_of(element), element.get("url"))


def _block_field(text: str, msg: FlatMessage) -> None:
    """A block field ``*Key*\\nValue`` is a field; anything else is a line."""
    head, _, rest = text.partition("\n")
    key = head.strip().strip("*_").strip().rstrip(":").strip("*_").strip()
    if rest.strip() and key and len(key) <= 40:
        msg.fields.setdefault(key.lower(), clean(rest))
    else:
        msg.lines += text.splitlines()


def _rich_text(node: Any, msg: FlatMessage) -> str:
    if isinstance(node, Mapping):
        if node.get("type") == "link" and _url(node.get("url")):
            msg.links.append((_str(node.get("text")), _str(node.get("url"))))
            return _str(node.get("text")) or _str(node.get("url"))
        if node.get("type") in ("text", "emoji") or "elements" not in node:
            return _str(node.get("text"))
        parts = "".join(_rich_text(child, msg) for child in _list(node.get("elements")))
        return parts + ("\n" if node.get("type") in ("rich_text_section", "rich_text_preformatted") else "")
    return ""


def _button(msg: FlatMessage, text: str, url: Any) -> None:
    """A button or menu: only a URL it opens is kept (as a link named by its text)."""
    if _url(url):
        msg.links.append((text, str(url)))


def plain(text: str, links: list[tuple[str, str]]) -> str:
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
    links += [("", url) for url in URL.findall(_SLACK_LINK.sub(" ", text))]
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


def clean(value: str) -> str:
    """A written value without its surrounding markup: ``*`x`*`` → ``x``."""
    value = " ".join(value.split())
    while len(value) >= 2 and value[0] == value[-1] and value[0] in "`*_~":
        value = value[1:-1].strip()
    return value
