"""The seed placement screen and the confirmed seed test, as a user drives them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.app import MailopsApp, build_app
from console.cli import DEMO_SEEDS
from console.jobs import Pipeline
from console.model import SeedResult, SeedRun
from console.secret import Secret
from console.seeding import Seed
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sim.mailboxes import MemoryMailboxes
from console.sources.mandrill import MandrillClient
from console.store import Store
from tests.helpers import wait_for
from tests.imap_servers import Dovecot
from tests.ui.conftest import SnapCompare, quiet_config, utc
from widgets.confirm import ConfirmScreen
from widgets.seeds import SeedScreen
from widgets.status import StatusLine

SIZE = (120, 40)


class TickingClock(ManualClock):
    def __call__(self) -> datetime:
        return self.advance(seconds=20)


def seed_app(
    server: SimServer,
    sim: Simulator,
    store: Store,
    clock: ManualClock,
    *,
    seeds: bool = True,
    start_jobs: bool = True,
) -> MailopsApp:
    cfg = quiet_config(server.base_url, str(store.dir))
    cfg = replace(cfg, seed_test=replace(cfg.seed_test, poll_seconds=0.05, run_at_start=False))
    boxes = MemoryMailboxes(clock)
    sim.deliver = boxes.deliver
    found = [Seed(n, a, boxes.box(a, p)) for n, a, p in DEMO_SEEDS] if seeds else []
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5.0, retries=0)
    pipeline = Pipeline(client, store, cfg, clock=clock, seeds=found)
    return build_app(cfg, pipeline, local_time=utc, start_jobs=start_jobs)


def rows(table: DataTable[Text]) -> list[list[str]]:
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_s_asks_first_then_runs_and_the_screen_fills(
    server: SimServer, sim: Simulator, store: Store
) -> None:
    clock = TickingClock(sim.scenario.start + timedelta(hours=3))
    sim.clock = clock
    app = seed_app(server, sim, store, clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.pipeline.statuses["account"].ok is not None)
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, SeedScreen)
        head = str(app.screen.query_one("#seed-head", Static).content)
        assert "6 seed mailboxes · no run yet" in head
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        body = str(app.screen.query_one("#confirm-body", Static).content)
        assert "6 messages will be sent through Mandrill" in body and "gmail-4" in body
        await pilot.press("enter")  # focus starts on "No": Enter on an unread dialog sends nothing
        await pilot.pause()
        assert isinstance(app.screen, SeedScreen) and sim.calls["messages/send"] == 0
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(lambda: app.pipeline.statuses["seeds"].ok is not None)
        await pilot.pause()
        await pilot.pause()
        assert app.pipeline.statuses["seeds"].ok, app.pipeline.statuses["seeds"].error
        assert sim.calls["messages/send"] == 6
        screen = app.screen
        assert isinstance(screen, SeedScreen)
        providers = rows(screen.query_one("#seed-providers", DataTable))
        assert [r[0] for r in providers] == ["gmail", "outlook", "yahoo"]
        assert providers[0][5:8] == ["pass", "pass", "pass"]
        seeds = rows(screen.query_one("#seed-results", DataTable))
        assert {r[0] for r in seeds} == {n for n, _, _ in DEMO_SEEDS}
        assert all(r[1] in ("inbox", "spam", "missing") for r in seeds)
        assert "last run" in str(screen.query_one("#seed-head", Static).content)
        assert not screen.query_one("#seed-progress", Static).display
        assert "seed test" not in app.query_one(StatusLine).render_text().plain


async def test_without_seeds_s_says_how_to_add_them(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    app = seed_app(server, sim, store, clock, seeds=False, start_jobs=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("No seed mailboxes configured" in str(n.message) for n in app._notifications)
        assert "seeds" not in app.pipeline.statuses


def hostile_run(at: datetime) -> SeedRun:
    evil = "[bold red]PWNED[/bold red]\x1b]0;owned\x07\u202e"
    results = (
        SeedResult(
            "gmail-1", "gmail", "seed@gmail.test", "t1", "spam", at,
            folder=f"Junk{evil}", auth={"spf": "pass", "dkim": f"fail{evil}", "dmarc": "pass"},
            source_ip="198.51.100.13", received_ip="198.51.100.13", delay_s=42.0,
        ),
        SeedResult(
            "gmail-2", "gmail", "seed2@gmail.test", "t2", "inbox", at, folder="INBOX",
            auth={"spf": "pass", "dkim": "pass", "dmarc": "pass"}, source_ip="203.0.113.25",
        ),
        SeedResult(
            "yahoo-1", "yahoo", "y@yahoo.test", "t3", "error", at,
            error=f"IMAP login failed {evil}",
        ),
    )  # fmt: skip
    return SeedRun("r1", at, results, at + timedelta(minutes=2))


async def test_stored_runs_show_at_once_with_outside_text_literal(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    store.add_seed_run(hostile_run(clock()))
    store.commit()
    app = seed_app(server, sim, store, clock, start_jobs=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()  # the stored state is painted right after the first frame
        notes = str(app.query_one("#ip-notes", Static).content)
        assert "gmail spam-foldered 1 of 2, all through 198.51.100.13" in notes
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        seeds = rows(screen.query_one("#seed-results", DataTable))
        text = " ".join(" ".join(r) for r in seeds)
        findings = str(screen.query_one("#seed-findings", Static).content)
        for shown in (text, findings):
            assert "\x1b" not in shown and "\u202e" not in shown
        assert "[bold red]PWNED" in findings and "\\x1b]0;owned\\x07" in findings
        assert seeds[0][1] == "spam" and seeds[2][1] == "error"
        assert seeds[2][6].startswith("IMAP login failed")
        svg = app.export_screenshot()
        assert "\x1b" not in svg
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SeedScreen)


def test_seed_screen_snapshot(
    snap_compare: SnapCompare, server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    """The placement screen with a stored history of runs (frozen clock, no jobs)."""
    start = clock() - timedelta(days=14)
    for day in range(14):
        run = hostile_run(start + timedelta(days=day))
        results = tuple(
            replace(r, placement="inbox", folder="INBOX", auth={"spf": "pass", "dkim": "pass",
                    "dmarc": "pass"}, error="")
            if day % 5 and r.seed != "yahoo-1" else r
            for r in run.results
        )  # fmt: skip
        store.add_seed_run(replace(run, results=results, run_id=f"r{day}"))
    store.commit()

    async def open_seeds(pilot: Pilot[None]) -> None:
        await pilot.press("p")
        await asyncio.sleep(0)

    app = seed_app(server, sim, store, clock, start_jobs=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=open_seeds)


@pytest.mark.servers
async def test_a_seed_test_through_dovecot_is_shown(
    dovecot_server: Dovecot, server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    """Send through the simulator, APPEND into Dovecot, find over IMAP, show on screen."""

    from console.sources.imap import SeedMailbox
    from tests.imap_servers import PASSWORD, USER, deliver_to

    sim.deliver = deliver_to(dovecot_server)
    # every shared IP is the noisy one: a Gmail seed is spam-foldered unless the dedicated
    # IP carried it
    sim.scenario = replace(
        sim.scenario, noisy_ip=sim.scenario.shared_ips[0], shared_ips=(sim.scenario.shared_ips[0],)
    )

    def box(provider: str, tls: bool) -> SeedMailbox:
        return SeedMailbox(
            f"{provider}-1",
            provider,
            "127.0.0.1",
            dovecot_server.tls_port if tls else dovecot_server.plain_port,
            USER,
            Secret(PASSWORD),
            "tls" if tls else "none",
            ca_file=dovecot_server.ca_file if tls else None,
            timeout=10.0,
        )

    seeds = [
        Seed("gmail-1", f"{USER}@gmail.test", box("gmail", tls=True)),
        Seed("outlook-1", f"{USER}@outlook.test", box("outlook", tls=False)),
    ]
    cfg = quiet_config(server.base_url, str(store.dir))
    cfg = replace(cfg, seed_test=replace(cfg.seed_test, wait_minutes=1, poll_seconds=0.2))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5.0, retries=0)
    app = build_app(
        cfg, Pipeline(client, store, cfg, clock=clock, seeds=seeds), local_time=utc,
        start_jobs=False,
    )  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p", "s")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(lambda: app.pipeline.statuses["seeds"].ok is not None)
        await pilot.pause()
        assert app.pipeline.statuses["seeds"].ok, app.pipeline.statuses["seeds"].error
        shown = {r[0]: r for r in rows(app.screen.query_one("#seed-results", DataTable))}
        run = app.pipeline.seed_view()[-1]
        for r in run.results:
            row = shown[r.seed]
            assert row[1] == r.placement and row[4] == r.source_ip and row[3] == "pass/pass/pass"
            expect_spam = r.provider == "gmail" and r.source_ip == sim.scenario.noisy_ip
            assert (r.placement == "spam") == expect_spam
            assert row[2] == ("Junk" if expect_spam else "INBOX")
