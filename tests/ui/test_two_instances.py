"""A second mailops on the same state directory: a read-only view that follows the owner."""

from __future__ import annotations

import os

import pytest
from textual.widgets import DataTable, Static

import console.app as app_module
from console.app import build_app
from console.cli import open_console_store
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.sources.mandrill import MandrillClient
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import quiet_config, utc
from widgets.bounces import BounceFeed
from widgets.confirm import ConfirmScreen
from widgets.reputation import ReputationPanel
from widgets.warmup import WarmupPanel

SIZE = (120, 40)


async def test_the_second_instance_opens_read_only_and_follows(
    server: SimServer, store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = quiet_config(server.base_url, str(store.dir))
    owner_client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
    owner = Pipeline(owner_client, store, cfg, clock=clock)  # `store` holds the lock
    for name in ("account", "ips", "subaccounts"):
        assert (await owner.run(name)).status.ok
    monkeypatch.setattr(app_module, "READ_ONLY_RELOAD", 0.2)
    view_store, view_cfg = open_console_store(cfg, clock)
    try:
        assert view_store.read_only and view_cfg.ui.read_only
        assert "Read-only: the state directory" in view_cfg.warnings[-1]
        assert f"pid {os.getpid()}" in view_cfg.warnings[-1]
        client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
        app = build_app(
            view_cfg, Pipeline(client, view_store, view_cfg, clock=clock), local_time=utc
        )
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            banner = str(app.query_one("#banner", Static).content)
            assert "Read-only" in banner and "another mailops" in banner
            subs = app.query_one("#subaccounts", DataTable)
            assert subs.row_count == 5  # the owner's stored data, at once
            assert app.jobs.scheduler is None  # the viewer never polls
            feed = app.query_one(BounceFeed)
            await wait_for(lambda: not feed.reading)
            assert feed.page is not None
            feed_before = feed.page.total
            # the owner goes on polling and writing; the viewer re-reads and shows it
            clock.advance(minutes=5)
            assert (await owner.run("messages")).status.ok
            await wait_for(lambda: feed.page is not None and feed.page.total > feed_before)
            # what it cannot do is neither offered nor done, and nothing says "polling"
            from textual.widgets._footer import FooterKey

            await pilot.pause()
            offered = {k.key for k in app.screen.query(FooterKey)}
            assert not offered & {"r", "s", "z", "w", "x"}, offered
            for key in ("r", "s"):
                await pilot.press(key)
                await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
            assert app.jobs.scheduler is None
            for panel in (ReputationPanel, WarmupPanel, BounceFeed):
                assert "polling" not in str(app.query_one(panel).border_subtitle)
    finally:
        view_store.close()
        await owner_client.aclose()
    assert not list(store.dir.glob("*.corrupt-*"))  # the viewer moved nothing aside
