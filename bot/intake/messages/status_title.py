"""The ``[FIRING:n] Name … (v1 v2 v3)`` title that Alertmanager's and Grafana's Slack templates share.

Label *names* are lost in it, so service, namespace and severity are guessed from the values
(``_guess``); labels written out in the text are exact and win over the guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.intake.messages.build import (NAMESPACE_KEYS, SERVICE_KEYS, SEVERITIES, SEVERITY_KEYS, build_alert,
                                       first_label)
from bot.intake.messages.flatten import FlatMessage
from bot.models import Alert, AlertSource, AlertState

_ENV = r"(?:prod|production|prd|staging|stage|stg|dev|develop|development|test|testing|qa|uat|preprod|sandbox)"
#: values that look like a cluster, environment or region rather than a service or namespace
_CLUSTER_LIKE = re.compile(
    rf"^(?:{_ENV}|{_ENV}[-_.][\w.-]+"
    r"|(?:gke|eks|aks|k8s|kube|cluster)[-_][\w.-]+|[a-z]{2}-[a-z]+-\d+"
    r"|(?:eu|us|ap|sa|ca|me|af|uk|euw|euc|use|usw|apse|apne)\d{1,2})$", re.I)
#: values that look like an instance, pod, address or number
_INSTANCE_LIKE = re.compile(r"[:/@]|^\d[\d.]*$|-[a-z0-9]{8,10}-[a-z0-9]{5}$|^[0-9a-f]{12,}$"
                            r"|^(?:node|ip|host|worker|vm|i)-[\w.-]+$", re.I)

STATUS_TITLE = re.compile(r"^\[(FIRING|RESOLVED)(?::(\d+))?\]\s*(.*)$", re.I)
_PARENS = re.compile(r"^(.*?)\s*\(([^()]*)\)\s*$")


@dataclass(slots=True)
class _Guess:
    service: str | None = None
    namespace: str | None = None
    severity: str | None = None

    def inferred(self) -> list[str]:
        return [name for name in ("namespace", "service", "severity") if getattr(self, name)]


def status_title(msg: FlatMessage) -> tuple[AlertState | None, int | None, str, list[str]]:
    """``[FIRING:3] Name extra (v1 v2 v3)`` → (state, 3, "Name extra", [v1, v2, v3])."""
    match = STATUS_TITLE.match(msg.title) or STATUS_TITLE.match(msg.fallback)
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
    if not first_label(exact, SEVERITY_KEYS):
        guess.severity = next((v for v in pool if v.lower() in SEVERITIES), None)
    plausible = [v for v in pool if v.lower() not in SEVERITIES and not _CLUSTER_LIKE.match(v)
                 and not _INSTANCE_LIKE.search(v)]
    service = exact_service = first_label(exact, SERVICE_KEYS)
    if not service:
        in_known = [v for v in pool if v.lower() in known]
        from_group = [v for v in plausible if v in group]
        from_values = [v for v in plausible if v in values]
        plausible_last = (from_group or from_values)[-1] if from_group or from_values else None
        service = guess.service = next(iter(in_known), None) or plausible_last
    if first_label(exact, NAMESPACE_KEYS) or len(values) < 3:
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


def title_alert(msg: FlatMessage, known: Mapping[str, str], *, source: AlertSource, state: AlertState,
                name: str, labels: dict[str, str], group: list[str], values: list[str],
                annotations: dict[str, str], links: Mapping[str, str], starts_at: str | None) -> Alert:
    guess = _guess(group=group, values=values, exact=labels, known=known)
    if guess.inferred():
        annotations["inferred"] = ",".join(guess.inferred())
    return build_alert(
        msg, source=source, name=name, state=state, labels=labels, known=known,
        service=first_label(labels, SERVICE_KEYS) or guess.service,
        namespace=first_label(labels, NAMESPACE_KEYS) or guess.namespace,
        severity=first_label(labels, SEVERITY_KEYS) or guess.severity,
        summary=annotations.get("summary") or annotations.get("description"),
        annotations=annotations, links=links, starts_at=starts_at)
