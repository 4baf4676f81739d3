"""The JSON Schema a model fills in: ``BriefDraft``'s, with ``$ref``s inlined (so small
OpenAI-compatible servers accept it too) and the per-kind action parameters spelled out."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from bot.models import BriefDraft

ACTION_PARAMS_HELP = (
    "Parameters of the action kind: "
    'rollback {"to_revision": "<the git sha (or Helm chart version) of an earlier deploy in the '
    'deploy evidence, never a branch>", "history_id": <its ArgoCD history id>}; restart {}; scale {"replicas": <int>}; '
    'sync {"revision": "<revision>"}; runbook {"name": "<runbook name>"}; manual {"text": "<what to do>"}.'
)


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace every local ``#/$defs/X`` reference by a copy of its definition (no cycles here)."""
    defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(node: Any, depth: int = 0) -> Any:
        if depth > 32:
            raise ValueError("schema nests too deeply (cyclic $ref?)")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = copy.deepcopy(defs[ref.removeprefix("#/$defs/")])
                extra = {k: v for k, v in node.items() if k != "$ref"}
                return resolve({**target, **extra}, depth + 1)
            return {k: resolve(v, depth + 1) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item, depth + 1) for item in node]
        return node

    return resolve(schema)


@cache
def _brief_schema() -> dict[str, Any]:
    schema = inline_refs(BriefDraft.model_json_schema())
    action = schema["properties"]["actions"]["items"]
    action["properties"]["params"]["description"] = ACTION_PARAMS_HELP
    action["description"] = (
        "A typed remediation proposal on a service seen in the evidence; never a shell command."
    )
    schema["properties"]["summary"]["description"] = "At most 3 bullets, each with numbers and UTC times."
    schema["properties"]["unknowns"]["description"] = "What could not be checked (missing sources, gaps)."
    schema["properties"]["evidence"]["description"] = "Evidence cited by id; only ids given to you."
    return schema


def brief_schema() -> dict[str, Any]:
    """A fresh copy of the schema for the ``submit_brief`` tool."""
    return copy.deepcopy(_brief_schema())
