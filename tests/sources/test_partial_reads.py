"""A read of Mandrill that could not see its whole window says so: `check`'s JSON and
summary, the status line and the panels; never "ok" over a silent cut."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from console.model import SourceStatus
from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named
from tests.helpers import offline_config
from widgets.status import StatusLine


def _check(cfg, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "check", "--config", str(cfg), *extra],
        capture_output=True, text=True, timeout=120,
        env={"MANDRILL_API_KEY": DEMO_KEY, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_a_busy_account_read_past_its_budget_is_reported_partial(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    sc = scenario_named("heavy", start=now - timedelta(hours=1))  # ~700 messages a minute
    with SimServer(Simulator(sc, ScenarioClock(now))) as srv:
        cfg = offline_config(tmp_path, srv.base_url)
        text = cfg.read_text().replace(
            "timeout = 5.0\n", "timeout = 10.0\ncheck_window_hours = 0.2\nmax_search_calls = 3\n"
        )
        cfg.write_text(text)
        res = _check(cfg, "--json")
        plain = _check(cfg)
    report = json.loads(res.stdout)
    msgs = report["sources"]["messages"]
    assert msgs["ok"] is True and msgs["complete"] is False
    assert "the budget of 3 searches was spent" in msgs["partial"]
    assert datetime.fromisoformat(msgs["covered_until"]) < now
    assert report["messages_complete"] is False and report["status"] != "ok"
    assert all(ip["complete"] is False for ip in report["ips"])
    assert any(f["text"].startswith("messages partial:") for f in report["findings"])
    assert "messages: read only up to" in plain.stdout and "PARTIAL" in plain.stdout


def test_a_whole_read_says_complete(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    sc = scenario_named("quiet", start=now - timedelta(hours=3))
    with SimServer(Simulator(sc, ScenarioClock(now))) as srv:
        res = _check(offline_config(tmp_path, srv.base_url), "--json")
    report = json.loads(res.stdout)
    assert report["sources"]["messages"]["complete"] is True
    assert report["sources"]["messages"]["partial"] is None
    assert report["messages_complete"] is True


async def test_the_status_line_marks_a_partial_source():
    from textual.app import App, ComposeResult

    at = datetime(2026, 11, 28, 6, tzinfo=UTC)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusLine(lambda: at)

    async with One().run_test() as pilot:
        line = pilot.app.query_one(StatusLine)
        line.show({"messages": SourceStatus("messages", ok=True, last_ok_at=at,
                                            partial="read only up to 05:12 UTC")})  # fmt: skip
        text = line.render_text().plain
    assert "messages ◐" in text and "partial: read only up to 05:12 UTC" in text
