"""Hostile text through every screen and every export: shown literally, never executed."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

from textual.widgets import DataTable, Static

from console.sim import ManualClock, SimServer, Simulator, scenario_named
from console.store import Store
from console.wire import parse_message
from tests.helpers import wait_for
from tests.ui.conftest import make_app, settled
from widgets.detail import EventDetail

#: What must never reach a terminal raw: ESC, BEL, NUL, other C0, C1, bidi controls.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
FORMULA = ("=", "+", "-", "@")


async def test_every_screen_and_export_keeps_hostile_text_inert(tmp_path: Path) -> None:
    sc = scenario_named("hostile")
    clock = ManualClock(sc.start + timedelta(hours=3))
    with SimServer(Simulator(sc, clock)) as srv, Store(tmp_path / "s", clock=clock) as st:
        app = make_app(srv, st, clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await settled(app, pilot)
            shots = [app.export_screenshot()]
            for key in ("d", "a", "l", "p", "m", "o"):
                await pilot.press(key)
                await pilot.pause()
                shots.append(app.export_screenshot())
                await pilot.press("escape")
                await pilot.pause()
            # the feed's CSV
            await pilot.press("e")
            await wait_for(lambda: app.last_export is not None)  # written in a thread
            feed_csv = app.last_export
            assert feed_csv is not None
            # a customer's view and report
            subs = app.query_one("#subaccounts", DataTable)
            subs.focus()
            await pilot.press("enter")
            await pilot.pause()
            shots.append(app.export_screenshot())
            await pilot.press("e")
            await wait_for(lambda: app.last_export != feed_csv)
            report_txt = app.last_export
            assert report_txt is not None
            await pilot.press("escape")
            await pilot.pause()
        for svg in shots:
            assert not RAW.search(svg)
        text = report_txt.read_text(encoding="utf-8")
        assert "PWNED" in "".join(shots) + text  # the text is there, as text
        for path in (feed_csv, report_txt.with_suffix(".csv")):
            with open(path, newline="", encoding="utf-8") as fh:
                cells = [c for row in csv.reader(fh) for c in row]
            assert any("HYPERLINK" in c for c in cells)
            for c in cells:
                assert not RAW.search(c), (path, c)
                assert not c.startswith(FORMULA) or c.lstrip("-").replace(".", "").isdigit(), c
        assert not RAW.search(text) and "\\x1b" in text


async def test_a_one_megabyte_reason_is_clipped_in_the_table_and_whole_in_the_detail(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    app = make_app(server, store, clock)
    huge = "550 5.1.1 " + "x" * 1_000_000 + " THE-END \x1b]0;t\x07"
    at = int((clock() + timedelta(hours=1)).timestamp())
    item = {
        "_id": "big-1",
        "ts": at,
        "state": "bounced",
        "email": "big@example.com",
        "subaccount": "acme",
        "diag": huge,
    }
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        event = parse_message(item)
        assert event is not None
        store.ingest([event])
        store.commit()
        app.refresh_feed()
        await pilot.pause()
        table = app.query_one("#feed", DataTable)
        row = [c.plain for c in table.get_row_at(0)]
        assert row[2] == "big@example.com" and len(row[-1]) < 200  # clipped in the table
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EventDetail)
        body = str(app.screen.query_one("#detail-body", Static).content)
        assert "THE-END \\x1b]0;t\\x07" in body and len(body) > 1_000_000  # all of it, inert
