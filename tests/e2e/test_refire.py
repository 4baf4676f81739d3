"""Re-fire deltas end to end: once the brief is posted, a new alert joining the incident or the same
alert sent again later makes Sitrep look again and post "what changed since the last brief" in the
thread — never a second brief — and the root message shows the latest state."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from bot.sandbox.server import FakeCloud
from tests.e2e.test_alerts import ALERTS, alert_env, alertmanager_body, briefs, db_rows, post_webhook  # noqa: F401
from tests.support import SitrepProcess, run_sitrep, settle, wait_for

pytestmark = pytest.mark.timeout(120)


#: seconds. The quick re-send at the end must come sooner than this after the re-fire before it, and
#: after the look-again that re-fire queued has run (a group wait, then an investigation): room for a
#: loaded machine.
REFIRE_AFTER = 5


def delta_jobs(sitrep: SitrepProcess) -> int:
    """The "look again" jobs Sitrep has queued so far."""
    return len(db_rows(sitrep.workdir, "select id from jobs where kind = 'delta'"))


def deltas(cloud: FakeCloud, thread_ts: str) -> list[str]:
    return [c.get("text") or "" for c in cloud.slack_calls("chat.postMessage")
            if c.get("thread_ts") == thread_ts and "What changed since the last brief" in (c.get("text") or "")]


def test_a_joining_alert_and_a_refire_post_deltas_not_new_briefs(
    fake_cloud: FakeCloud, alert_env: dict[str, str], workdir: Path,
) -> None:
    env = {**alert_env, "SITREP_REFIRE_AFTER_SECONDS": str(REFIRE_AFTER), "SITREP_GROUP_WAIT_SECONDS": "1"}
    first = alertmanager_body(fake_cloud)
    with run_sitrep(env, workdir=workdir) as sitrep:
        assert post_webhook(sitrep, first).json()["outcomes"] == ["opened"]
        first_stored = time.monotonic()  # Sitrep stored it before it answered
        [brief] = wait_for(lambda: briefs(fake_cloud), timeout=30, what="the brief")
        root_ts = brief["thread"]

        # someone rolls forward meanwhile, and the error-rate alert of the same service fires
        fake_cloud.argocd_deploy("v2.14.4", by="bob", revision="b" * 40)
        joining = copy.deepcopy(first)
        for alert in joining["alerts"]:
            alert["labels"]["alertname"] = "HighErrorRate"
            alert["fingerprint"] = "e" * 16
        joining["groupKey"] = '{}:{alertname="HighErrorRate"}'
        assert post_webhook(sitrep, joining).json()["outcomes"] == ["joined"]
        [delta] = wait_for(lambda: deltas(fake_cloud, root_ts), timeout=20, what="the delta")
        assert "HighErrorRate" in delta and "new deploy: checkout v2.14.4 (bbbbbbb, history 14) by bob" in delta

        # the first alert, notified again later (Alertmanager's repeat): another delta, nothing new
        time.sleep(max(0.0, first_stored + REFIRE_AFTER + 0.2 - time.monotonic()))
        assert post_webhook(sitrep, first).json()["outcomes"] == ["duplicate"]
        found = wait_for(lambda: d if len(d := deltas(fake_cloud, root_ts)) == 2 else None, timeout=20,
                         what="the second delta")
        assert "fired again" in found[1]

        assert len(briefs(fake_cloud)) == 1  # still one brief, updated only by its own investigation
        root_updates = [c for c in fake_cloud.slack_calls("chat.update") if c.get("ts") == root_ts]
        assert root_updates and "Latest:" in json.dumps(root_updates[-1]["blocks"], ensure_ascii=False)
        # a quick re-send (a retry, or the Slack twin) is not a re-fire: no third delta. Sitrep decides
        # that before it answers (a re-fire queues a delta job), and then has nothing left to do
        looks = delta_jobs(sitrep)
        assert post_webhook(sitrep, first).json()["outcomes"] == ["duplicate"]
        assert delta_jobs(sitrep) == looks
        assert settle(sitrep, calls=lambda: len(fake_cloud.slack_calls()))
        assert len(deltas(fake_cloud, root_ts)) == 2
