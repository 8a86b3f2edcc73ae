"""A read of Mandrill that could not see its whole window says so: `check`'s JSON and
summary, the status line and the panels; never "ok" over a silent cut."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.model import ReadSpan, SourceStatus
from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named
from tests.helpers import offline_config
from widgets.status import StatusLine


def _check(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", "check", "--config", str(cfg), *extra],
        capture_output=True, text=True, timeout=120,
        env={"MANDRILL_API_KEY": DEMO_KEY, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_a_busy_account_read_past_its_budget_is_reported_partial(tmp_path: Path) -> None:
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
    unread = {k: datetime.fromisoformat(v) for k, v in msgs["unread"].items()}
    # read newest first: the oldest part is what is left, named for the next poll
    assert unread["from"] < unread["to"] < datetime.fromisoformat(msgs["covered_until"])
    assert report["messages_complete"] is False and report["status"] != "ok"
    assert all(ip["complete"] is False for ip in report["ips"])
    assert any(f["text"].startswith("messages partial:") for f in report["findings"])
    assert "UTC not read yet" in plain.stdout and "PARTIAL" in plain.stdout


def test_a_whole_read_says_complete(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    sc = scenario_named("quiet", start=now - timedelta(hours=3))
    with SimServer(Simulator(sc, ScenarioClock(now))) as srv:
        cfg = offline_config(tmp_path, srv.base_url)
        res = _check(cfg, "--json")
        plain = _check(cfg).stdout
    report = json.loads(res.stdout)
    assert "delivered (mail read, last 6 h of 24 h)" in plain and "Mandrill, 7 days:" in plain
    assert report["sources"]["messages"]["complete"] is True
    assert report["sources"]["messages"]["partial"] is None
    assert report["messages_complete"] is True
    # a fresh state holds the 6 h check reads: no count over it may pass for 7 d or 24 h
    counted = report["counted"]
    assert counted["subaccounts"]["whole"] is False
    assert counted["subaccounts"]["text"] == "last 6 h of 7 d"
    assert counted["ips"]["text"] == "last 6 h of 24 h"
    assert all("7-day" not in f["text"] or "Mandrill's" in f["text"] for f in report["findings"])


async def test_the_status_line_marks_a_partial_source() -> None:
    from textual.app import App, ComposeResult

    at = datetime(2026, 11, 28, 6, tzinfo=UTC)

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusLine(lambda: at)

    async with One().run_test() as pilot:
        line = pilot.app.query_one(StatusLine)
        cut = "04:00 to 05:12 UTC not read yet"
        line.show({"messages": SourceStatus("messages", ok=True, last_ok_at=at, partial=cut)})
        text = line.render_text().plain
    assert "messages ◐" in text and "partial: 04:00 to 05:12 UTC not read yet" in text


async def test_polls_over_a_spent_budget_read_the_gap_first_and_catch_up(tmp_path: Path) -> None:
    """Newest first leaves the oldest part unread; the next polls read it before new mail,
    the cursor never steps back, and nothing of the window is lost."""
    from console.cli import demo_config
    from console.jobs import Pipeline
    from console.secret import Secret
    from console.sim import ManualClock
    from console.sources.mandrill import MandrillClient, SearchResult
    from console.store import Store
    from tests.sources.test_mandrill_client import truth

    sc = scenario_named("heavy")  # ~700 messages a minute
    clock = ManualClock(sc.start + timedelta(hours=2))
    with SimServer(Simulator(sc, clock)) as srv:
        cfg = demo_config(srv.base_url, str(tmp_path / "state"))
        # no overlap: at 700 a minute, re-reading 10 minutes each poll would need 7 searches
        cfg = replace(cfg, mandrill=replace(cfg.mandrill, max_search_calls=2, search_overlap=0))
        store = Store(tmp_path / "state", clock=clock).open()
        client = MandrillClient(srv.base_url, Secret(DEMO_KEY), timeout=5, retries=0)
        pipe = Pipeline(client, store, cfg, clock=clock, backfill_hours=0.1)  # ~4,200 messages
        first = int(clock().timestamp()) - 360
        seen: set[str] = set()
        real = client.search_range

        async def recording(*args: Any, **kwargs: Any) -> SearchResult:
            r = await real(*args, **kwargs)
            seen.update(m.message_id for m in r.messages)
            return r

        client.search_range = recording  # type: ignore[method-assign]
        cursors: list[int] = []
        partial: list[bool] = []
        since: list[ReadSpan | None] = []
        for _ in range(6):
            st = await pipe.run("messages")
            partial.append(bool(st.status.partial))
            cursor = store.get_cursor("messages")
            assert cursor is not None
            cursors.append(cursor)
            since.append(pipe.ip_view().span)
            clock.advance(seconds=20)
        last = int(clock().timestamp()) - 20
        await client.aclose()
        store.close()
    assert partial[0] and not partial[-1]  # cut short at first, whole once caught up
    assert cursors == sorted(cursors)  # never steps back while the gap is read
    # the counts claim only what is read: the gap is said at first, gone at the end
    assert since[0] is not None and since[-1] is not None
    assert since[0].unread_s > 0 and "of it not read yet" in since[0].text
    assert since[-1].unread_s == 0 and int(since[-1].since.timestamp()) == first
    missing = truth(sc, first, last, clock()) - seen
    assert not missing, f"{len(missing)} messages of the window never read"
