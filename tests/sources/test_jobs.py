"""The polling pipeline and its scheduler, against the simulator over HTTP."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import pytest

from console.cli import demo_config
from console.jobs import Jobs, Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sources.mandrill import MandrillClient
from console.store import Store
from console.updates import Update
from tests.helpers import wait_for


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def pipeline(server: SimServer, store: Store, clock: ManualClock) -> AsyncIterator[Pipeline]:
    cfg = demo_config(server.base_url, str(store.dir))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=2, retries=0, sleep=no_sleep)
    p = Pipeline(client, store, cfg, clock=clock)
    yield p
    await client.aclose()


async def test_one_poll_of_everything_fills_every_view(pipeline: Pipeline) -> None:
    published: list[Update] = []
    pipeline.publish = published.append
    for name in pipeline.sources:
        u = await pipeline.run(name)
        assert u.status.ok, (name, u.status.error)
    assert [u.source for u in published] == list(pipeline.sources)
    view = pipeline.account_view()
    assert view is not None and view.account.reputation == 84 and view.history
    ip_view = pipeline.ip_view()
    assert ip_view.unattributed == 0
    rows = {r.ip: r for r in ip_view.rows}
    dedicated = rows["203.0.113.25"]
    assert dedicated.dedicated and dedicated.warmup_day == 12 and dedicated.warmup_days == 30
    assert dedicated.sent > 1000 and 0.9 < (dedicated.delivery_rate or 0) <= 1
    assert rows["198.51.100.13"].noisy  # the scenario's noisy neighbour, 3 h in
    assert not any(r.noisy for ip, r in rows.items() if ip != "198.51.100.13")
    subs = pipeline.subaccount_view()
    assert subs[0].id == "dandelion" and subs[0].complaints > 0
    assert any(u.result.new_events for u in published)


async def test_a_failing_source_keeps_its_last_data_and_recovers(
    pipeline: Pipeline, sim: Simulator
) -> None:
    assert (await pipeline.run("account")).status.ok
    sim.knobs.error_rates = {"users/info": 1.0}
    first = await pipeline.run("account")
    second = await pipeline.run("account")
    assert not first.status.ok and "GeneralError" in first.status.error
    assert second.status.failures == 2 and second.status.last_ok_at == first.status.last_ok_at
    assert pipeline.account_view() is not None  # last good data is still there
    sim.reset_faults()
    back = await pipeline.run("account")
    assert back.status.ok and back.status.failures == 0 and back.status.error == ""


async def test_invalid_key_is_reported_as_final(pipeline: Pipeline, sim: Simulator) -> None:
    sim.knobs.invalid_key = True
    u = await pipeline.run("ips")
    assert u.status.final and "Invalid_Key" in u.status.error


async def test_late_bounces_are_picked_up_by_the_rescan(
    pipeline: Pipeline, clock: ManualClock
) -> None:
    await pipeline.run("messages")
    now = clock()
    before = pipeline.store.ip_counts(now - timedelta(hours=24), now)
    deferred_before = sum(c.get("deferred", 0) for c in before.values())
    assert deferred_before > 0
    clock.advance(hours=3)  # deferrals resolve: soft-bounced or delivered
    u = await pipeline.run("rescan")
    assert u.status.ok
    assert any(e.state == "soft-bounced" for e in u.result.new_events)
    after = pipeline.store.ip_counts(now - timedelta(hours=24), now)
    assert sum(c.get("deferred", 0) for c in after.values()) < deferred_before


async def test_messages_cursor_resumes_after_a_restart(
    pipeline: Pipeline, sim: Simulator, clock: ManualClock
) -> None:
    await pipeline.run("messages")
    cursor = pipeline.store.get_cursor("messages")
    assert cursor is not None and cursor >= int(clock().timestamp()) - 1
    calls = sim.calls["messages/search"]
    clock.advance(seconds=30)
    await pipeline.run("messages")
    assert sim.calls["messages/search"] - calls == 1  # a small window, one call


def test_backoff_grows_and_is_capped(pipeline: Pipeline) -> None:
    jobs = Jobs(pipeline)
    jobs.cap = 100
    assert [jobs.backoff_delay(n, False, 60) for n in (1, 2, 3, 4, 5)] == [15, 30, 60, 100, 100]
    assert jobs.backoff_delay(1, False, 1) == 2  # never hammers, even with tiny intervals
    assert jobs.backoff_delay(1, True, 60) == 100  # a rejected key waits the cap


async def test_scheduler_backs_off_runs_now_and_shuts_down(
    pipeline: Pipeline, sim: Simulator
) -> None:
    poll = replace(
        pipeline.config.mandrill.poll,
        account=0.2,
        ips=600,
        messages=600,
        rescan=600,
        subaccounts=600,
        rejects=600,
        domains=600,
        jitter=0,
    )
    pipeline.config = replace(
        pipeline.config, mandrill=replace(pipeline.config.mandrill, poll=poll)
    )
    sim.knobs.error_rates = {"users/info": 1.0}
    jobs = Jobs(pipeline)
    jobs.start()
    try:
        await wait_for(lambda: pipeline.statuses["account"].failures >= 1)

        # interval 0.2 s, but after a failure the next run waits the 2 s minimum backoff;
        # measured as soon as the failure is seen, so a slow machine cannot eat the margin
        def seconds_to_next_run() -> float:
            assert jobs.scheduler is not None
            job = jobs.scheduler.get_job("account")
            assert job is not None
            until: timedelta = job.next_run_time - datetime.now(UTC)
            return until.total_seconds()

        await wait_for(lambda: seconds_to_next_run() > 1.0)
        await wait_for(lambda: pipeline.statuses["domains"].ok is True)
        ips_calls = sim.calls["ips/list"]
        jobs.run_now()
        await wait_for(lambda: sim.calls["ips/list"] > ips_calls)
    finally:
        await jobs.shutdown()
    assert not jobs.running
    await asyncio.sleep(0.2)  # a request already on the wire may still land
    total = sum(sim.calls.values())
    await asyncio.sleep(0.5)
    assert sum(sim.calls.values()) == total  # nothing fires after shutdown


async def test_retention_is_applied_by_the_message_poll(
    pipeline: Pipeline, clock: ManualClock
) -> None:
    await pipeline.run("messages")
    days = sorted(p.stem for p in (pipeline.store.dir / "days").glob("*.json"))
    assert days
    clock.advance(days=pipeline.store.retention_days + 2)
    await pipeline.run("messages")
    left = sorted(p.stem for p in (pipeline.store.dir / "days").glob("*.json"))
    assert not set(days) & set(left)


async def test_an_unexpected_error_is_a_status_too(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*a: object, **k: object) -> NoReturn:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline.store, "commit", broken)
    u = await pipeline.run("ips")
    assert u.status.ok is False
    assert u.status.error == "disk full: ips could not be stored (No space left on device)"
