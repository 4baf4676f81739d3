"""The bot token scopes Sitrep's code uses: what ``manifest.yml`` grants under ``oauth_config.scopes.bot``
(``tests/test_doctor.py`` keeps the two equal). ``sitrep doctor`` checks a token against them, and the
sandbox Slack grants them by default."""

from __future__ import annotations

BOT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "channels:read",
    "groups:read",
    "reactions:write",
    "files:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
    "metadata.message:read",
)
