"""Seed tests as the console and the command line run them: pipeline, schedule, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from console import cli
from console.cli import DEMO_SEEDS, demo_config
from console.jobs import Jobs, Pipeline
from console.secret import Secret
from console.seeding import Seed
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sim.mailboxes import MemoryMailboxes
from console.sources.mandrill import MandrillClient
from console.store import Store
from console.updates import Update
from tests.helpers import wait_for
from tests.imap_servers import PASSWORD, USER, Dovecot, deliver_to


class TickingClock(ManualClock):
    """Scenario time that moves 20 s each time it is read, so arrival delays pass quickly."""

    def __call__(self) -> datetime:
        return self.advance(seconds=20)


def demo_pipeline(server: SimServer, sim: Simulator, store: Store, clock: ManualClock) -> Pipeline:
    mailboxes = MemoryMailboxes(clock)
    sim.deliver = mailboxes.deliver
    seeds = [Seed(n, a, mailboxes.box(a, p)) for n, a, p in DEMO_SEEDS]
    cfg = demo_config(server.base_url, str(store.dir))
    cfg = replace(cfg, seed_test=replace(cfg.seed_test, poll_seconds=0.02))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5, retries=0)
    return Pipeline(client, store, cfg, clock=clock, seeds=seeds)


@pytest.fixture
def ticking(sim: Simulator) -> TickingClock:
    clock = TickingClock(sim.scenario.start + timedelta(hours=3))
    sim.clock = clock
    return clock


async def test_a_demo_seed_run_is_stored_and_shows_the_noisy_ip(
    server: SimServer, sim: Simulator, tmp_path: Path, ticking: TickingClock
) -> None:
    store = Store(tmp_path / "state", clock=ticking).open()
    pipeline = demo_pipeline(server, sim, store, ticking)
    published: list[Update] = []
    pipeline.publish = published.append
    try:
        for _ in range(4):  # four runs: with six seeds each, the noisy IP carries some Gmail mail
            u = await pipeline.run("seeds")
            assert u.status.ok, u.status.error
    finally:
        await pipeline.client.aclose()
        store.close()
    progress = [u.result.seed_progress for u in published if u.result.seed_progress]
    assert progress[0].found == 0 and progress[0].total == len(DEMO_SEEDS)
    final = [u for u in published if u.result.seed_runs is not None]
    assert final and final[-1].result.seed_runs is not None
    assert len(final) == 4 and len(final[-1].result.seed_runs) == 4
    results = [r for run in final[-1].result.seed_runs for r in run.results]
    noisy = sim.scenario.noisy_ip
    for r in results:
        assert r.placement in ("inbox", "spam", "missing"), r
        if r.placement == "missing":
            assert r.provider == "yahoo"  # Yahoo's bulk queue sometimes holds mail past the wait
            continue
        assert r.source_ip == r.received_ip and r.auth["dkim"] == "pass"
        assert (r.placement == "spam") == (r.provider == "gmail" and r.source_ip == noisy)
    assert any(r.placement == "spam" for r in results), "the demo must show the noisy IP's effect"


async def test_seed_tests_run_on_their_schedule_and_never_on_refresh(
    server: SimServer, sim: Simulator, store: Store, ticking: TickingClock
) -> None:
    pipeline = demo_pipeline(server, sim, store, ticking)
    pipeline.config = replace(
        pipeline.config,
        seed_test=replace(pipeline.config.seed_test, schedule="every 1h", run_at_start=False),
    )
    jobs = Jobs(pipeline)
    jobs.start()
    try:
        assert jobs.scheduler is not None
        job = jobs.scheduler.get_job("seeds")
        assert job is not None
        in_secs = (job.next_run_time - datetime.now(UTC)).total_seconds()
        assert 3500 < in_secs <= 3600
        jobs.run_now()  # `r`: every poll now, but no mail is sent
        assert (jobs.scheduler.get_job("seeds").next_run_time - datetime.now(UTC)).seconds > 3500
        assert jobs.start_seed_test() is True
        assert jobs.seed_busy and jobs.start_seed_test() is False  # one at a time
        await wait_for(lambda: pipeline.statuses["seeds"].ok is not None)
        assert pipeline.statuses["seeds"].ok, pipeline.statuses["seeds"].error
        await wait_for(lambda: not jobs.seed_busy)
    finally:
        await jobs.shutdown()
        await pipeline.client.aclose()


async def test_daily_schedule_and_off(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    pipeline = demo_pipeline(server, sim, store, clock)
    for schedule, start, expect in (("06:00", False, True), ("off", False, False)):
        pipeline.config = replace(
            pipeline.config,
            seed_test=replace(pipeline.config.seed_test, schedule=schedule, run_at_start=start),
        )
        jobs = Jobs(pipeline)
        jobs.start()
        try:
            assert jobs.scheduler is not None
            job = jobs.scheduler.get_job("seeds")
            assert (job is not None) == expect
            if job is not None:
                local = job.next_run_time.astimezone(job.trigger.timezone)
                assert (local.hour, local.minute) == (6, 0)
        finally:
            await jobs.shutdown()
    await pipeline.client.aclose()


@pytest.fixture
def pipeline_without_seeds(server: SimServer, store: Store, clock: ManualClock) -> Pipeline:
    cfg = demo_config(server.base_url, str(store.dir))
    return Pipeline(MandrillClient(server.base_url, Secret(DEMO_KEY)), store, cfg, clock=clock)


# -- the command line, end to end through Dovecot ------------------------------------------


class _ImapPort(Protocol):
    """All the config needs of a Dovecot: its plaintext port."""

    @property
    def plain_port(self) -> int: ...


def _seed_config(tmp_path: Path, base_url: str, dovecot: _ImapPort) -> Path:
    seeds = ""
    for name, provider, address in (
        ("gmail-1", "gmail", f"{USER}@gmail.test"),
        ("outlook-1", "outlook", f"{USER}@outlook.test"),
        ("yahoo-1", "yahoo", "gone@yahoo.test"),
    ):
        seeds += (
            f'[[seeds]]\nname = "{name}"\nprovider = "{provider}"\naddress = "{address}"\n'
            f'imap_host = "127.0.0.1"\nimap_port = {dovecot.plain_port}\nimap_security = "none"\n'
            f'username = "{USER}"\npassword_env = "SEED_PW"\n'
        )
    path = tmp_path / "mailops.toml"
    path.write_text(
        f'[mandrill]\nbase_url = "{base_url}"\ntimeout = 10.0\n'
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        '[seed_test]\nfrom_email = "seeds@notify.northwind.example"\n'
        'wait_minutes = 0.5\npoll_seconds = 1\nafter_found = "delete"\n' + seeds
    )
    return path


@pytest.mark.servers
def test_seed_test_command_and_check_end_to_end(
    dovecot_server: Dovecot,
    server: SimServer,
    sim: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim.deliver = deliver_to(dovecot_server)
    sim.denylist = {"gone@yahoo.test"}
    path = _seed_config(tmp_path, server.base_url, dovecot_server)
    monkeypatch.setenv("MANDRILL_API_KEY", DEMO_KEY)
    monkeypatch.setenv("SEED_PW", PASSWORD)

    code = cli.main(["seed-test", "--json", "--config", str(path)])
    out = json.loads(capsys.readouterr().out)
    assert out["stored"] is True
    by = {s["seed"]: s for s in out["seeds"]}
    assert by["yahoo-1"]["placement"] == "rejected" and "hard-bounce" in by["yahoo-1"]["error"]
    assert by["yahoo-1"]["mandrill_status"] == "rejected"
    assert by["gmail-1"]["mandrill_status"] == "sent" and len(by["gmail-1"]["message_id"]) == 32
    for name in ("gmail-1", "outlook-1"):
        s = by[name]
        assert s["placement"] in ("inbox", "spam") and s["folder"] in ("INBOX", "Junk")
        assert s["auth"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
        assert s["source_ip"] and s["delay_s"] is not None and s["run_at"]
    placements = [s["placement"] for s in out["seeds"]]
    bad = sum(p in ("spam", "rejected") for p in placements)
    assert code == (2 if bad * 2 >= 3 else 1)

    # the table form, and `check` reporting the stored run
    assert cli.main(["seed-test", "--config", str(path)]) in (1, 2)
    table = capsys.readouterr().out
    assert "placement" in table and "rejected" in table and "↳ Mandrill: hard-bounce" in table
    code = cli.main(["check", "--json", "--config", str(path)])
    report = json.loads(capsys.readouterr().out)
    # a Mandrill reject of a seed is critical (3 instead when a source could not be read)
    assert (code, report["status"]) in ((2, "critical"), (3, "unknown"))
    assert {s["seed"] for s in report["seeds"]} == {"gmail-1", "outlook-1", "yahoo-1"}
    assert any("Mandrill rejected yahoo-1" in f["text"] for f in report["findings"])


def test_seed_test_without_seeds_or_password_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mandrill]\n")
    monkeypatch.setenv("MANDRILL_API_KEY", "k")
    assert cli.main(["seed-test", "--config", str(path)]) == 3
    assert "no [[seeds]] configured" in capsys.readouterr().err

    class D:
        plain_port = 1

    path = _seed_config(tmp_path, "http://127.0.0.1:1/api/1.0", D)
    monkeypatch.delenv("SEED_PW", raising=False)
    assert cli.main(["seed-test", "--config", str(path)]) == 3
    assert "No IMAP password for seed gmail-1: set $SEED_PW" in capsys.readouterr().err


async def test_no_seeds_configured_is_a_status_not_a_crash(
    pipeline_without_seeds: Pipeline,
) -> None:
    u = await pipeline_without_seeds.run("seeds")
    assert u.status.ok is False and "No seed mailboxes configured" in u.status.error
    await pipeline_without_seeds.client.aclose()
