"""One choke point: collected evidence is redacted before anything downstream (prompt, Slack,
store, logs) sees it. What was removed is counted by kind, never kept by value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.digest.redact import Redactor, placeholder, secret_kind_for_key
from bot.models import Deploy, LogLine, SourceResult, Trace


def scrub_results(results: Sequence[SourceResult], redactor: Redactor) -> tuple[list[SourceResult], Counter[str]]:
    """Copies of ``results`` with every evidence text redacted, and the kinds removed."""
    removed: Counter[str] = Counter()

    def clean(text: str) -> str:
        redacted = redactor.redact(text)
        removed.update(finding.kind for finding in redacted.findings)
        return redacted.text

    def clean_field(key: str, value: str) -> str:
        """A field whose name says secret (``api_key``) is replaced whole; other values are scanned."""
        kind = secret_kind_for_key(key)
        if kind is not None and redactor.redact_field(key, value) == placeholder(kind):
            removed[kind] += 1
            return placeholder(kind)
        return clean(value)

    scrubbed = []
    for result in results:
        evidence = []
        for item in result.evidence:
            update: dict[str, object] = {"detail": clean(item.detail)}
            payload = item.payload
            if isinstance(payload, LogLine):  # log lines and Kubernetes events
                update["payload"] = payload.model_copy(update={
                    "line": clean(payload.line),
                    "message": clean(payload.message) if payload.message else payload.message,
                    "labels": {k: clean_field(k, v) for k, v in payload.labels.items()},
                    "fields": {k: clean_field(k, v) for k, v in payload.fields.items()},
                })
            elif isinstance(payload, Deploy):  # who deployed, the commit, configuration values
                update["payload"] = payload.model_copy(update={
                    "initiated_by": clean(payload.initiated_by) if payload.initiated_by else None,
                    "author": clean(payload.author) if payload.author else None,
                    "message": clean(payload.message) if payload.message else None,
                    "changes": None if payload.changes is None else [
                        c.model_copy(update={"before": clean(c.before) if c.before else c.before,
                                             "after": clean(c.after) if c.after else c.after})
                        for c in payload.changes],
                })
            elif isinstance(payload, Trace):
                update["payload"] = payload.model_copy(update={
                    "root_operation": clean(payload.root_operation),
                    "spans": [s.model_copy(update={"operation": clean(s.operation)}) for s in payload.spans],
                })
            evidence.append(item.model_copy(update=update))
        error = clean(result.error) if result.error else None
        scrubbed.append(result.model_copy(update={"evidence": evidence, "error": error}))
    return scrubbed, removed
