"""Logging: nothing secret or personal reaches stderr, from structlog or from the standard library."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot.logs import MASK, SecretMasker, configure_logging

GHP = "ghp_" + "FAKE0test0EXAMPLE0" * 2
XOXB = "xoxb-1234567890-1234567890123-FAKEexampleTEST0FAKEexam"
CONFIGURED = "plainLookingConfiguredValue"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    httpx_level = logging.getLogger("httpx").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)
    structlog.reset_defaults()


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_structlog_event_fields_are_redacted(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    configure_logging(level="DEBUG", fmt=fmt, secrets=[CONFIGURED])
    structlog.get_logger("test").info(
        f"posting with {XOXB}",
        url="postgres://app:hunter2FAKE@db:5432/shop",
        user={"email": "alice@example.com", "ips": ["203.0.113.9", "10.0.3.17"]},
        password="letmein",
        note=f"configured {CONFIGURED}",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        tokens=512,
    )
    err = capsys.readouterr().err
    for leaked in (XOXB, "hunter2FAKE", "alice@example.com", "203.0.113.9", "letmein", CONFIGURED):
        assert leaked not in err
    for kept in ("<secret:slack_token>", "postgres://app:<secret:password>@db:5432/shop", "<email>", "<ip>",
                 "10.0.3.17", "<secret:password>", MASK, "4bf92f3577b34da6a3ce929d0e0e4736", "512"):
        assert kept in err
    if fmt == "json":
        event = json.loads(err.strip().splitlines()[-1])
        assert event["password"] == "<secret:password>"
        assert event["user"]["ips"] == ["<ip>", "10.0.3.17"]
        assert event["tokens"] == 512


def test_exception_message_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="console")
    try:
        raise RuntimeError(f"git fetch failed: https://x-access-token:{GHP}@github.com/acme/app.git")
    except RuntimeError:
        structlog.get_logger("test").exception("sync failed")
    err = capsys.readouterr().err
    assert GHP not in err
    assert "RuntimeError: git fetch failed: https://x-access-token:<secret:github_token>@github.com" in err
    assert "Traceback (most recent call last)" in err


def test_standard_library_records_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="json", secrets=[CONFIGURED])
    log = logging.getLogger("slack_bolt.App")
    log.warning("retrying with Authorization: Bearer %s for %s", "FAKEbearer0example0token0123", "bob@example.org")
    try:
        raise ValueError(f"bad key {CONFIGURED}")
    except ValueError:
        log.exception("handler failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert lines[0]["event"] == "retrying with Authorization: Bearer <secret:bearer> for <email>"
    assert lines[0]["logger"] == "slack_bolt.App"
    assert CONFIGURED not in lines[1]["exception"]
    assert f"ValueError: bad key {MASK}" in lines[1]["exception"]


def test_masker_leaves_non_strings_and_safe_fields_alone() -> None:
    masker = SecretMasker(["s3cr3tValue"])
    event = masker(None, "info", {
        "event": "value s3cr3tValue",
        "timestamp": "2024-05-14T03:41:07Z",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "auth": "failed",
        "items": ("a", "s3cr3tValue"),
    })
    assert event == {
        "event": f"value {MASK}",
        "timestamp": "2024-05-14T03:41:07Z",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "auth": "failed",
        "items": ("a", MASK),
    }


def test_library_info_lines_are_shown_only_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="INFO", fmt="json")
    logging.getLogger("apscheduler.executors.default").info('Job "PolicyWatcher.check" executed successfully')
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
    structlog.get_logger("bot.runtime").info("sitrep_started")
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.strip().splitlines()]
    assert events == ["Invalid HTTP request received.", "sitrep_started"]  # ours stay JSON; libraries' warnings too

    configure_logging(level="DEBUG", fmt="json")
    logging.getLogger("apscheduler.executors.default").info('Job "PolicyWatcher.check" executed successfully')
    assert "PolicyWatcher.check" in capsys.readouterr().err
