"""The console as a user sees it, driven with Pilot against the simulator."""

from __future__ import annotations

import csv
import html
import re
from datetime import timedelta
from pathlib import Path

from rich.text import Text
from textual.command import CommandList
from textual.widgets import DataTable, Static

from console.app import MailopsApp
from console.sim import DEMO_KEY, ManualClock, Scenario, SimServer, Simulator, scenario_named
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import make_app, settled
from widgets.bounces import BounceFeed
from widgets.customer import CustomerScreen
from widgets.detail import EventDetail
from widgets.reputation import ReputationPanel
from widgets.status import StatusLine
from widgets.warmup import WarmupPanel

SIZE = (120, 40)


def rows(table: DataTable[Text]) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


def keyed(table: DataTable[Text]) -> list[dict[str, str]]:
    """Each row as column key → text: tests that do not depend on the columns' order."""
    keys = [str(k.value) for k in table.columns]
    return [dict(zip(keys, row, strict=True)) for row in rows(table)]


def feed_rows(app: MailopsApp) -> list[list[str]]:
    return rows(app.query_one("#feed", DataTable))


async def test_panels_show_simulator_data(app: MailopsApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        summary = app.query_one(ReputationPanel).summary_text
        assert "reputation 84/100" in summary and "Excellent" in summary and "2,500/h" in summary
        subs = rows(app.query_one("#subaccounts", DataTable))
        assert subs[0][0] == "Dandelion Deals"
        ips = keyed(app.query_one("#ips", DataTable))
        assert ips[0]["ip"] == "203.0.113.25" and ips[0]["warmup"].startswith("day 12/30")
        assert any(r["ip"] == "198.51.100.13" and r["rate"].startswith("⚠") for r in ips)
        notes = str(app.query_one("#ip-notes", Static).content)
        assert "198.51.100.13" in notes and "noisy neighbour" in notes
        feed = feed_rows(app)
        assert len(feed) > 50
        assert {r[1] for r in feed} >= {"hard", "soft", "deferred"}
        assert feed == sorted(feed, key=lambda r: r[0], reverse=True)  # newest first
        status = app.query_one(StatusLine).render_text().plain
        assert "account ✓" in status and "messages ✓" in status
        for panel in (ReputationPanel, WarmupPanel, BounceFeed):
            assert app.query_one(panel).border_subtitle == ""


async def test_filter_kind_detail_and_export(app: MailopsApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        total = len(feed_rows(app))
        await pilot.press("slash")
        await pilot.press(*"dandelion")
        await pilot.pause()
        shown = feed_rows(app)
        assert 0 < len(shown) < total and all(r[3] == "dandelion" for r in shown)
        info = app.query_one("#feed-info", Static)
        await wait_for(lambda: "events match" in str(info.content))  # counted in a thread
        assert app.feed.page is not None
        stored = app.feed.page.total
        assert str(info.content).startswith(f"{len(shown):,} of {stored:,} events match")
        await pilot.press("enter")  # keep the filter, back to the table
        await pilot.press("k")  # kind: hard
        await pilot.pause()
        hard = feed_rows(app)
        assert hard and all(r[1] == "hard" and r[3] == "dandelion" for r in hard)
        feed = app.query_one(BounceFeed)
        assert "kind: hard" in str(app.query_one("#feed-info", Static).content)

        table = app.query_one("#feed", DataTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EventDetail)
        body = str(app.screen.query_one("#detail-body", Static).content)
        first = feed.visible_events()[0]
        assert first.message_id in body and "SMTP events" in body and first.email in body
        note = app.screen.query_one("#detail-note", Static)
        await wait_for(lambda: "messages/info" not in str(note.content))
        assert "as Mandrill reports it now" in str(note.content)
        assert app.pipeline.client is not None
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EventDetail)

        await pilot.press("e")
        await wait_for(lambda: app.last_export is not None)  # written in a thread
        path = app.last_export
        with open(path, newline="") as fh:
            data = list(csv.reader(fh))
        assert data[0][:4] == ["time_utc", "kind", "state", "recipient"]
        assert len(data) - 1 == len(hard)
        assert all(r[1] == "hard" and r[4] == "dandelion" for r in data[1:])


async def test_failing_source_marks_panels_stale_and_keeps_data(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        server.stop()
        await pilot.press("r")
        await wait_for(lambda: app.pipeline.statuses["account"].ok is False)
        await wait_for(lambda: app.pipeline.statuses["messages"].ok is False)
        await pilot.pause()
        sub = app.query_one(ReputationPanel).border_subtitle
        assert sub is not None
        assert "stale" in sub and "Cannot reach Mandrill" in sub
        feed_sub = app.query_one(BounceFeed).border_subtitle
        assert feed_sub is not None
        assert "stale" in feed_sub
        assert "reputation 84/100" in app.query_one(ReputationPanel).summary_text
        assert len(feed_rows(app)) > 50
        status = app.query_one(StatusLine).render_text().plain
        assert "account ✗ Cannot reach Mandrill" in status and "last good" in status


async def test_invalid_key_keeps_console_up_and_says_so(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    sim.knobs.invalid_key = True
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        status = app.query_one(StatusLine).render_text().plain
        assert "Mandrill rejected the API key (Invalid_Key)" in status
        banner = app.query_one("#banner", Static)
        assert banner.has_class("shown")
        assert "check the key in $MANDRILL_API_KEY" in str(banner.content)
        assert DEMO_KEY not in str(banner.content) + status
        assert app.is_running


async def test_stored_state_is_on_screen_at_once_marked_stale(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator, tmp_path: Path
) -> None:
    first = make_app(server, store, clock)
    async with first.run_test(size=SIZE) as pilot:
        await settled(first, pilot)
    store.close()
    sim.knobs.latency = 3.0  # the next polls are slow to answer
    again = Store(store.dir, clock=clock).open()
    try:
        app = make_app(server, again, clock)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert "reputation 84/100" in app.query_one(ReputationPanel).summary_text
            assert len(feed_rows(app)) > 50
            sub = app.query_one(ReputationPanel).border_subtitle
            assert sub is not None
            assert "stored data" in sub
            assert app.pipeline.statuses["account"].ok is None
            status = app.query_one(StatusLine).render_text().plain
            assert "account … " in status and "waiting" not in status  # age of the stored poll
            sim.knobs.latency = 0
    finally:
        again.close()


async def test_hostile_bounce_text_is_shown_literally(tmp_path: Path) -> None:
    sc = scenario_named("hostile")
    clock = ManualClock(sc.start + timedelta(hours=3))
    with SimServer(Simulator(sc, clock)) as srv, Store(tmp_path / "s", clock=clock) as st:
        app = make_app(srv, st, clock)
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            feed = feed_rows(app)
            reasons = [r[-1] for r in feed]
            assert any("[bold red]PWNED[/bold red]" in r for r in reasons)
            assert any("\\x1b]0;owned title\\x07" in r for r in reasons)
            assert any("\\u202e" in r for r in reasons)
            assert not any(ch in "".join(reasons) for ch in "\x1b\x07\x9b\u202e\x00")
            table = app.query_one("#feed", DataTable)
            table.focus()
            evs = app.query_one(BounceFeed).visible_events()
            i = next(i for i, e in enumerate(evs) if "\x1b]52" in e.reason)
            table.move_cursor(row=i)
            await pilot.press("enter")
            await pilot.pause()
            body = str(app.screen.query_one("#detail-body", Static).content)
            assert "\\x1b]52;c;ZXZpbA==\\x07" in body and "\x1b" not in body
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "ZXZpbA==" in svg  # the clipboard payload, inert


async def test_palette_and_denylist(app: MailopsApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        rejects = str(app.query_one("#rep-rejects", Static).content)
        assert rejects.startswith("denylist ") and "hard-bounce" in rejects
        assert "time (UTC)" in [
            c.label.plain for c in app.query_one("#feed", DataTable).columns.values()
        ]
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Refresh now" in titles and "Export the feed as CSV" in titles
        # every action is a command, by the name of what it acts on
        assert {"Open customer Dandelion Deals", "Pause customer Dandelion Deals"} <= set(titles)
        assert "Cancel warm-up of 203.0.113.25" in titles  # the warming dedicated IP
        assert not any("warm-up of 198.51.100" in t for t in titles)  # shared: none
        assert any(t.startswith("Remove ") and t.endswith(" from the denylist") for t in titles)
        assert any(t.startswith("Acknowledge: ") for t in titles)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"open customer dandelion")
        await wait_for(lambda: app.screen.query_one("CommandList", CommandList).option_count > 0)
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(lambda: type(app.screen).__name__ == "CustomerScreen")
        assert isinstance(app.screen, CustomerScreen)
        assert app.screen.row.id == "dandelion"


async def test_compact_layout_at_80x24(app: MailopsApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        assert app.screen.has_class("compact")
        assert app.query_one("#feed", DataTable).region.height >= 4
        assert app.query_one("#ips", DataTable).region.height >= 3


async def test_the_api_key_reaches_no_screen_state_or_export(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    secret = "sk-live-SHOULD-NEVER-SHOW-31337"
    sim.key = secret
    app = make_app(server, store, clock, key=secret)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        seen = [app.export_screenshot()]
        sim.key = "rotated"  # now Mandrill rejects it
        await pilot.press("r")
        await wait_for(lambda: app.pipeline.statuses["account"].final)
        await pilot.pause()
        seen.append(app.export_screenshot())
        table = app.query_one("#feed", DataTable)
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        seen.append(app.export_screenshot())
    for text in seen:
        assert secret not in text
    for path in store.dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


async def test_hostile_error_text_in_stale_notes_stays_literal(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    sim.knobs.error_name = "Evil_[bold red]Name[/]\x1b]0;t\x07"
    sim.knobs.error_rates = {"users/info": 1.0, "subaccounts/list": 1.0}
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        svg = app.export_screenshot()
        shown = html.unescape(re.sub("<[^>]+>", "", svg)).replace("\xa0", " ")
        assert "\x1b" not in svg and "\\x1b]" in shown  # the note may be clipped after it
        assert "Evil_[bold red]Name" in shown  # in the stale note, literally


async def test_dns_and_blocklists_from_the_demo_zones(
    server: SimServer, store: Store, clock: ManualClock, scenario: Scenario
) -> None:
    from console.sim.demo_dns import DemoDns
    from widgets.dns import DnsScreen

    demo_dns = DemoDns(scenario, clock).start()
    try:
        app = make_app(server, store, clock, dns_port=demo_dns.port)
        async with app.run_test(size=SIZE) as pilot:
            await settled(app, pilot)
            await app.pipeline.run("dns")
            await app.pipeline.run("blocklists")
            await pilot.pause()
            ips = {r["ip"]: r for r in keyed(app.query_one("#ips", DataTable))}
            assert ips["198.51.100.13"]["lists"].startswith("1/7 spamcop")
            assert ips["203.0.113.25"]["lists"] == "0/7"
            assert ips["203.0.113.25"]["rdns"].startswith("✓ mail25")
            notes = str(app.query_one("#ip-notes", Static).content)
            assert "listed on bl.spamcop.net since" in notes
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, DnsScreen)
            domains = {r[0]: r for r in rows(app.screen.query_one("#dns-domains", DataTable))}
            assert domains["notify.northwind.example"][1].startswith("ok (1/10)")
            assert domains["mail.northwind-legacy.example"][1] == "FAIL"
            assert domains["mail.northwind-legacy.example"][5].startswith("✗")
            lists = rows(app.screen.query_one("#dns-lists", DataTable))
            assert lists[0][:3] == ["198.51.100.13", "bl.spamcop.net", "listed"]
            assert {r[2] for r in lists} <= {"listed", "not_listed", "error", "broken", "timeout"}
            table = app.screen.query_one("#dns-lists", DataTable)
            table.focus()
            await pilot.press("enter")
            await pilot.pause()
            detail = str(app.screen.query_one("#dns-detail-body", Static).content)
            assert "spamcop.net/bl.shtml" in detail
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, DnsScreen)
    finally:
        demo_dns.stop()
