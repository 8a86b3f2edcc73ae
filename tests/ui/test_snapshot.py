"""Pictures of every screen at 80×24, 100×30 and 120×40, from one stored state on a
frozen clock: the layout at each size is pinned, and a change to it is seen in review."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.app import build_app
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator, scenario_named
from console.sources.mandrill import MandrillClient
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import SnapCompare, quiet_config, utc

SIZES = [(80, 24), (100, 30), (120, 40)]

#: screen → the keys that open it from the main screen (after focusing a table, if named)
SCREENS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "main": (None, ()),
    "dns": (None, ("d",)),
    "alerts": (None, ("a",)),
    "dmarc": (None, ("m",)),
    "content": (None, ("o",)),
    "placement": (None, ("p",)),
    "log": (None, ("l",)),
    "help": (None, ("question_mark",)),
    "customer": ("#subaccounts", ("enter",)),
    "detail": ("#feed", ("enter",)),
}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ManualClock, str]]:
    """A state dir every source has answered into once, and the simulator it came from."""
    scenario = scenario_named("default")
    clock = ManualClock(scenario.start + timedelta(hours=3))
    state = tmp_path_factory.mktemp("filled") / "state"
    with SimServer(Simulator(scenario, clock)) as server:
        cfg = quiet_config(server.base_url, str(state))
        store = Store(state, clock=clock).open()
        client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
        pipeline = Pipeline(client, store, cfg, clock=clock, wall=clock)

        async def fill() -> None:
            for name in pipeline.sources:
                assert (await pipeline.run(name)).status.ok, name
            await client.aclose()

        asyncio.run(fill())
        store.close()
        yield state, clock, server.base_url


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(
    snap_compare: SnapCompare,
    filled: tuple[Path, ManualClock, str],
    tmp_path: Path,
    screen: str,
    size: tuple[int, int],
) -> None:
    template, clock, base_url = filled
    state = tmp_path / "state"
    shutil.copytree(template, state)
    cfg = quiet_config(base_url, str(state))
    store = Store(state, clock=clock).open()
    app = build_app(
        cfg,
        Pipeline(MandrillClient(base_url, Secret(DEMO_KEY), timeout=5), store, cfg, clock=clock,
                 wall=clock),
        wall=clock,
        local_time=utc,
        start_jobs=False,
        subtitle="snapshot",
    )  # fmt: skip
    focus, keys = SCREENS[screen]

    async def open_screen(pilot: Pilot[None]) -> None:  # the stored events are read in a thread
        await wait_for(lambda: not app.feed.reading)
        await pilot.pause()
        if focus:
            app.query_one(focus).focus()
            await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause()

    try:
        assert snap_compare(app, terminal_size=size, run_before=open_screen)
    finally:
        store.close()
