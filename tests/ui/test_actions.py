"""Actions and the customer view, driven from the keyboard."""

from __future__ import annotations

import os
from dataclasses import replace

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.app import MailopsApp
from console.sim import ManualClock, SimServer, Simulator
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import make_app, settled
from widgets.audit import AuditScreen
from widgets.bounces import BounceFeed
from widgets.confirm import ConfirmScreen
from widgets.customer import CustomerScreen

SIZE = (120, 40)


def rows(table: DataTable[Text]) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def _focus_feed_row(app: MailopsApp, pilot: Pilot[None], kind: str) -> str:
    feed = app.query_one(BounceFeed)
    table = app.query_one("#feed", DataTable)
    table.focus()
    i = next(i for i, e in enumerate(feed.visible_events()) if e.kind == kind)
    table.move_cursor(row=i)
    await pilot.pause()
    return feed.visible_events()[i].email


async def _on_row(app: MailopsApp, pilot: Pilot[None], sim: Simulator, *, listed: bool) -> str:
    """Put the feed's cursor on the newest row whose recipient is (or is not) on Mandrill's
    denylist; its address."""
    denied = {r["email"] for r in sim.m_rejects_list({})}
    feed = app.query_one(BounceFeed)
    table = app.query_one("#feed", DataTable)
    table.focus()
    events = feed.visible_events()
    i = next(i for i, e in enumerate(events) if (e.email in denied) is listed)
    table.move_cursor(row=i)
    await pilot.pause()
    return events[i].email


async def test_unreject_asks_states_the_cost_then_removes_and_logs(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        email = await _on_row(app, pilot, sim, listed=True)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        body = str(app.screen.query_one("#confirm-body", Static).content)
        assert "against the account's reputation" in body
        entry = next(r for r in sim.m_rejects_list({}) if r["email"] == email)
        assert f"Listed: {entry['reason']}" in body and " since 20" in body  # the entry
        await pilot.press("n")
        await pilot.pause()
        assert sim.calls["rejects/delete"] == 0
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(lambda: len(app.pipeline.store.audit()) == 1)
        entry = app.pipeline.store.audit()[0]
        assert (entry.action, entry.target, entry.ok) == ("reject.delete", email, True)
        assert email not in {r["email"] for r in sim.m_rejects_list({})}
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, AuditScreen)
        [row] = rows(app.screen.query_one("#audit", DataTable))
        assert row[1:] == ["reject.delete", email, "✓", "deleted"]


def footer_keys(app: MailopsApp) -> set[str]:
    from textual.widgets._footer import FooterKey

    return {k.key for k in app.screen.query(FooterKey)}


async def test_read_only_offers_no_action(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    app = make_app(server, store, clock)
    app.config = replace(app.config, ui=replace(app.config.ui, read_only=True))
    app.actions.read_only = True
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await _on_row(app, pilot, sim, listed=True)
        assert "x" not in footer_keys(app)  # what it cannot do is not offered
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert sim.calls["rejects/delete"] == 0 and app.pipeline.store.audit() == []
        subs = app.query_one("#subaccounts", DataTable)
        subs.focus()
        await pilot.pause()
        assert "z" not in footer_keys(app)


async def test_unreject_is_offered_on_denylisted_recipients_only(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await _on_row(app, pilot, sim, listed=False)
        assert "x" not in footer_keys(app)
        await pilot.press("x")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await _on_row(app, pilot, sim, listed=True)
        assert "x" in footer_keys(app)


async def test_customer_view_report_and_pause(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        subs = app.query_one("#subaccounts", DataTable)
        subs.focus()
        subs.move_cursor(row=0)  # worst first: Dandelion Deals
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CustomerScreen) and screen.row.id == "dandelion"
        head = str(screen.query_one("#cust-head", Static).content)
        assert head.startswith("Dandelion Deals (dandelion) · active")
        assert "sent since Monday (Mandrill)" in head and "mail read, " in head
        assert f"{len(screen.events):,} feed events, 7 d:" in head  # all of them on screen
        alerts = str(screen.query_one("#cust-alerts", Static).content)
        assert "complaint rate" in alerts
        events = rows(screen.query_one("#cust-events", DataTable))
        assert events and all(r[3] for r in events)  # every event explained
        assert any(r[1] == "spam" and "report spam" in r[3] for r in events)
        await pilot.press("e")
        await wait_for(lambda: app.last_export is not None)  # written in a thread
        txt = app.last_export
        assert txt is not None
        assert txt.suffix == ".txt" and os.stat(txt).st_mode & 0o777 == 0o600
        assert "Recipients who marked a message as spam" in txt.read_text()
        assert txt.with_suffix(".csv").exists()
        await wait_for(lambda: len(app.pipeline.store.audit()) == 1)
        exported = app.pipeline.store.audit()[0]  # the whole path, kept in the action log
        assert (exported.action, exported.target) == ("export", str(txt))
        await pilot.press("z")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(lambda: "dandelion" in sim.paused)
        await wait_for(lambda: len(app.pipeline.store.audit()) == 2)
        # the open view and the customers table show the pause at once
        await wait_for(lambda: "· paused ·" in str(screen.query_one("#cust-head", Static).content))
        names = [r[0] for r in rows(app.screen_stack[0].query_one("#subaccounts", DataTable))]
        assert "⏸ Dandelion Deals" in names
