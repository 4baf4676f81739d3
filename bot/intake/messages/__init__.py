"""Alert messages posted in Slack (by other bots, or by people) → ``Alert``s.

``parse_slack_message(event, known_services=...)`` takes the ``event`` of an Events API
``message`` callback. Alerting products mostly post **legacy attachments** with an empty top-level
``text``; newer apps post blocks (sometimes inside an attachment). The message is flattened
(title, text, fields, links; Slack's ``<url|label>`` markup and ``&amp;`` escapes undone), the
product is recognised (sender name, then the link of the title, then the title's shape) and read by
its parser.

One module per product (``alertmanager``, ``grafana``, ``datadog``, ``sentry``, ``pagerduty``,
``opsgenie``, and ``plain_text`` for anything else), each with the shape it expects and a
``parse(message, known)``; ``status_title`` reads the ``[FIRING:n]`` title Alertmanager and Grafana
share. The shared parts: ``flatten`` (a Slack event → ``FlatMessage``), ``written`` (the pairs,
sections and tags a message writes out), ``build`` (the ``Alert`` itself, ``stable_fingerprint``,
``alert_identity``). ``dispatch`` recognises the product and calls its parser.

Every parser fills: source, name, service, namespace, severity (as the product says it), state,
starts_at (the message's ``ts`` unless the message says when it started), summary, fingerprint (the
product's id when it gives one, else a hash of source, name, service and namespace: the same alert
posted again gets the same fingerprint), links (``title_link``, ``generatorURL``, ``silenceURL``,
``dashboardURL``, ``panelURL``, ``runbook_url``, and the product's own page) and labels (exact
ones only; guessed values go to the ``Alert`` fields, listed in ``annotations["inferred"]``).
"""

from bot.intake.messages.build import alert_identity, stable_fingerprint
from bot.intake.messages.dispatch import parse_slack_message

__all__ = ["alert_identity", "parse_slack_message", "stable_fingerprint"]
