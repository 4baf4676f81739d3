"""structlog set-up: JSON or console lines on stderr, with secrets and personal data redacted.

Every event, ours (structlog) and the libraries' (Bolt, uvicorn, httpx through the standard library), goes
through ``SecretMasker`` after its exception has been formatted, so a token in an exception message, a
URL with a password or a customer's email never reaches the log stream.

The libraries' own INFO lines (APScheduler on every run of a 2-second job, Alembic's plugins and
migrations, uvicorn's start and access lines, every httpx request) are their bookkeeping, not ours:
below WARNING they are shown only at ``LOG_LEVEL=debug``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from bot.digest.redact import Redactor, placeholder

#: What a configured secret value (``Settings.secret_values()``) becomes in a log line.
MASK = placeholder("configured")

# Fields the processors before us fill with known-safe values; not worth scanning.
_SAFE_FIELDS = frozenset({"timestamp", "level", "logger", "_from_structlog", "_record"})


class SecretMasker:
    """A structlog processor that redacts every string in an event.

    Strings go through the ``Redactor`` (provider tokens, credentials in URLs and key=value pairs, JWTs,
    private keys, emails, phone numbers, cards, IBANs, public IPs) with the configured secret values as
    exact matches; a field whose *name* says secret (``password=...``, ``api_key=...``) is replaced whole.
    Only strings are scanned, recursively inside dicts, lists and tuples; other values pass untouched.
    """

    def __init__(self, secrets: Iterable[str] = (), *, redactor: Redactor | None = None) -> None:
        self._redactor = redactor if redactor is not None else Redactor(extra_secrets=secrets)

    def _mask(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, str):
            if key is not None:
                return self._redactor.redact_field(key, value)
            return self._redactor.redact_text(value)
        if isinstance(value, dict):
            return {k: self._mask(v, k if isinstance(k, str) else None) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._mask(v) for v in value)
        return value

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
        return {
            k: v if k in _SAFE_FIELDS else self._mask(v, None if k == "event" else k)
            for k, v in event_dict.items()
        }


class LibraryNoise(logging.Filter):
    """Drops the standard library's records below ``threshold`` (Sitrep itself logs through structlog,
    so every standard-library record is a library's)."""

    def __init__(self, threshold: int = logging.WARNING) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.threshold


def configure_logging(*, level: str = "INFO", fmt: str = "console", secrets: Iterable[str] = ()) -> None:
    """Route structlog and the standard library's logging (Bolt, uvicorn, httpx) to stderr; the
    libraries' lines below WARNING only at DEBUG."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    # the exception is rendered to text *before* the masker, so its message is redacted too
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        SecretMasker(secrets),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    handler.addFilter(LibraryNoise(numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
