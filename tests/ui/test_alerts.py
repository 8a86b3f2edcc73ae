"""Alerts as the engineer meets them: the line on the main screen, the screen, the ack."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.widgets import DataTable, Input, Static

from console.app import MailopsApp
from console.sim import ManualClock, SimServer, Simulator
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import make_app, settled
from widgets.alerts import AckScreen, AlertLine, AlertsScreen

SIZE = (120, 40)


def rows(table: DataTable[Text]) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


def alert_line(app: MailopsApp) -> str:
    """The alert line's text, as drawn."""
    shown = app.query_one(AlertLine).render()
    assert isinstance(shown, Content)
    return shown.plain


async def test_alert_line_screen_bell_and_acknowledgement(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    app = make_app(server, store, clock)
    bells = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await wait_for(lambda: "ALERTS" in alert_line(app))
        line = alert_line(app)
        assert "critical" in line and "Dandelion Deals" in line
        await wait_for(lambda: bells)  # new critical alerts ring the bell, once together
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)
        table = app.screen.query_one("#alerts-open", DataTable)
        shown = rows(table)
        assert shown[0][0] == "critical"  # worst first
        assert any("noisy neighbour" in r[4] for r in shown)
        table.focus()
        want = "customer_complaints · customer dandelion: Dandelion Deals"

        def on_dandelion() -> bool:
            # later polls may still reorder the table: find the row again each time
            i = next(i for i, r in enumerate(rows(table)) if r[3] == "customer dandelion")
            if table.cursor_row != i:
                table.move_cursor(row=i)
            got = str(app.screen.query_one("#alert-detail", Static).content)
            return got.startswith(want)

        await wait_for(on_dandelion)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AckScreen)
        app.screen.query_one(Input).value = "[bold]emailed[/bold] the customer"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, AlertsScreen)
        [row] = [
            r
            for r in rows(app.screen.query_one("#alerts-open", DataTable))
            if r[3] == "customer dandelion" and "complaint rate" in r[4]
        ]
        assert row[5].startswith("11-02 09:00 [bold]emailed")  # literal, not markup
        await wait_for(lambda: app.pipeline.store.audit())  # in the action log, like actions
        [ack] = app.pipeline.store.audit()
        assert (ack.action, ack.target) == ("alert.acknowledge", "customer dandelion")
        assert ack.result == "[bold]emailed[/bold] the customer"
        stored = {a.key: a for a in app.pipeline.alerts_view().open}
        note = stored["customer_complaints|customer dandelion"].ack_note
        assert note == "[bold]emailed[/bold] the customer"
        await pilot.press("escape")
        await pilot.pause()
        assert "acknowledged" in alert_line(app)


async def test_the_alert_line_is_evaluating_until_the_slow_source_answers(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    sim.knobs.latency = 1.5  # every answer takes a while: the rules have not judged yet
    app = make_app(server, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        line = alert_line(app)
        assert line.startswith("Still evaluating alerts — waiting for") and "messages" in line
        assert "No open alerts" not in line
        sim.knobs.latency = 0.0
        await settled(app, pilot)
        await wait_for(lambda: "evaluating" not in alert_line(app))
