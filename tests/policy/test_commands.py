"""``sitrep policy lint`` and ``sitrep policy check`` as functions: output and exit codes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from bot.policy.commands import check, lint

from .support import NOW, act

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"

HISTORY = [
    {"history_id": 41, "revision": "a1b2c3d4e5f6", "target_revision": "v2.14.2", "deployed_at": "2026-11-24T10:00:00Z"},
    {"history_id": 42, "revision": "b2c3d4e5f6a1", "target_revision": "v2.14.3", "deployed_at": "2026-11-25T09:00:00Z"},
]


def run_lint(directory: Path) -> tuple[int, str]:
    out = io.StringIO()
    return lint(directory, out=out), out.getvalue()


def run_check(text: str, *, policy_dir: Path = REPO_POLICIES) -> tuple[int, str]:
    out = io.StringIO()
    return check(text, policy_dir=policy_dir, out=out, now=NOW), out.getvalue()


def test_lint_repo_policies() -> None:
    code, text = run_lint(REPO_POLICIES)
    assert code == 0, text
    first, *notes = text.splitlines()
    assert first.startswith("OK: 1 files, 3 services, ") and first.endswith(" rules")
    # the defaults a file does not spell out: the scale minimum, runbooks without an allowlist
    assert any("scale keeps at least 1 replica (the default" in n for n in notes), notes
    assert any("match.runbook" in n for n in notes), notes


def test_lint_broken_copy(tmp_path: Path) -> None:
    shutil.copy(REPO_POLICIES / "default.yml", tmp_path / "default.yml")
    source = (tmp_path / "default.yml").read_text(encoding="utf-8")
    line = source.splitlines().index("    min_approvals: 2") + 1
    broken = source.replace("    min_approvals: 2", "    min_aprovals: 2")
    (tmp_path / "default.yml").write_text(broken, encoding="utf-8")
    code, text = run_lint(tmp_path)
    assert code == 1
    message = "rules[0]: unknown key 'min_aprovals' (did you mean 'min_approvals'?)"
    assert text == f"{tmp_path / 'default.yml'}:{line}: {message}\n"


def test_lint_missing_directory(tmp_path: Path) -> None:
    code, text = run_lint(tmp_path / "nope")
    assert code == 1 and "no such policy directory" in text


def test_check_plain_action() -> None:
    code, text = run_check(json.dumps(act("restart", "recommendations")))
    assert code == 0
    assert text.splitlines()[:2] == ["decision: auto", "rule: restarts of low-tier services run on their own"]


def test_check_with_context_critical_rollback() -> None:
    wrapper = {"action": act("rollback", to_revision="v2.14.2"), "context": {"history": HISTORY, "requester": "U0REQ"}}
    code, text = run_check(json.dumps(wrapper))
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "decision: approve"
    assert lines[1] == "rule: rollbacks of critical services need two SREs"
    assert lines[2] == "approvers: @sre (2 approvals, two-person rule)"
    assert lines[3] == "expires: 2026-11-25 12:15:00 UTC"
    assert "rollback to ArgoCD history id: 41" in lines
    assert "reasons:" in lines


def test_check_rollback_to_current_is_denied() -> None:
    wrapper = {"action": act("rollback", to_revision="v2.14.3"), "context": {"history": HISTORY}}
    code, text = run_check(json.dumps(wrapper))
    assert code == 0
    assert text.splitlines()[:2] == ["decision: deny", "rule: invariant: rollback target"]
    assert "v2.14.3 is what runs now on checkout" in text


def test_check_unknown_kind_is_a_decision() -> None:
    code, text = run_check(json.dumps(act("reboot", "cart")))
    assert code == 0 and "rule: invariant: unknown kind" in text


def test_check_context_now_wins(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text(
        "services:\n  cart: {tier: low, namespace: shop}\n"
        "rules:\n  - {name: restarts, action: restart, decision: auto}\n"
        "freeze:\n  - {name: Quiet week, from: 2027-01-01T00:00:00Z, to: 2027-01-07T00:00:00Z, deny: restart}\n",
        encoding="utf-8",
    )
    wrapper = {"action": act("restart", "cart"), "context": {"now": "2027-01-02T00:00:00Z"}}
    code, text = run_check(json.dumps(wrapper), policy_dir=tmp_path)
    assert code == 0 and "rule: freeze: Quiet week" in text
    code, text = run_check(json.dumps(act("restart", "cart")), policy_dir=tmp_path)
    assert code == 0 and "decision: auto" in text


def test_check_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "action.json"
    path.write_text(json.dumps(act("restart", "cart")), encoding="utf-8")
    code, text = run_check(str(path))
    assert code == 0 and "rule: restarts of standard services need the owners" in text


def test_check_json_output() -> None:
    out = io.StringIO()
    code = check(json.dumps(act("restart", "checkout")), policy_dir=REPO_POLICIES, out=out, now=NOW, as_json=True)
    assert code == 0
    assert json.loads(out.getvalue())["outcome"] == "deny"


def test_check_bad_input() -> None:
    for text, phrase in [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"action": act("restart", "cart"), "contxt": {}}), "unexpected keys"),
        (json.dumps({"action": act("restart", "cart"), "context": []}), "\"context\" must be a JSON object"),
        (json.dumps({"action": act("restart", "cart"), "context": {"replicas": -3}}), "replicas"),
        (json.dumps({"action": act("restart", "cart"), "context": {"now": "yesterday"}}), "now"),
    ]:
        code, out = run_check(text)
        assert code == 2, (text, out)
        assert phrase in out and out.startswith("error: ")


def test_check_broken_policy(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_text("rules: [\n", encoding="utf-8")
    code, text = run_check(json.dumps(act("restart", "cart")), policy_dir=tmp_path)
    assert code == 1 and f"{tmp_path / 'p.yml'}:2: YAML syntax error" in text
