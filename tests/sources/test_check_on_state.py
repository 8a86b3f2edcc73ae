"""`check` judges the console's own state dir, opened read-only: the messages the console
stored count, what `check` reads since is added in memory, and not a byte is written,
whether or not a console holds the dir."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console import cli
from console.config import load_config
from console.secret import Secret
from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named
from tests.helpers import offline_config


def _check(cfg: Path) -> dict[str, Any]:
    res = subprocess.run(
        [sys.executable, "-m", "console", "check", "--json", "--config", str(cfg)],
        capture_output=True, text=True, timeout=120,
        env={"MANDRILL_API_KEY": DEMO_KEY, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert res.stdout, res.stderr
    report: dict[str, Any] = json.loads(res.stdout)
    return report


def _tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under `root`, its mtime and a hash of its bytes, but for the search
    allowance the console and `check` share (counting there is the point of it)."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "search-budget"
    }


async def test_check_counts_what_the_console_stored_and_writes_nothing(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    sc = scenario_named("quiet", start=now - timedelta(hours=30))
    with SimServer(Simulator(sc, ScenarioClock(now))) as srv:
        cfg_path = offline_config(tmp_path, srv.base_url)
        config = load_config(str(cfg_path))
        # the console: reads 30 h of mail into the state dir, and keeps holding it
        store, _ = cli.open_console_store(config)
        assert not store.read_only
        pipeline = cli.make_pipeline(config, Secret(DEMO_KEY), store, backfill_hours=30, seeds=())
        await pipeline.run("subaccounts")
        update = await pipeline.run("messages")
        assert update.status.ok and not update.status.partial
        stored = sum(r.messages for r in pipeline.subaccount_view())
        assert stored > 0
        await pipeline.client.aclose()
        before = _tree(store.dir)
        try:
            report = _check(cfg_path)
            again = _check(cfg_path)
        finally:
            store.close()
    assert _tree(tmp_path / "state") == before  # nothing written, nothing moved
    assert (tmp_path / "state" / "search-budget").exists()  # the allowance was shared
    counted = report["counted"]
    assert counted["ips"]["whole"] is True and counted["ips"]["text"] == "24 h"
    assert counted["subaccounts"]["text"] == "last 30 h of 7 d"  # the console's 30 h, not 6
    read = sum(s["messages_read"] for s in report["subaccounts"])
    assert read >= stored  # the stored mail, plus any sent since the console's read
    assert report["messages_complete"] is True
    assert counted["events"]["period"] == "6 h" and report["window_hours"] == 6
    # a second run starts from the same files: it does not build on the first one's reads
    assert again["counted"]["subaccounts"]["text"] == "last 30 h of 7 d"


def test_check_on_a_state_dir_that_does_not_exist_adds_only_the_allowance(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    sc = scenario_named("quiet", start=now - timedelta(hours=3))
    with SimServer(Simulator(sc, ScenarioClock(now))) as srv:
        report = _check(offline_config(tmp_path, srv.base_url))
    assert report["status"] in {"ok", "warning", "critical"}
    assert report["counted"]["ips"]["text"] == "last 6 h of 24 h"  # only the check window
    # no state of its own: only the search allowance a console started later shares
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["search-budget"]
