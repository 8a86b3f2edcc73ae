"""The console as an SSH user meets it: what 80×24 keeps, layout that follows every resize,
keys that belong to the screen on view, the help, and a feed that stays live."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from console.app import MailopsApp
from console.sim import ManualClock
from tests.helpers import wait_for
from tests.ui.conftest import settled
from widgets.bounces import BounceFeed
from widgets.dns import DnsScreen
from widgets.help import HelpScreen
from widgets.reputation import ReputationPanel
from widgets.warmup import WarmupPanel


def screen_lines(app: MailopsApp) -> list[str]:
    """The text of every row of the terminal, as drawn."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def new_mail(app: MailopsApp, pilot: Pilot[None], clock: ManualClock) -> None:
    """Half an hour of mail read by a poll, and on the feed."""
    feed = app.query_one(BounceFeed)
    before = feed.page.events[0].key if feed.page else None
    clock.advance(minutes=30)
    assert (await app.pipeline.run("messages")).status.ok
    await wait_for(lambda: feed.page is not None and feed.page.events[0].key != before)
    await pilot.pause()


def footer_keys(app: MailopsApp) -> list[str]:
    return [k.key for k in app.screen.query(FooterKey)]


async def test_80x24_keeps_what_the_support_engineer_needs(app: MailopsApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        app.clear_notifications()
        await pilot.pause()
        lines = screen_lines(app)
        text = "\n".join(lines)
        # the alert line's message, whole (it wraps onto a second row)
        open_alerts = app.pipeline.alerts_view().open
        worst = min(open_alerts, key=lambda a: a.severity != "critical")
        assert " ".join(" ".join(lines[:2]).split()).find(worst.message[:70]) >= 0
        # account reputation with today's and 7-day rates
        assert any(ln.startswith("today ") and "%" in ln for ln in lines)
        assert any(ln.startswith("7 days ") and "%" in ln for ln in lines)
        assert "complaints" in text  # the customers with their complaints
        # every IP with its delivery rate and blocklist count
        panel = app.query_one(WarmupPanel)
        for row in app.pipeline.ip_view().rows:
            line = next(ln for ln in lines if f" {row.ip} " in f" {ln} ")
            cells = panel.cells(row)
            assert cells["rate"].plain in line and cells["lists"].plain in line, line
        # feed rows: time, kind, recipient and the SMTP reason in the width left over
        head = next(ln for ln in lines if "recipient" in ln)
        assert head.index("time") < head.index("kind") < head.index("recipient")
        assert head.index("recipient") < head.index("reason")
        events = app.query_one(BounceFeed).visible_events()
        shown = [e for e in events[:8] if any(e.email in ln for ln in lines)]
        assert len(shown) >= 4
        reasons = [e for e in shown if e.reason]
        assert all(any(e.reason[:12] in ln for ln in lines) for e in reasons)
        # one status line, and a footer where ? and q always fit
        assert "sources fine" in lines[-2]
        assert footer_keys(app)[-2:] == ["question_mark", "q"]


async def test_the_layout_follows_every_resize_both_ways(app: MailopsApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        main = app.screen
        assert not main.has_class("compact")
        for size, compact in (((100, 30), True), ((120, 40), False), ((80, 24), True)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            assert main.has_class("compact") is compact, size
            rep = app.query_one(ReputationPanel)
            assert rep.compact is compact
            rates = next(ln for ln in screen_lines(app) if "Mandrill  " in ln and "sent" in ln)
            assert ("soft" in rates) is not compact  # the wide rates table comes back
            ips = app.query_one("#ips", DataTable)
            assert ips.region.height == ips.row_count + 1  # every IP, no empty rows
            feed = app.query_one(BounceFeed)
            assert feed.compact is compact
            assert [c.value for c in app.query_one("#feed", DataTable).columns][3] == (
                "reason" if compact else "customer"
            )


async def test_keys_belong_to_the_screen_on_view(app: MailopsApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, DnsScreen)
        keys = footer_keys(app)
        assert not {"slash", "k", "e", "a", "m"} & set(keys), keys
        assert "question_mark" in keys and "q" in keys and "escape" in keys
        await pilot.press("e")  # the feed's export: not this screen's
        await pilot.press("slash")  # the hidden main screen's filter
        await pilot.pause()
        assert app.last_export is None
        assert not app.screen_stack[0].query_one(BounceFeed).has_class("filtering")
        assert isinstance(app.screen, DnsScreen)


async def test_help_is_the_screen_on_views_and_esc_closes_only_it(app: MailopsApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and app.screen.topic == "main"
        text = str(app.screen.query_one("#help-text").render())
        assert "/  " in text or "/ " in text  # the main screen's keys
        assert "Filter the bounce feed" in text and "Focus Next" not in text
        assert "Mandrill users/info" in text  # a figure's source, in the README's words
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]  # only the help closed
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and app.screen.topic == "DnsScreen"
        text = str(app.screen.query_one("#help-text").render())
        assert "blocklist n/m" in text and "Filter the bounce feed" not in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DnsScreen)


async def test_the_feed_follows_until_the_cursor_moves_then_counts_newer(
    app: MailopsApp, clock: ManualClock
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        feed = app.query_one(BounceFeed)
        table = app.query_one("#feed", DataTable)
        table.focus()
        await pilot.pause()

        await new_mail(app, pilot, clock)
        assert table.cursor_row == 0 and feed.newer == 0  # on the newest: it follows
        assert feed.highlighted_event() == feed.visible_events()[0]
        await pilot.press("down", "down", "down")
        held = feed.highlighted_event()
        assert held is not None
        await new_mail(app, pilot, clock)
        assert feed.highlighted_event() == held  # the user's row stays under the cursor
        above = [e for e in feed.visible_events() if e.event_ts > held.event_ts]
        assert feed.newer > 0 and len(above) >= feed.newer + 3
        assert f"▲ {feed.newer:,} newer" in str(feed.border_title)
        await pilot.press("g")
        await pilot.pause()
        assert table.cursor_row == 0 and feed.newer == 0
        assert "newer" not in str(feed.border_title)
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1


async def test_alerts_opened_together_make_one_notification_and_one_bell(
    app: MailopsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    import console.app as app_module
    from console.model import Alert
    from console.updates import AlertsView

    monkeypatch.setattr(app_module, "ALERT_GATHER", 0.3)
    at = app.pipeline.clock()

    def alert(i: int) -> Alert:
        return Alert(f"a{i}", f"rule|s{i}", "rule", f"s{i}", "critical", f"m{i}", at, at)

    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        await wait_for(lambda: app._announce_timer is None)  # start-up's own, announced
        app.clear_notifications()
        bells: list[int] = []
        monkeypatch.setattr(app, "bell", lambda: bells.append(1))
        first = tuple(alert(i) for i in range(4))
        app._show_alerts(AlertsView(first, opened=first))  # one poll's evaluation
        more = tuple(alert(i) for i in range(4, 7))
        app._show_alerts(AlertsView(first + more, opened=more))  # the next source's
        await wait_for(lambda: app._announce_timer is None)
        await pilot.pause()
        texts = [str(n.message) for n in app._notifications]
        assert texts == ["7 new critical alerts — a to see them"] and bells == [1]


async def test_a_modal_screen_shows_its_own_keys_and_its_help(app: MailopsApp) -> None:
    from widgets.detail import EventDetail

    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        app.query_one("#feed", DataTable).focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EventDetail)
        keys = footer_keys(app)
        assert "escape" in keys and "question_mark" in keys and "x" not in keys, keys
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and app.screen.topic == "EventDetail"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, EventDetail)


async def test_at_80x24_the_feed_title_says_its_filter_and_matches(app: MailopsApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        feed = app.query_one(BounceFeed)
        await pilot.press("k")  # hard
        await wait_for(lambda: feed.page is not None and feed.page.matched is not None)
        await pilot.pause()
        title = str(feed.border_title)
        assert feed.page is not None
        assert "kind: hard" in title and f"{feed.page.matched:,} of" in title and "match" in title
        assert not app.query_one("#feed-info").display or not app.screen.has_class("compact")


async def test_an_open_customer_screen_follows_the_polls(
    app: MailopsApp, clock: ManualClock
) -> None:
    from widgets.customer import CustomerScreen

    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        subs = app.query_one("#subaccounts", DataTable)
        subs.focus()
        subs.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CustomerScreen)
        before = screen.row.messages
        clock.advance(hours=2)
        assert (await app.pipeline.run("messages")).status.ok
        assert (await app.pipeline.run("subaccounts")).status.ok
        await wait_for(lambda: screen.row.messages > before)
        await pilot.pause()
        head = str(screen.query_one("#cust-head").render())
        assert f"{screen.row.messages:,} messages" in head
        # the head's event counts and the list are of the same moment
        assert screen.query_one("#cust-events", DataTable).row_count == len(screen.events)


async def test_palette_commands_show_outside_text_literally(
    app: MailopsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from textual.content import Content

    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app, pilot)
        rows = app.pipeline.subaccount_view()
        hostile = (replace(rows[0], name="Shop [/] [@click=app.quit]Ltd[/]"), *rows[1:])
        monkeypatch.setattr(app.pipeline, "subaccount_view", lambda: hostile)
        for command in app.get_system_commands(app.screen):
            Content.from_markup(command.title)  # what the palette does: must not raise
            Content.from_markup(command.help)
        titles = [Content.from_markup(c.title).plain for c in app.get_system_commands(app.screen)]
        assert "Open customer Shop [/] [@click=app.quit]Ltd[/]" in titles
        await pilot.press("ctrl+p")
        await pilot.press(*"open customer shop")
        await pilot.pause()
        await pilot.pause()
        assert app.is_running


async def test_the_newer_count_survives_a_resize(app: MailopsApp, clock: ManualClock) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        feed = app.query_one(BounceFeed)
        table = app.query_one("#feed", DataTable)
        table.focus()
        await pilot.press("down", "down")
        await new_mail(app, pilot, clock)
        newer, held = feed.newer, feed.highlighted_event()
        assert newer > 0
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert feed.newer == newer and feed.highlighted_event() == held


async def test_a_read_only_console_offers_no_seed_test_on_the_placement_screen(
    app: MailopsApp,
) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app, pilot)
        monkey_store = app.pipeline.store
        monkey_store.read_only = True  # as a second console on the same state dir
        try:
            await pilot.press("p")
            await pilot.pause()
            assert type(app.screen).__name__ == "SeedScreen"
            assert "s" not in footer_keys(app)
        finally:
            monkey_store.read_only = False
