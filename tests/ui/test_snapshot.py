"""One picture of the main screen, from stored state on a frozen clock."""

from __future__ import annotations

import asyncio

from console.app import build_app
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY
from console.sources.mandrill import MandrillClient
from tests.ui.conftest import quiet_config, utc, wait_for


def test_main_screen(snap_compare, server, store, clock):
    cfg = quiet_config(server.base_url, str(store.dir))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
    pipeline = Pipeline(client, store, cfg, clock=clock, wall=clock)

    async def fill() -> None:
        for name in pipeline.sources:
            assert (await pipeline.run(name)).status.ok
        await client.aclose()

    asyncio.run(fill())
    fresh = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
    app = build_app(
        cfg,
        Pipeline(fresh, store, cfg, clock=clock, wall=clock),
        wall=clock,
        local_time=utc,
        start_jobs=False,
        subtitle="snapshot",
    )

    async def feed_read(pilot) -> None:  # the stored events are read in a thread
        await wait_for(lambda: not app.feed.reading)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=feed_read)
