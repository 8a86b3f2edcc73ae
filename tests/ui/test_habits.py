"""Habits of the ecosystem: the theme picked is kept, the mouse can be left alone, and
the demo shows the time its story is at."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from console import cli
from console.sim import ManualClock, SimServer
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import make_app, settled


async def test_a_theme_picked_is_kept_until_the_config_changes(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    app = make_app(server, store, clock)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app, pilot)
        app.theme = "gruvbox"  # as the palette's theme picker sets it
        await wait_for(lambda: app.pipeline.store.get_snapshot("ui_theme", dict[str, str]))
    again = make_app(server, store, clock)
    async with again.run_test(size=(100, 30)) as pilot:
        await settled(again, pilot)
        assert again.theme == "gruvbox"
    # a new [ui] theme is the newer wish: it wins over the old pick
    newer = make_app(server, store, clock)
    newer.config = replace(newer.config, ui=replace(newer.config.ui, theme="nord"))
    async with newer.run_test(size=(100, 30)) as pilot:
        await settled(newer, pilot)
        assert newer.theme == "nord"


async def test_an_unknown_theme_is_said_not_fatal(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    app = make_app(server, store, clock)
    app.config = replace(app.config, ui=replace(app.config.ui, theme="no-such-theme"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(app, pilot)
        assert any("Unknown theme 'no-such-theme'" in str(n.message) for n in app._notifications)


def test_mouse_false_runs_the_console_without_mouse_reporting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: SimServer
) -> None:
    from console.app import MailopsApp
    from tests.helpers import offline_config

    seen: dict[str, object] = {}
    monkeypatch.setattr(MailopsApp, "run", lambda self, **kw: seen.update(kw))
    monkeypatch.setenv("MANDRILL_API_KEY", "k")
    cfg = offline_config(tmp_path, server.base_url, "[ui]\nmouse = false\n")
    assert cli.main(["--config", str(cfg)]) == 0
    assert seen == {"mouse": False}


async def test_the_demo_shows_its_scenario_clock(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    from widgets.status import StatusLine

    app = make_app(server, store, clock, story_clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        line = app.query_one(StatusLine).render_text().plain
        assert line.startswith(f"⏱ {clock():%m-%d %H:%M} UTC (scenario)")
