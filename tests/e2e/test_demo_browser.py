"""The demo page in a real browser (Debian's chromium driven by Playwright): fire the bad deploy,
read the brief in the alert's thread, approve (confirm dialog), see the rollback and "recovered".
And what the page shows is text: a message carrying <script> is displayed, never run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")  # in the test extra: CI has it

pytestmark = [
    pytest.mark.timeout(150),
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                       reason="chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One chromium for the module's tests (each gets a tab of its own)."""
    assert CHROMIUM is not None, "CI installs chromium (.ci/run)"
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    tab = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab.on("dialog", lambda dialog: dialog.accept())  # Slack's confirm dialogs: the user says yes
    yield tab
    tab.close()


def test_fire_read_approve_and_see_the_rollback_recover(demo: str, page: object, tmp_path: Path) -> None:
    page.goto(f"{demo}/demo")  # type: ignore[attr-defined]
    page.get_by_role("button", name="fire scenario: bad deploy").click()  # type: ignore[attr-defined]
    thread = page.locator(".thread")  # type: ignore[attr-defined]
    approve = thread.get_by_role("button", name="Approve")
    approve.first.wait_for(timeout=15_000)  # the brief, in the alert's thread, within 15 s
    assert "v2.14.2" in thread.first.inner_text()
    links = thread.first.locator("a[href^='http']")  # evidence links are links, not bare labels
    assert links.count() > 0 and all(h.startswith("http") for h in links.evaluate_all("l => l.map(a => a.href)"))
    approve.first.click()
    page.locator("#ops").get_by_text("rollback").wait_for(timeout=20_000)  # type: ignore[attr-defined]
    page.get_by_text("recovered").first.wait_for(timeout=40_000)  # type: ignore[attr-defined]
    thread.get_by_role("button", name="Revert").first.wait_for(timeout=5_000)  # the executed rollback can be undone
    shot = tmp_path / "demo-after-approval.png"
    page.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
    if os.environ.get("SITREP_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, REPO_ROOT / "docs" / "screenshots" / "demo-after-approval.png")


def test_a_message_carrying_a_script_is_shown_as_text(demo: str, page: object) -> None:
    page.goto(f"{demo}/demo")  # type: ignore[attr-defined]
    hostile = ("<script>window.pwned = 1</script><img src=x onerror='window.pwned=2'>"
               "<javascript:window.pwned=3|click me>")
    page.fill("#text", hostile)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Send").click()  # type: ignore[attr-defined]
    page.get_by_text("<script>window.pwned = 1</script>", exact=False).first.wait_for(timeout=15_000)  # type: ignore[attr-defined]
    assert page.evaluate("window.pwned") is None  # type: ignore[attr-defined]
    # the message and its thread (the demo is the module's: the test above left its incident there)
    shown = page.locator("#log > .msg", has_text="<script>window.pwned = 1</script>")  # type: ignore[attr-defined]
    assert shown.count() == 1
    assert shown.locator("img").count() == 0
    assert shown.locator("a").count() == 0  # only http(s) links become links
