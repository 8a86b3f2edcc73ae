"""What `check` and the status line say when a source fails: no figure shown as zero
when it was never read, no "see mailops.log" where there is no log, a full disk named."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import NoReturn

import pytest

from console import cli
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.sources.mandrill import MandrillClient
from console.store import Store
from tests.helpers import offline_config
from tests.ui.conftest import quiet_config


def test_after_invalid_key_no_count_reads_zero(
    server: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MANDRILL_API_KEY", "wrong-key")
    cfg = str(offline_config(tmp_path, server.base_url))
    assert cli.main(["check", "--config", cfg]) == 3
    out = capsys.readouterr().out
    assert "events (last 6 h): unknown, messages not read" in out and "hard 0" not in out
    assert cli.main(["check", "--json", "--config", cfg]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["events"] is None and report["status"] == "unknown"


async def test_a_full_disk_is_named_and_no_absent_log_is_pointed_at(
    server: SimServer, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "state", clock=clock).open()
    cfg = quiet_config(server.base_url, str(store.dir))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5.0, retries=0)
    p = Pipeline(client, store, cfg, clock=clock)

    def full(*a: object, **kw: object) -> NoReturn:
        raise OSError(errno.ENOSPC, "No space left on device", str(store.dir / "state.json"))

    monkeypatch.setattr(store, "commit", full)
    u = await p.run("account")
    assert u.status.error.startswith("disk full: account could not be stored")
    assert "No space left on device" in u.status.error and "mailops.log" not in u.status.error
    monkeypatch.setattr(store, "commit", lambda: (_ for _ in ()).throw(KeyError("x")))
    u = await p.run("account")
    assert u.status.error == "account poll failed unexpectedly (KeyError)"  # check: no log
    p.log_path = store.dir / "mailops.log"
    u = await p.run("account")
    assert u.status.error.endswith(f"; see {store.dir / 'mailops.log'}")
    await client.aclose()
    store.close()
