from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict, Unpack

import pytest
from textual.app import App
from textual.pilot import Pilot

from console.app import MailopsApp, build_app
from console.cli import demo_config
from console.config import Config, PostmasterConfig
from console.jobs import Pipeline
from console.registry import interval_sources
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.sources.dns import DnsClient
from console.sources.mandrill import MandrillClient
from console.sources.postmaster import PostmasterClient
from console.store import Store
from console.timeutil import Clock
from tests.helpers import wait_for


class SnapCompare(Protocol):
    """The `snap_compare` fixture of pytest-textual-snapshot, as these tests call it (the
    plugin's own annotation of it leaves out every argument but the app)."""

    def __call__(
        self,
        app: App[Any],
        *,
        terminal_size: tuple[int, int] = ...,
        run_before: Callable[[Pilot[Any]], Awaitable[None] | None] | None = None,
    ) -> bool: ...


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def quiet_config(base_url: str, state_dir: str, dns_port: int | None = None) -> Config:
    """Polls fire once at start (and on `r`), never on their own during a test."""
    cfg = demo_config(base_url, state_dir, dns_port)
    quiet = dict.fromkeys(interval_sources(), 600.0)  # every source, from the registry
    poll = replace(cfg.mandrill.poll, **quiet, jitter=0, backoff_cap=600)
    return replace(cfg, mandrill=replace(cfg.mandrill, poll=poll, timeout=5.0, retries=0))


class AppOptions(TypedDict, total=False):
    """What `make_app` passes on to `build_app` as it is."""

    wall: Clock
    subtitle: str
    start_jobs: bool
    story_clock: Clock | None


def make_app(
    server: SimServer,
    store: Store,
    clock: ManualClock,
    key: str = DEMO_KEY,
    dns_port: int | None = None,
    postmaster: tuple[PostmasterClient, PostmasterConfig] | None = None,
    **kw: Unpack[AppOptions],
) -> MailopsApp:
    cfg = quiet_config(server.base_url, str(store.dir), dns_port)
    if postmaster is not None:
        cfg = replace(cfg, postmaster=postmaster[1])
    client = MandrillClient(server.base_url, Secret(key), timeout=5.0, retries=0)
    dns = None
    if dns_port is not None:
        dns = DnsClient(["127.0.0.1"], port=dns_port, timeout=0.5, deadline=2.0)
    pm = postmaster[0] if postmaster else None
    pipeline = Pipeline(client, store, cfg, clock=clock, dns=dns, postmaster=pm)
    return build_app(cfg, pipeline, local_time=utc, **kw)


async def settled(app: MailopsApp, pilot: Pilot[None]) -> None:
    """Wait until every source has answered once (well or badly) and the UI caught up."""
    await wait_for(lambda: all(st.ok is not None for st in app.pipeline.statuses.values()))
    await wait_for(lambda: not app.feed.reading)
    await pilot.pause()
    await pilot.pause()


@pytest.fixture
def app(server: SimServer, store: Store, clock: ManualClock) -> MailopsApp:
    return make_app(server, store, clock)
