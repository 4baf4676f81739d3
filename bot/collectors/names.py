"""Names that go into upstream queries: validated, then escaped for the query language.

A service or namespace comes from an alert label, a Slack message or ``/incident`` text, so anyone
may have written it. Before any upstream call it must look like a Kubernetes name (``NAME_PATTERN``,
configurable with ``SITREP_NAME_PATTERN``); anything else (``cart", namespace=~".+``) is refused with
a reason and no source is asked. What passes is still escaped where it lands in a string literal:
``logql_string`` / ``promql_string`` for LogQL and PromQL, httpx ``params=`` or ``quote()`` for
Jaeger and ArgoCD URLs.
"""

from __future__ import annotations

import re

from bot.models import InvestigationRequest

#: DNS-1123 labels and subdomains (Kubernetes object names), plus ``_`` which some label values use
NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$"


class NameRule:
    """The rule names must follow; ``check(request)`` says why a request may not be queried."""

    def __init__(self, pattern: str = NAME_PATTERN) -> None:
        self.pattern = pattern
        self._re = re.compile(pattern)

    def valid(self, value: str) -> bool:
        return bool(self._re.fullmatch(value))

    def check(self, request: InvestigationRequest) -> str | None:
        for what, value in (("service", request.service), ("namespace", request.namespace)):
            if value is not None and not self.valid(value):
                shown = value[:60].encode("unicode_escape").decode("ascii")
                return (f"refused: the {what} name {shown!r} is not a valid name (Kubernetes name rules: lower-case "
                        "letters, digits, '-', '.'), so it is not put into any query")
        return None


DEFAULT_NAMES = NameRule()


def promql_string(value: str) -> str:
    """``value`` safe inside a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def logql_string(value: str) -> str:
    """``value`` safe inside a double-quoted LogQL string (Go string rules, as PromQL)."""
    return promql_string(value)
