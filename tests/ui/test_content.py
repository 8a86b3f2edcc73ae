"""The content screen: recorded scores in the demo, and a failing spamd marked stale."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Static

from console.app import MailopsApp, build_app
from console.cli import DEMO_NEWSLETTER, demo_content_checks
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sim.recorded_spamd import RecordedSpamd
from console.sources.mandrill import MandrillClient
from console.sources.spamd import Scorer, Spamd
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import quiet_config, utc
from widgets.content import ContentScreen

SIZE = (120, 40)


def rows(table: DataTable[Text]) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


def content_app(
    server: SimServer, store: Store, clock: ManualClock, tmp_path: Path, scorer: Scorer
) -> MailopsApp:
    eml = tmp_path / "newsletter.eml"
    eml.write_bytes(DEMO_NEWSLETTER)
    cfg = replace(
        quiet_config(server.base_url, str(store.dir)), content_checks=demo_content_checks(str(eml))
    )
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5.0, retries=0)
    pipeline = Pipeline(client, store, cfg, clock=clock, scorer=scorer)
    return build_app(cfg, pipeline, local_time=utc)


async def test_content_screen_with_recorded_scores_and_c(
    server: SimServer, store: Store, clock: ManualClock, tmp_path: Path, sim: Simulator
) -> None:
    app = content_app(server, store, clock, tmp_path, RecordedSpamd(clock))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.pipeline.statuses["content"].ok is not None)
        await pilot.press("o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ContentScreen)
        assert "DEMO: recorded scores" in str(screen.query_one("#content-heading", Static).content)
        shown = {r[0]: r for r in rows(screen.query_one("#content-checks", DataTable))}
        assert set(shown) == {"order-receipt", "password-reset", "newsletter"}
        assert shown["newsletter"][4] == "2"  # no List-Unsubscribe, no text part
        body = str(screen.query_one("#content-body", Static).content)
        assert "recorded score" in body
        renders = sim.calls["templates/render"]
        await pilot.press("c")
        await wait_for(lambda: sim.calls["templates/render"] >= renders + 2)


async def test_a_failing_spamd_keeps_the_last_scores_marked_stale(
    server: SimServer, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    app = content_app(server, store, clock, tmp_path, RecordedSpamd(clock))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.pipeline.statuses["content"].ok is True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        app.pipeline.scorer = Spamd("127.0.0.1", closed, timeout=1)
        await pilot.press("o")
        await pilot.press("c")
        await wait_for(lambda: app.pipeline.statuses["content"].ok is False)
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        stale = str(screen.query_one("#content-stale", Static).content)
        assert "refused the connection" in stale and "stale" in stale
        assert len(rows(screen.query_one("#content-checks", DataTable))) == 3  # last scores kept
