"""One fake cloud per test module; every test starts from a clean slate (no faults, no records)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.sandbox.server import FakeCloud


@pytest.fixture(scope="module")
def module_cloud() -> Iterator[FakeCloud]:
    with FakeCloud() as cloud:
        yield cloud


@pytest.fixture
def cloud(module_cloud: FakeCloud) -> Iterator[FakeCloud]:
    module_cloud.reset()
    yield module_cloud
    module_cloud.reset()
