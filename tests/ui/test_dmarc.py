"""The DMARC screen, filled by the dmarc poll from a directory of the demo's reports."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Static

from console.sim import ManualClock, SimServer, Simulator
from console.sim.dmarc_reports import SPOOFER, demo_reports
from console.store import Store
from tests.ui.conftest import make_app, settled
from widgets.dmarc import DmarcScreen, DmarcSourceScreen

SIZE = (120, 40)


def rows(table: DataTable[Text]) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_dmarc_screen_windows_sources_and_records(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in demo_reports(sim.scenario, clock(), days=10):
        (inbox / name.replace("!", "_")).write_bytes(data)
    app = make_app(server, store, clock)
    p = app.pipeline
    p.config = replace(p.config, dmarc=replace(p.config.dmarc, directory=str(inbox)))
    async with app.run_test(size=SIZE) as pilot:
        await settled(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DmarcScreen)
        heading = str(screen.query_one("#dmarc-heading", Static).content)
        assert "last 7 days" in heading and "42 reports" in heading
        domains = {r[0]: r for r in rows(screen.query_one("#dmarc-domains", DataTable))}
        good = domains["notify.northwind.example"]
        assert good[6] == "2 ⚠"  # the spoofer and the forwarder are unknown; one is flagged
        await pilot.press("t")  # 30 days: all ten days of reports
        await pilot.pause()
        assert "last 30 days" in str(screen.query_one("#dmarc-heading", Static).content)
        assert "60 reports" in str(screen.query_one("#dmarc-heading", Static).content)
        domains_table = screen.query_one("#dmarc-domains", DataTable)
        domains_table.focus()
        domains_table.move_cursor(row=1)  # notify.northwind.example (sorted by name)
        await pilot.pause()
        sources = screen.query_one("#dmarc-sources", DataTable)
        shown = rows(sources)
        spoof = next(i for i, r in enumerate(shown) if r[0] == SPOOFER)
        assert shown[spoof][1] == "unknown" and shown[spoof][7] == "⚠ spoofing?"
        sources.focus()
        sources.move_cursor(row=spoof)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DmarcSourceScreen)
        records = rows(app.screen.query_one("#dmarc-records", DataTable))
        assert len(records) == 10 and all(r[1] == "google.com" for r in records)
        assert all(r[3] == "quarantine" and r[4] == "fail" for r in records)
        heading = str(app.screen.query_one(".heading", Static).content)
        total = sum(int(r[2].replace(",", "")) for r in records)
        assert "reports of the last 30 days" in heading
        assert shown[spoof][3] == f"{total:,}"  # the row and its records count alike
        await pilot.press("escape")
        await pilot.press("t")  # 1 day: the records screen follows the window
        await pilot.pause()
        sources = screen.query_one("#dmarc-sources", DataTable)
        shown = rows(sources)
        sources.focus()
        sources.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        records = rows(app.screen.query_one("#dmarc-records", DataTable))
        total = sum(int(r[2].replace(",", "")) for r in records)
        assert records and shown[0][3] == f"{total:,}"
        assert "last 1 day:" in str(app.screen.query_one(".heading", Static).content)


async def test_the_tls_reports_screen_opens_from_the_dmarc_screen(
    server: SimServer, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    from console.sim.tls_reports import demo_tls_reports
    from widgets.tlsrpt import TlsScreen

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name, data in demo_tls_reports(clock(), days=10):
        (inbox / name.replace("!", "_")).write_bytes(data)
    app = make_app(server, store, clock)
    p = app.pipeline
    p.config = replace(p.config, dmarc=replace(p.config.dmarc, directory=str(inbox)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        await pilot.press("m", "s")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TlsScreen)
        [domain] = rows(screen.query_one("#tls-domains", DataTable))
        assert domain[0] == "notify.northwind.example" and domain[1] == "14"
        assert domain[5] == "certificate expired" and domain[6] == "sts"
        [path] = rows(screen.query_one("#tls-paths", DataTable))
        assert path[0] == "certificate expired" and path[3] == "mx2.notify.northwind.example"
        await pilot.press("t")  # 30 days: all ten days
        await pilot.pause()
        assert rows(screen.query_one("#tls-domains", DataTable))[0][1] == "20"
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "DmarcScreen"
