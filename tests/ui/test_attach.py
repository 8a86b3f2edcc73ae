"""A console on a state dir that `mailops serve` owns attaches to it: it shows the
service's data within seconds, and what it asks (r, an action) the service does and logs
with the asker's Unix user."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import stat
import time
from dataclasses import replace

from textual.widgets import DataTable, Static

from console.app import build_app
from console.cli import open_attached
from console.jobs import Pipeline
from console.received import receive
from console.secret import Secret
from console.service.run import Service
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sources.control import socket_path
from console.sources.mandrill import MandrillClient
from console.store import Store
from console.webhook import WebhookBatch
from tests.helpers import wait_for
from tests.ui.conftest import quiet_config, utc
from widgets.bounces import BounceFeed
from widgets.confirm import ConfirmScreen

SIZE = (120, 40)


async def test_an_attached_console_follows_the_service_and_acts_through_it(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    cfg = quiet_config(server.base_url, str(store.dir))
    cfg = replace(cfg, webhooks=replace(cfg.webhooks, url=""))
    owner_client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
    service = Service(Pipeline(owner_client, store, cfg, clock=clock))
    await service.start()
    assert service.jobs.scheduler is not None
    service.jobs.scheduler.pause()  # the test says when the service polls
    try:
        sock = socket_path(store.dir)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        for name in ("account", "ips", "subaccounts", "rejects", "messages"):
            assert (await service.pipeline.run(name)).status.ok
        # in a thread: the service answers on this test's event loop
        view_store, view_cfg, remote = await asyncio.to_thread(open_attached, cfg, clock)
        assert remote is not None and view_store.read_only and not view_cfg.ui.read_only
        assert f"Attached to the mailops service (pid {os.getpid()})" in view_cfg.warnings[-1]
        client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
        pipeline = Pipeline(client, view_store, view_cfg, clock=clock)
        pipeline.remote = remote
        app = build_app(view_cfg, pipeline, local_time=utc)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                assert "Attached" in str(app.query_one("#banner", Static).content)
                assert app.query_one("#subaccounts", DataTable).row_count == 5
                assert app.jobs.scheduler is None  # the service polls, not the console
                feed = app.query_one(BounceFeed)
                await wait_for(lambda: not feed.reading and feed.page is not None)
                assert feed.page is not None
                before = feed.page.total
                # the service polls on; the console shows it within 5 s
                clock.advance(minutes=5)
                assert (await service.pipeline.run("messages")).status.ok
                start = time.monotonic()
                await wait_for(lambda: feed.page is not None and feed.page.total > before, 5)
                assert time.monotonic() - start <= 5
                assert "webhook" not in str(feed.border_title)  # none came: nothing said
                await receive(service.pipeline, WebhookBatch(by_type={"send": 1}))
                await wait_for(lambda: re.search(r"webhook \d+s ago", str(feed.border_title)), 5)
                # r asks the service to poll every source
                service.jobs.scheduler.resume()
                calls = sim.calls["users/info"]
                await pilot.press("r")
                await wait_for(lambda: sim.calls["users/info"] > calls, 10)
                # an action: confirmed here, done by the service, logged with the user
                denied = {r["email"] for r in sim.m_rejects_list({})}
                table = app.query_one("#feed", DataTable)
                table.focus()
                events = feed.visible_events()
                i = next(
                    i for i, e in enumerate(events)
                    if e.email in denied and e.email.lower() in feed.denylist
                )  # fmt: skip
                table.move_cursor(row=i)
                await pilot.pause()
                email = events[i].email
                await pilot.press("x")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                await pilot.press("y")
                await wait_for(lambda: any(e.target == email for e in store.audit()), 30)
                entry = next(e for e in store.audit() if e.target == email)
                assert (entry.action, entry.ok) == ("reject.delete", True)
                assert entry.user == getpass.getuser()
                assert email not in {r["email"] for r in sim.m_rejects_list({})}
                await wait_for(lambda: any(e.target == email for e in pipeline.audit()), 10)
        finally:
            view_store.close()
            await client.aclose()
    finally:
        await service.stop()
        await owner_client.aclose()
    assert not socket_path(store.dir).exists()  # the service took its socket away
