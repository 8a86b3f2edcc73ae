"""The Gmail screen and the main screen's Gmail line, filled by a poll of the Postmaster
Tools simulator over HTTP: Gmail's days newest first (the unpublished ones say so),
Mandrill's side of the same UTC day, the sentence, the errors and the requirements; and
at 80×24 the main screen still fits with the line in it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import DataTable, Static

from console.checkreport import gmail_json
from console.config import PostmasterConfig
from console.sim import ManualClock, SimServer
from console.sim.postmaster import DEMO_DOMAIN, PostmasterServer, PostmasterSim, gmail_story
from console.sources.postmaster import PostmasterClient, load_credentials
from console.store import Store
from console.wire import parse_message
from tests.ui.conftest import make_app, settled
from widgets.bounces import BounceFeed
from widgets.gmail import GmailScreen
from widgets.reputation import ReputationPanel


@pytest.fixture
def gmail(clock: ManualClock) -> Iterator[PostmasterServer]:
    srv = PostmasterServer(PostmasterSim({DEMO_DOMAIN: gmail_story}, clock)).start()
    yield srv
    srv.stop()


def gmail_source(
    gmail: PostmasterServer, tmp_path: Path
) -> tuple[PostmasterClient, PostmasterConfig]:
    creds = tmp_path / "pm.json"
    creds.write_text(json.dumps(gmail.authorized_user()))
    client = PostmasterClient(gmail.base_url, load_credentials(creds, gmail.token_uri), timeout=5)
    return client, PostmasterConfig(credentials_file=str(creds), base_url=gmail.base_url)


def mandrill_day(store: Store, clock: ManualClock) -> None:
    """2,000 messages of the domain on the newest day Gmail published, one a complaint,
    read whole (the store reaches back before that day)."""
    day = clock().date() - timedelta(days=2)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    msgs = []
    for i in range(2000):
        t = int((start + timedelta(seconds=40 * i)).timestamp())
        m = parse_message({"_id": f"g{i}", "ts": t, "state": "spam" if i == 7 else "sent",
                           "email": f"u{i}@gmail.com", "sender": f"news@{DEMO_DOMAIN}",
                           "smtp_events": [{"ts": t, "type": "sent",
                                            "source_ip": "198.51.100.13"}]})  # fmt: skip
        assert m is not None
        msgs.append(m)
    store.ingest(msgs)
    store.set_cursor("messages_floor", int(start.timestamp()) - 3600)
    store.commit()


def cells(table: DataTable[Text], key: str) -> list[str]:
    return [c.plain for c in table.get_row(key)]


async def test_the_gmail_screen_sets_gmail_beside_mandrill(
    server: SimServer, store: Store, clock: ManualClock, gmail: PostmasterServer, tmp_path: Path
) -> None:
    mandrill_day(store, clock)
    app = make_app(server, store, clock, postmaster=gmail_source(gmail, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        day = clock().date() - timedelta(days=2)
        # the same figure as check --json's: the simulated account's own mail of that day
        # (it sends from the same domain) and the 2,000 added here
        [mine] = gmail_json(app.pipeline) or []
        m = mine["mandrill"]
        assert m["messages"] >= 2000 and m["complaints"] >= 1 and m["whole_day"]
        theirs = f"{m['complaint_rate']:.2%}"
        line = str(app.query_one("#rep-gmail", Static).content)
        assert line == f"Gmail {day:%m-%d} spam 0.46% Mandrill {theirs}"
        # the line's row comes out of the feed: the whole main screen still fits 24 rows
        assert app.query_one(ReputationPanel).has_class("with-gmail")
        assert app.screen.virtual_size.height <= 24
        assert app.query_one(BounceFeed).region.bottom <= 23
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GmailScreen)
        sentence = str(screen.query_one("#gmail-sentence", Static).content)
        assert sentence == (
            f"{day:%m-%d}: Gmail users marked 0.46% as spam; Mandrill saw {theirs} "
            "complaints — Gmail's feedback does not reach Mandrill"
        )
        table = screen.query_one("#gmail-days", DataTable)
        today = clock().date()
        assert cells(table, today.isoformat())[1] == "not yet"  # never 0
        assert cells(table, (today - timedelta(days=1)).isoformat())[1] == "not yet"
        got = cells(table, day.isoformat())[:4]
        assert got == [f"{day:%m-%d}", "0.46%", f"{theirs} of {m['messages']:,}", "99.8%"]
        # the day before holds no mail read: no figure, not 0
        assert cells(table, (day - timedelta(days=1)).isoformat())[2] == "—"
        errors = str(screen.query_one("#gmail-errors", Static).content)
        assert "low IP reputation 3.8%" in errors and "IP blocklisted 0.4%" in errors
        assert "that UTC day our mail left from" in errors and "198.51.100.13 (" in errors
        compliance = str(screen.query_one("#gmail-compliance", Static).content)
        assert "✗ one-click unsubscribe" in compliance and "✓ SPF " in compliance
        assert "NO_UNSUB_PROMO_SPAM_REPORTS" in compliance
        await pilot.press("escape")


async def test_without_postmaster_the_screen_says_how_to_set_it_up(
    server: SimServer, store: Store, clock: ManualClock
) -> None:
    app = make_app(server, store, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(app, pilot)
        assert not app.query_one("#rep-gmail", Static).display
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GmailScreen)
        note = str(screen.query_one("#gmail-note", Static).content)
        assert "not set up" in note and "credentials_file" in note
        assert screen.query_one("#gmail-days", DataTable).row_count == 0
