"""Damaged state as the user meets it: `check` names the damage (and says unknown, not
empty), the console opens with a banner saying what was set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Static

from console import cli
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.store import Store
from tests.helpers import offline_config
from tests.ui.conftest import make_app, settled


def test_check_reports_a_damaged_dmarc_json_as_unknown(
    server: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "dmarc.json").write_text('{"reports": {"1": {"k": "google|1", "end": 17')  # cut
    monkeypatch.setenv("MANDRILL_API_KEY", DEMO_KEY)
    cli.main(["check", "--json", "--config", str(offline_config(tmp_path, server.base_url))])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["dmarc"] is None  # unknown, never "no reports"
    assert any("DMARC reports unreadable" in w for w in report["state_warnings"])
    assert any(f["text"].startswith("state: DMARC reports unreadable") for f in report["findings"])
    assert report["status"] != "ok"
    assert "warning: state: DMARC reports unreadable" in captured.err


def test_check_reports_wrong_shaped_records(
    server: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "dmarc.json").write_text('{"reports": {"1": {"k": "g|1", "end": "x", "data": 1}}}')
    monkeypatch.setenv("MANDRILL_API_KEY", DEMO_KEY)
    cli.main(["check", "--json", "--config", str(offline_config(tmp_path, server.base_url))])
    report = json.loads(capsys.readouterr().out)
    assert report["dmarc"] == []
    assert "1 record(s) of table 'reports' had the wrong shape" in report["state_warnings"][0]


async def test_the_console_opens_on_damaged_state_and_says_so(
    server: SimServer, clock: ManualClock, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(json.dumps({"meta": [], "snapshots": {"1": "junk"}}))
    store = Store(state, clock=clock).open()
    try:
        app = make_app(server, store, clock)
        async with app.run_test(size=(120, 40)) as pilot:
            await settled(app, pilot)
            banner = str(app.query_one("#banner", Static).content)
            assert "State file state.json" in banner and "copied aside" in banner
            assert app.pipeline.statuses["account"].ok  # and it polls as usual
    finally:
        store.close()
