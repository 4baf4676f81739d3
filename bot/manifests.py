"""Kubernetes manifests (as ArgoCD's ``/manifests`` endpoint renders them for a revision) reduced to
what an approver asks about a rollback, and the difference between two such states.

    state = manifest_state(body["manifests"])      {"ConfigMap checkout-config DB_POOL_MAX": "10", ...}
    changes = diff_states(before, after)            [ConfigChange(...)] most telling first, bounded

Kept: container images, environment variables (a ``valueFrom`` as where it comes from), ConfigMap
keys with their values, Secret keys by name only (a value is never kept, not even ArgoCD's mask; a
credential-like key in a ConfigMap or env var keeps only a keyed hash, enough to say it changed),
replicas, resources, probes, HPA bounds. Everything else in a manifest is left out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from bot.models import ConfigChange

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Rollout", "ReplicaSet", "Job", "CronJob"}
MAX_VALUE = 80
MAX_CHANGES = 12
#: a Secret key's value in a state: present, never what it is
SECRET_SET = "(set)"
#: a key whose value is a credential even outside a Secret (``DB_PASSWORD`` in a ConfigMap or an env var)
_SECRET_KEY = re.compile(r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|credential|private[_-]?key|"
                         r"auth|cookie|session[_-]?key|signing[_-]?key|dsn)")
#: values of such keys are kept as a keyed hash: two states can be compared, nothing can be read back
_PROCESS_KEY = secrets.token_bytes(32)
_ORDER = ("ConfigMap", "env", "image", "Secret", "replicas", "resources", "probe", "HPA")


class ManifestError(ValueError):
    """A manifests body Sitrep cannot read."""


def manifest_state(manifests: Iterable[Any]) -> dict[str, str]:
    """``manifests[]`` (JSON strings or objects) → a flat ``{what: value}`` state."""
    state: dict[str, str] = {}
    for raw in manifests:
        try:
            obj = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise ManifestError(f"a manifest is not JSON: {exc.msg}") from exc
        if not isinstance(obj, dict):
            continue
        kind = str(obj.get("kind") or "")
        name = str((obj.get("metadata") or {}).get("name") or "?")
        if kind == "ConfigMap":
            for key, value in sorted((obj.get("data") or {}).items()):
                state[f"ConfigMap {name} {key}"] = _guarded(key, str(value))
        elif kind == "Secret":
            for key in sorted({**(obj.get("data") or {}), **(obj.get("stringData") or {})}):
                state[f"Secret {name} key {key}"] = SECRET_SET
        elif kind in WORKLOADS:
            _workload(state, kind, name, obj.get("spec") or {})
        elif kind == "HorizontalPodAutoscaler":
            spec = obj.get("spec") or {}
            for field in ("minReplicas", "maxReplicas"):
                if spec.get(field) is not None:
                    state[f"HPA {name} {field}"] = str(spec[field])
    return state


def _workload(state: dict[str, str], kind: str, name: str, spec: Mapping[str, Any]) -> None:
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    if spec.get("replicas") is not None:
        state[f"replicas {kind} {name}"] = str(spec["replicas"])
    pod = ((spec.get("template") or {}).get("spec") or {})
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        if not isinstance(container, dict):
            continue
        cname = str(container.get("name") or "?")
        who = cname if cname == name else f"{name}/{cname}"
        if container.get("image"):
            state[f"image {who}"] = str(container["image"])
        for env in container.get("env") or []:
            if isinstance(env, dict) and env.get("name"):
                state[f"env {who} {env['name']}"] = (_guarded(str(env["name"]), str(env["value"])) if "value" in env
                                                      else _cut(_env_value(env)))
        for ref in container.get("envFrom") or []:
            if isinstance(ref, dict):
                for source in ("configMapRef", "secretRef"):
                    if (ref.get(source) or {}).get("name"):
                        state[f"env {who} from {source[:-3]} {ref[source]['name']}"] = "yes"
        for scope in ("requests", "limits"):
            for resource, amount in sorted(((container.get("resources") or {}).get(scope) or {}).items()):
                state[f"resources {who} {scope}.{resource}"] = str(amount)
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if container.get(probe):
                state[f"probe {who} {probe.removesuffix('Probe')}"] = _cut(
                    json.dumps(container[probe], sort_keys=True, separators=(",", ":")), 120)


def _guarded(key: str, value: str) -> str:
    if _SECRET_KEY.search(key):
        return "hidden:" + hmac.new(_PROCESS_KEY, value.encode(), hashlib.sha256).hexdigest()[:16]
    return _cut(value)


def is_hidden(what: str, value: str | None) -> bool:
    return what.startswith("Secret ") or (value or "").startswith("hidden:")


def _env_value(env: Mapping[str, Any]) -> str:
    if "value" in env:
        return str(env["value"])
    source = env.get("valueFrom") or {}
    if ref := source.get("secretKeyRef"):
        return f"from Secret {ref.get('name')} key {ref.get('key')}"
    if ref := source.get("configMapKeyRef"):
        return f"from ConfigMap {ref.get('name')} key {ref.get('key')}"
    if ref := source.get("fieldRef"):
        return f"from field {ref.get('fieldPath')}"
    return "from elsewhere"


def diff_states(before: Mapping[str, str], after: Mapping[str, str], *, limit: int = MAX_CHANGES) -> list[ConfigChange]:
    """What changes going from ``before`` to ``after``: the most telling first (ConfigMap values, env,
    images, Secret keys, replicas, resources, probes, HPA), at most ``limit``."""
    changes = [
        ConfigChange(what=key, before=before.get(key), after=after.get(key),
                     hidden=is_hidden(key, before.get(key)) or is_hidden(key, after.get(key)))
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    changes.sort(key=lambda c: (_rank(c.what), c.what))
    return changes[:limit]


def describe_changes(changes: list[ConfigChange] | None, *, limit: int = 6) -> str:
    """``image checkout …:v2.14.2 → …:v2.14.3; ConfigMap checkout-config DB_POOL_MAX 50 → 10``."""
    if not changes:
        return "no difference in images, configuration, replicas, resources or probes"
    lines: list[str] = []
    images: dict[tuple[str | None, str | None], list[str]] = {}
    for change in changes:
        short = _short_images(change)
        if change.what.startswith("image ") and short.before and short.after and short.before.startswith("…"):
            if (short.before, short.after) not in images:
                lines.append(f"\0{len(images)}")  # the images that moved the same way share one line
            images.setdefault((short.before, short.after), []).append(change.what.removeprefix("image "))
        else:
            lines.append(short.line())
    grouped = [f"image {', '.join(names)} {before} → {after}" for (before, after), names in images.items()]
    lines = [grouped[int(line[1:])] if line.startswith("\0") else line for line in lines]
    shown = "; ".join(lines[:limit])
    return shown + (f"; and {len(lines) - limit} more" if len(lines) > limit else "")


def _short_images(change: ConfigChange) -> ConfigChange:
    """An image change reads as the tags when only the tag changed."""
    if not change.what.startswith("image ") or not change.before or not change.after:
        return change
    b_name, _, b_tag = change.before.rpartition(":")
    a_name, _, a_tag = change.after.rpartition(":")
    if b_name == a_name and "/" not in b_tag and "/" not in a_tag:
        return change.model_copy(update={"before": f"…:{b_tag}", "after": f"…:{a_tag}"})
    return change


def _rank(what: str) -> int:
    return next((i for i, prefix in enumerate(_ORDER) if what.startswith(prefix)), len(_ORDER))


def _cut(value: str, limit: int = MAX_VALUE) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"
