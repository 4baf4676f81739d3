"""An ArgoCD application's history as deploys: what identifies each entry, how people name it, and
which entry a revision names. Every part that shows or compares deploys uses this module (the
collector, the digest, grounding, the policy engine, the executor, revert), so they agree.

Three shapes of application are common, and only some fields tell their entries apart:

    git source, tag    source.targetRevision v2.14.3 per entry   identity: the sha (``revision``)
    git source, branch targetRevision HEAD/main in every entry   identity: the sha; the branch is no name
    Helm repository    ``revision`` is the chart version          identity: the chart version
    multi-source       ``revisions[]``/``sources[]`` per entry     identity: the tuple; ``revision`` is its
                                                                   first git sha (e.g. the values repo)

A label is the most specific of: the image tags that changed against the entry before, a git tag
pointing at the sha (revision metadata), a pinned ``targetRevision`` (a tag), the chart version,
else the short sha. Never a branch name. Two entries that would share a label get the short sha.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.models import Deploy

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
#: refs that always move: never the name of one deploy
_MOVING = {"head", "main", "master", "trunk", "develop", "development", "dev", "stable", "latest", "production",
           "prod", "staging", "release"}


def is_sha(text: str) -> bool:
    return bool(_SHA.fullmatch(text))


def short_sha(text: str) -> str:
    return text[:7] if is_sha(text) else text


# --------------------------------------------------------------------------- parsing


def parse_history(app: str, application: dict[str, Any]) -> list[Deploy]:
    """The application's history entries as deploys, oldest first, the newest marked ``current``
    (with the head revisions ArgoCD reports and the live images), pinned refs found, labelled."""
    status = application.get("status") or {}
    entries = [e for e in status.get("history") or [] if isinstance(e, dict) and e.get("deployedAt")]
    history = sorted((deploy_from_entry(app, e) for e in entries), key=lambda d: (d.deployed_at, d.history_id))
    if history:
        current = history[-1]
        current.current = True
        sync = status.get("sync") or {}
        heads = [str(r) for r in sync.get("revisions") or [] if r] or ([str(sync["revision"])] if sync.get("revision")
                                                                       else [])
        current.head_revisions = heads
        images = (status.get("summary") or {}).get("images") or []
        current.images = sorted(str(i) for i in images if isinstance(i, str))
        automated = auto_sync_policy(application)
        if automated is not None:
            current.auto_sync = dict(automated)
    mark_pinned(history)
    label_history(history)
    return history


def auto_sync_policy(application: dict[str, Any]) -> dict[str, Any] | None:
    """``spec.syncPolicy.automated`` when automated sync is on (``enabled: false`` means off)."""
    automated = ((application.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    if not isinstance(automated, dict) or automated.get("enabled") is False:
        return None
    return automated


def deploy_from_entry(app: str, entry: dict[str, Any]) -> Deploy:
    """One ``status.history[]`` entry (``v1alpha1RevisionHistory``) of any shape."""
    sources = [s for s in entry.get("sources") or [] if isinstance(s, dict)]
    source = entry.get("source") if isinstance(entry.get("source"), dict) else {}
    revisions = [str(r) for r in entry.get("revisions") or [] if r is not None]
    if sources and revisions:
        shas = [r for r in revisions if is_sha(r)]
        revision = shas[0] if shas else revisions[0]
        chart_source = next((s for s in sources if s.get("chart")), None)
        target = None
        chart = chart_source.get("chart") if chart_source else None
    else:
        revision = str(entry.get("revision") or "")
        target = source.get("targetRevision")
        chart = source.get("chart")
        revisions = []
    initiated = entry.get("initiatedBy") or {}
    by = initiated.get("username") or ("automated" if initiated.get("automated") else None)
    return Deploy(
        app=app, history_id=int(entry["id"]), revision=revision, revisions=revisions,
        target_revision=str(target) if target else None, chart=str(chart) if chart else None,
        deployed_at=_utc(datetime.fromisoformat(str(entry["deployedAt"]).replace("Z", "+00:00"))),
        initiated_by=by,
    )


def mark_pinned(history: Sequence[Deploy]) -> None:
    """A ``targetRevision`` names one deploy when it is not a moving ref (``HEAD``, a branch) and no
    entry with another identity came from it. A Helm chart version always does."""
    by_target: dict[str, set[tuple[str, ...]]] = {}
    for deploy in history:
        if deploy.target_revision:
            by_target.setdefault(deploy.target_revision, set()).add(identity(deploy))
    for deploy in history:
        target = deploy.target_revision
        deploy.pinned = bool(target) and (
            deploy.chart is not None
            or (not is_moving_ref(target) and len(by_target.get(target, ())) == 1 and any(c.isdigit() for c in target))
        )


def is_moving_ref(ref: str) -> bool:
    """``HEAD``, ``main``, ``release/*``… : names that move with every commit."""
    low = ref.strip().lower()
    return low in _MOVING or low.startswith(("refs/heads/", "release/", "feature/", "hotfix/"))


def identity(deploy: Deploy) -> tuple[str, ...]:
    return tuple(r.lower() if is_sha(r) else r for r in deploy.all_revisions)


# --------------------------------------------------------------------------- labels


def image_tag(image: str) -> tuple[str, str]:
    """``registry/x/checkout:v2.14.3`` → ``("checkout", "v2.14.3")``; a digest-only image → its short digest."""
    ref = image.rsplit("@", 1)
    name = ref[0]
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        last, tag = last.split(":", 1)
    if not tag and len(ref) == 2:
        tag = ref[1].split(":")[-1][:12]
    return last, tag


def _changed_tags(deploy: Deploy, before: Deploy | None, after: Deploy | None) -> list[str]:
    """The image tags that tell ``deploy`` apart: those that changed against the entry before it, or,
    when that one's images are unknown, those that differ from the entry after it."""
    neighbour = before if before is not None and before.images else after
    if not deploy.images or neighbour is None or not neighbour.images:
        return []
    mine = dict(image_tag(i) for i in deploy.images)
    theirs = dict(image_tag(i) for i in neighbour.images)
    changed = {name: tag for name, tag in mine.items() if tag and theirs.get(name) != tag}
    tags = sorted(set(changed.values()))
    if len(tags) <= 1:
        return tags
    return [f"{name} {tag}" for name, tag in sorted(changed.items())][:3]


def label_history(history: Sequence[Deploy]) -> None:
    """Set ``label`` on every entry (oldest first in ``history``); see the module docstring."""
    ordered = sorted(history, key=lambda d: (d.deployed_at, d.history_id))
    labels: list[str] = []
    for i, deploy in enumerate(ordered):
        tags = _changed_tags(deploy, ordered[i - 1] if i else None, ordered[i + 1] if i + 1 < len(ordered) else None)
        chart_version = next((r for r in deploy.revisions if not is_sha(r)), None) if deploy.revisions else (
            deploy.revision if deploy.chart else None)
        if tags:
            label = ", ".join(tags)
        elif deploy.git_tags:
            label = deploy.git_tags[0]
        elif deploy.pinned and deploy.target_revision and not deploy.chart:
            label = deploy.target_revision
        elif chart_version:
            label = f"chart {chart_version}" if deploy.revisions else chart_version
        else:
            label = deploy.short
        labels.append(label)
    counts: dict[str, set[tuple[str, ...]]] = {}
    for label, deploy in zip(labels, ordered, strict=True):
        counts.setdefault(label, set()).add(identity(deploy))
    for label, deploy in zip(labels, ordered, strict=True):
        if len(counts[label]) > 1:
            sha = next((r for r in deploy.all_revisions if is_sha(r)), None)
            label = f"{label} ({short_sha(sha)})" if sha else f"{label} #{deploy.history_id}"
        deploy.label = label


# --------------------------------------------------------------------------- which entry


def names(deploy: Deploy, wanted: str) -> bool:
    """Whether ``wanted`` (what an action or a person said) names this deploy: one of its revisions,
    a sha prefix of 7+ characters, a git tag pointing at it, or its pinned ``targetRevision``."""
    wanted = wanted.strip()
    if not wanted:
        return False
    if any(_same_revision(revision, wanted) for revision in deploy.all_revisions):
        return True
    if wanted in deploy.git_tags:
        return True
    return deploy.pinned and wanted == deploy.target_revision


def _same_revision(revision: str, wanted: str) -> bool:
    """``wanted`` is ``revision``, or a 7+ character prefix of it when both are shas."""
    return wanted == revision or (is_sha(wanted) and is_sha(revision) and revision.lower().startswith(wanted.lower()))


def moving_ref_reason(history: Sequence[Deploy], wanted: str, *, app: str) -> str | None:
    """Why ``wanted`` is no deploy at all: ``HEAD``, or the branch the app tracks."""
    tracked = {d.target_revision for d in history if d.target_revision and not d.pinned}
    if wanted.strip().upper() == "HEAD" or wanted in tracked or (is_moving_ref(wanted) and not is_sha(wanted)):
        return (f"{wanted} is a branch ref that {app} tracks, not a deploy: it names whatever is newest. "
                "A rollback names one deploy by its sha (or chart version) and history id.")
    return None


def find_rollback_target(history: Sequence[Deploy], *, wanted: str, history_id: int | None,
                         app: str) -> Deploy | str:
    """The history entry a rollback to ``wanted`` (+ ``history_id``) goes back to, or why none:
    a branch or ``HEAD``, a revision or id outside the history, an id that is another revision,
    what runs now, or something newer than what runs now."""
    entries = prepared_history(history, app)
    if not entries:
        return f"Sitrep has no ArgoCD history for {app}, so it cannot check that {wanted} is an earlier deploy."
    moving = moving_ref_reason(entries, wanted, app=app)
    if moving is not None and not any(names(d, wanted) for d in entries):
        return moving
    current = next((d for d in reversed(entries) if d.current), entries[-1])
    position = {d.history_id: i for i, d in enumerate(entries)}
    if history_id is not None:
        found = [d for d in entries if d.history_id == history_id]
        if not found:
            return f"History id {history_id} is not in the ArgoCD history of {app}."
        target = found[-1]
        if not names(target, wanted):
            return f"History id {history_id} of {app} is {target.name}, not {wanted}."
    else:
        candidates = [d for d in entries if names(d, wanted)]
        if not candidates:
            known = ", ".join(d.ref for d in reversed(entries[-4:]))
            return (f"{wanted} is not in the ArgoCD history of {app} (latest: {known}), "
                    "so it is not a known earlier deploy to roll back to.")
        if len({identity(d) for d in candidates}) > 1:
            return (f"{wanted} names several deploys of {app} ("
                    + ", ".join(f"{d.name}, history {d.history_id}" for d in candidates[-3:])
                    + "); name one by its sha and history id.")
        earlier = [d for d in candidates if position[d.history_id] < position[current.history_id]]
        target = earlier[-1] if earlier else candidates[-1]
    if target is current or identity(target) == identity(current) or names(current, wanted):
        return (f"{wanted} is what runs now on {app} ({current.ref}); rolling back to it changes nothing.")
    if position[target.history_id] > position[current.history_id]:
        return (f"{wanted} (history {target.history_id}) is newer than what {app} runs now ({current.name}); "
                "a rollback only goes back to an earlier deploy.")
    return target


def check_sync_revision(history: Sequence[Deploy], *, wanted: str, app: str) -> str | None:
    """Why a sync to ``wanted`` is refused, or None: it must be a revision of the history or the head
    ArgoCD reports for the tracked ref (``status.sync.revision``); a branch name or an invented
    revision is not something an approver can check."""
    entries = prepared_history(history, app)
    if not entries:
        return f"Sitrep has no ArgoCD history for {app}, so it cannot check that {wanted} is a known revision."
    heads = [h for d in entries if d.current for h in d.head_revisions]
    if any(names(d, wanted) for d in entries) or any(_same_revision(h, wanted) for h in heads):
        return None
    moving = moving_ref_reason(entries, wanted, app=app)
    if moving is not None:
        return (f"{wanted} is a branch ref, not a revision: a sync names the exact revision "
                f"(a sha from the history of {app} or the head ArgoCD reports"
                + (f": {short_sha(heads[0])}" if heads else "") + ").")
    return (f"{wanted} is neither in the ArgoCD history of {app} nor the head ArgoCD reports"
            + (f" ({', '.join(short_sha(h) for h in heads)})" if heads else "") + "; Sitrep syncs only to a known revision.")


def prepared_history(history: Iterable[Deploy], app: str) -> list[Deploy]:
    """Copies of ``app``'s entries, oldest first, with pinned refs and labels worked out (a history
    may come from elsewhere than ``parse_history``: a policy check's JSON, a stored brief)."""
    entries = sorted((d.model_copy() for d in history if d.app == app), key=lambda d: (_utc(d.deployed_at), d.history_id))
    mark_pinned(entries)
    if any(not d.label for d in entries):
        label_history(entries)
    return entries


def rollback_params(deploy: Deploy) -> dict[str, Any]:
    """What a rollback to ``deploy`` carries: its identity and history id, and its label to show."""
    return {"to_revision": deploy.revision, "history_id": deploy.history_id, "label": deploy.name}


def current_deploy(history: Iterable[Deploy]) -> Deploy | None:
    entries = list(history)
    flagged = [d for d in entries if d.current]
    if flagged:
        return flagged[-1]
    return max(entries, key=lambda d: d.history_id, default=None)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
