"""The policy engine: load ``policies/*.yml``, decide each proposed action, check approvers.

    policy = load_policy(Path(settings.sitrep_policy_dir))         # PolicyError: file:line problems
    decision = evaluate(action, context=PolicyContext(now=...), policy=policy)
    refusal = check_approver(decision, user_id, requester=..., already_approved=..., groups=...)

Modules: ``schema`` (file format, JSON Schema), ``loader`` (YAML with line numbers, merge),
``context`` (what the caller supplies), ``engine`` (evaluate), ``decision`` (Decision, check_approver),
``commands`` (``sitrep policy lint`` / ``check``).
"""

from bot.policy.context import Execution, PolicyContext
from bot.policy.decision import Decision, DecisionOutcome, check_approver
from bot.policy.engine import evaluate, evaluate_data
from bot.policy.loader import PolicyError, PolicyHolder, PolicyProblem, load_policy
from bot.policy.schema import Policy

__all__ = [
    "Decision",
    "DecisionOutcome",
    "Execution",
    "Policy",
    "PolicyContext",
    "PolicyError",
    "PolicyHolder",
    "PolicyProblem",
    "check_approver",
    "evaluate",
    "evaluate_data",
    "load_policy",
]
