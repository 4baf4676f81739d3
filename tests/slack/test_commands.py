import pytest

from bot.slack.listeners.commands import CommandTextError, parse_incident_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("checkout p99 is 8s", ("checkout", "p99 is 8s")),
        ("  Checkout   ", ("checkout", None)),
        ("orders-db connection errors since 03:40", ("orders-db", "connection errors since 03:40")),
        ("", None),
        ("help", None),
        ("HELP", None),
    ],
)
def test_parse_incident_text(text: str, expected: tuple[str, str | None] | None) -> None:
    assert parse_incident_text(text) == expected


@pytest.mark.parametrize("text", ["<@U123> is down", "check/out broken", "-checkout", "a" * 80])
def test_parse_incident_text_rejects_what_is_not_a_service_name(text: str) -> None:
    with pytest.raises(CommandTextError, match="not a service name"):
        parse_incident_text(text)
