"""Sitrep: grounded incident briefs in Slack, remediation only by policy and a human."""
