"""Helpers for collector tests: fixture bodies (copies of ../shared/fixtures/upstream) and requests."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.models import InvestigationRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
#: the incident in the fixtures: deploy at 03:38:12Z, latency up at 03:41, window ends 03:45
FIXTURE_END = datetime(2025, 11, 25, 3, 45, tzinfo=UTC)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


def incident_request(
    *, end: datetime = FIXTURE_END, minutes: int = 30, service: str = "checkout"
) -> InvestigationRequest:
    return InvestigationRequest(
        service=service, window_start=end - timedelta(minutes=minutes), window_end=end
    )


def shift_times(value: Any, delta: timedelta) -> Any:
    """A copy of a JSON body with every ``...Z`` ISO timestamp moved by ``delta``."""
    if isinstance(value, dict):
        return {k: shift_times(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_times(v, delta) for v in value]
    if isinstance(value, str) and _ISO.match(value):
        moved = datetime.fromisoformat(value) + delta
        return moved.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
