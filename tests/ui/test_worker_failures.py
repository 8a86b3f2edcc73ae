"""Background work that fails is logged and said on screen; it never ends the console."""

from __future__ import annotations

import asyncio
import logging

import pytest

from console.jobs import log_task_failure
from console.sim import ManualClock, SimServer
from console.store import Store
from tests.helpers import wait_for
from tests.ui.conftest import make_app, settled


async def test_a_failed_worker_is_said_and_the_console_goes_on(
    server: SimServer,
    store: Store,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import console.export

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the exporter broke")

    monkeypatch.setattr(console.export, "export_events_csv", broken)
    app = make_app(server, store, clock)
    with caplog.at_level(logging.ERROR, logger="console.app"):
        async with app.run_test(size=(100, 30)) as pilot:
            await settled(app, pilot)
            await pilot.press("e")
            await wait_for(
                lambda: any("export failed" in str(n.message) for n in app._notifications)
            )
            message = next(str(n.message) for n in app._notifications if "failed" in str(n.message))
            assert "RuntimeError: the exporter broke" in message
            assert app.is_running  # still here: the next key works
            await pilot.press("a")
            await pilot.pause()
            assert type(app.screen).__name__ == "AlertsScreen"
    assert any("background work export failed" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info for r in caplog.records)  # with its traceback


async def test_a_failed_task_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise ValueError("lost")

    task = asyncio.get_running_loop().create_task(boom(), name="notify")
    task.add_done_callback(log_task_failure)
    with caplog.at_level(logging.ERROR, logger="console.jobs"), pytest.raises(ValueError):
        await task
    await asyncio.sleep(0)  # the done callbacks run on the next turn
    [record] = [r for r in caplog.records if "background task notify failed" in r.getMessage()]
    assert record.exc_info is not None
