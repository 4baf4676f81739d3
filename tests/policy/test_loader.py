"""Loading policy directories: every mistake is a ``file:line: message`` on the offending key."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from bot.policy.loader import PolicyError, PolicyHolder, PolicyProblem, load_policy, parse_policy_text
from bot.policy.schema import Outcome, Tier

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"

GOOD = """\
services:
  checkout:
    tier: critical
    namespace: shop
    owners: ["@checkout-oncall"]
rules:
  - name: rollbacks need two SREs
    action: rollback
    match: {tier: [critical]}
    decision: approve
    approvers: ["@sre", "U0123ABCD"]
    min_approvals: 2
    expires_after: 15m
freeze:
  - name: Black Friday
    from: 2026-11-27T00:00:00Z
    to: 2026-11-30T23:59:59Z
    deny: [rollback, sync, scale, restart]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(directory: Path) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as caught:
        load_policy(directory)
    return caught.value.problems


def only_problem(text: str, tmp_path: Path) -> PolicyProblem:
    write(tmp_path, "p.yml", text)
    problems = problems_of(tmp_path)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_design_example_loads(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", GOOD)
    policy = load_policy(tmp_path)
    assert policy.services["checkout"].tier is Tier.CRITICAL
    rule = policy.rules[0]
    assert rule.decision is Outcome.APPROVE and rule.min_approvals == 2
    assert rule.expiry is not None and rule.expiry.total_seconds() == 900
    assert policy.freeze[0].from_.isoformat() == "2026-11-27T00:00:00+00:00"
    assert policy.files == [str(tmp_path / "p.yml")]


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        pytest.param("services:\n  checkout:\n    tier: critical\n    namespace: [shop\n", 5, "YAML syntax error",
                     id="unclosed-bracket"),
        pytest.param("rules:\n  - name: x\n    action: rollback\n    decision: approve\n    approvers: [@sre]\n", 5,
                     'quote user-group handles', id="unquoted-handle"),
        pytest.param("rules:\n  - name: x\n\tdecision: auto\n", 3, "YAML syntax error", id="tab"),
        pytest.param(GOOD.replace("    approvers:", "    aprovers:"), 11,
                     "rules[0]: unknown key 'aprovers' (did you mean 'approvers'?)", id="unknown-rule-key"),
        pytest.param(GOOD.replace("    owners:", "    owner:"), 5, "services.checkout: unknown key 'owner'",
                     id="unknown-service-key"),
        pytest.param(GOOD + "version: 2\n", 19, "unknown key 'version'", id="unknown-top-key"),
        pytest.param(GOOD.replace("min_approvals: 2", "min_approvals: two"), 12,
                     "rules[0].min_approvals: Input should be a valid integer", id="wrong-type-int"),
        pytest.param(GOOD.replace("min_approvals: 2", "min_approvals: 0"), 12,
                     "rules[0].min_approvals: Input should be greater than or equal to 1", id="min-approvals-zero"),
        pytest.param(GOOD.replace("tier: critical", "tier: crit"), 3,
                     "services.checkout.tier: Input should be 'critical', 'standard' or 'low' (got 'crit')",
                     id="bad-tier"),
        pytest.param(GOOD.replace("decision: approve", "decision: allow"), 10, "(got 'allow')", id="bad-decision"),
        pytest.param(GOOD.replace("action: rollback", "action: [rollback, reboot]"), 8,
                     "rules[0].action[1]: Input should be 'rollback'", id="bad-kind"),
        pytest.param(GOOD.replace("expires_after: 15m", "expires_after: 15 minutes"), 13,
                     "'15 minutes' is not a duration", id="bad-duration"),
        pytest.param(GOOD.replace("expires_after: 15m", "expires_after: 15m\n    rate_limit: 3 per hour"), 14,
                     "'3 per hour' is not a rate limit", id="bad-rate"),
        pytest.param(GOOD.replace('"U0123ABCD"', '"bob"'), 11,
                     "rules[0].approvers[1]: 'bob' is neither a Slack user id", id="bad-approver"),
        pytest.param(GOOD.replace("    decision: approve\n", ""), 7, "rules[0]: missing required key 'decision'",
                     id="missing-decision"),
        pytest.param(GOOD.replace("    namespace: shop\n", ""), 2,
                     "services.checkout: missing required key 'namespace'", id="missing-namespace"),
        pytest.param(GOOD.replace('["@sre", "U0123ABCD"]', '["U0123ABCD"]'), 7,
                     "min_approvals is 2 but only 1 distinct people are listed", id="unreachable-min-approvals"),
        pytest.param(GOOD.replace("decision: approve", "decision: deny"), 7,
                     "approvers, min_approvals, expires_after only apply to 'decision: approve'",
                     id="deny-with-approvers"),
        pytest.param(GOOD.replace("expires_after: 15m", "expires_after: 15m\n    limits: {max_replicas: 3}"), 7,
                     "limits only bound scale actions", id="limits-without-scale"),
        pytest.param(GOOD.replace("to: 2026-11-30T23:59:59Z", "to: 2026-11-26T00:00:00Z"), 15,
                     "'to' must be after 'from'", id="freeze-backwards"),
        pytest.param(GOOD.replace("from: 2026-11-27T00:00:00Z", "from: 2026-11-27T00:00:00"), 16,
                     "freeze[0].from: Input should have timezone info", id="freeze-without-zone"),
        pytest.param(GOOD.replace("deny: [rollback, sync, scale, restart]", "deny: []"), 18,
                     "freeze[0].deny", id="freeze-denies-nothing"),
        pytest.param(GOOD.replace("  checkout:", "  Checkout Service:"), 2, "'Checkout Service' is not a service name",
                     id="bad-service-name"),
        pytest.param(GOOD.replace("    namespace: shop\n", "    namespace: shop\n    namespace: web\n"), 5,
                     "duplicate key 'namespace' (the first is on line 4)", id="duplicate-key"),
        pytest.param("- services\n", 1, "a policy file is a mapping", id="top-level-list"),
        pytest.param(GOOD.replace("match: {tier: [critical]}", "match: {service: [checkout, chekout]}"), 9,
                     "rules[0].match.service: no service declares service 'chekout', so this never matches "
                     "(did you mean 'checkout'?)", id="match-unknown-service"),
        pytest.param(GOOD.replace("match: {tier: [critical]}", "match:\n      namespace: shopp"), 10,
                     "no service declares namespace 'shopp'", id="match-unknown-namespace"),
        pytest.param(GOOD.replace("rules:\n", "rules:\n  - name: rollbacks need two SREs\n    action: sync\n"
                                                "    decision: auto\n"), 10,
                     "rule name 'rollbacks need two SREs' is already used at ", id="duplicate-rule-name"),
    ],
)
def test_problem_line_and_message(text: str, line: int, phrase: str, tmp_path: Path) -> None:
    problem = only_problem(text, tmp_path)
    assert (problem.file, problem.line) == (str(tmp_path / "p.yml"), line), problem
    assert phrase in problem.message, problem.message
    assert str(problem).startswith(f"{tmp_path / 'p.yml'}:{line}: ")


def test_all_problems_of_all_files_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "services:\n  cart: {tier: low, namespace: shop, colour: red}\n")
    write(tmp_path, "b.yaml", "rules:\n  - name: r\n    action: restart\n    decision: sometimes\n")
    write(tmp_path, "c.yml", "rules: [\n")
    problems = problems_of(tmp_path)
    assert [(Path(p.file).name, p.line) for p in problems] == [("a.yml", 2), ("b.yaml", 4), ("c.yml", 2)]


def test_duplicate_service_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "services:\n  cart:\n    tier: low\n    namespace: shop\n")
    write(tmp_path, "b.yml", "# more\nservices:\n  other: {tier: low, namespace: shop}\n  cart:\n    tier: critical\n"
                             "    namespace: shop\n")
    [problem] = problems_of(tmp_path)
    assert (Path(problem.file).name, problem.line) == ("b.yml", 4)
    assert problem.message == f"service 'cart' is already declared in {tmp_path / 'a.yml'}:2"


def test_merge_concatenates_in_file_order(tmp_path: Path) -> None:
    write(tmp_path, "20-rules.yaml", """\
        rules:
          - {name: second, action: restart, decision: auto}
        freeze:
          - {name: f2, from: 2020-01-01T00:00:00Z, to: 2020-01-02T00:00:00Z, deny: sync}
        """)
    write(tmp_path, "10-services.yml", """\
        services:
          cart: {tier: low, namespace: shop}
        rules:
          - {name: first, action: [scale], match: {service: cart}, decision: deny}
        """)
    write(tmp_path, "notes.txt", "not: [a policy\n")
    write(tmp_path, ".#10-services.yml", "broken: [\n")
    write(tmp_path, "empty.yml", "# nothing yet\n")
    policy = load_policy(tmp_path)
    assert [rule.name for rule in policy.rules] == ["first", "second"]
    assert [f.name for f in policy.freeze] == ["f2"]
    assert list(policy.services) == ["cart"]
    assert [Path(f).name for f in policy.files] == ["10-services.yml", "20-rules.yaml", "empty.yml"]


def test_match_may_name_services_from_another_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "rules:\n  - {name: r, action: restart, match: {service: cart}, decision: auto}\n")
    write(tmp_path, "b.yml", "services:\n  cart: {tier: low, namespace: shop}\n")
    assert load_policy(tmp_path).rules[0].match.service == ["cart"]


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", """\
        services:
          cart: &shop {tier: low, namespace: shop}
          web:
            <<: *shop
            tier: standard
        """)
    policy = load_policy(tmp_path)
    assert policy.services["web"].namespace == "shop" and policy.services["web"].tier is Tier.STANDARD


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "nope")
    assert problem.line is None and "no such policy directory" in str(problem)
    [problem] = problems_of(tmp_path)
    assert "no policy files" in problem.message


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "p.yml").write_bytes(b"services: \xff\xfe\n")
    [problem] = problems_of(tmp_path)
    assert problem.line is None and "cannot read the file" in problem.message


def test_parse_policy_text() -> None:
    assert parse_policy_text(GOOD).rules[0].name == "rollbacks need two SREs"
    with pytest.raises(PolicyError) as caught:
        parse_policy_text("rules: 3\n", file="inline.yml")
    assert str(caught.value) == "inline.yml:1: rules: Input should be a valid list (got 3)"


def test_repo_policies_load() -> None:
    policy = load_policy(REPO_POLICIES)
    assert policy.services["checkout"].tier is Tier.CRITICAL
    assert policy.services["checkout"].namespace == "shop" and policy.services["checkout"].argocd_app == "checkout"
    assert policy.services["cart"].tier is Tier.STANDARD
    assert any(service.tier is Tier.LOW for service in policy.services.values())
    assert policy.longest_rate_window() is not None


def test_holder_keeps_the_last_good_policy(tmp_path: Path) -> None:
    shutil.copy(REPO_POLICIES / "default.yml", tmp_path / "default.yml")
    holder = PolicyHolder(tmp_path)
    good = holder.policy
    (tmp_path / "default.yml").write_text("rules: [\n", encoding="utf-8")
    error = holder.reload()
    assert error is not None and holder.last_error is error and holder.policy is good
    shutil.copy(REPO_POLICIES / "default.yml", tmp_path / "default.yml")
    assert holder.reload() is None and holder.last_error is None


def test_holder_refuses_a_broken_policy_at_start(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", "rules: [\n")
    with pytest.raises(PolicyError):
        PolicyHolder(tmp_path)
