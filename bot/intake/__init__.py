"""Intake: everything that turns an input into ``Alert``s and files them under incidents.

Parsing is pure (no I/O): ``messages`` reads alert messages posted in Slack, ``webhooks`` reads
Alertmanager and Grafana webhook bodies; both raise ``errors.AlertParseError`` with a reason meant
for people. ``accept`` stores what was read, ``grouping`` and ``graph`` decide which incident it
belongs to.
"""
