"""Shared fixtures: a scenario on a manual clock, the simulator over real HTTP, a store."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, Scenario, SimServer, Simulator, scenario_named
from console.sources.mandrill import MandrillClient
from console.store import Store

if TYPE_CHECKING:
    from console.sources.spamd import Spamd
    from tests.imap_servers import Dovecot

REQUIRE_SERVERS = os.environ.get("MAILOPS_REQUIRE_SERVERS") == "1"


def need_binary(name: str) -> str:
    """Path of a server binary; skip (or, in CI, fail) when it is missing."""
    path = shutil.which(name)
    if path is None:
        if REQUIRE_SERVERS:
            pytest.fail(f"{name} is required (MAILOPS_REQUIRE_SERVERS=1) but not installed")
        pytest.skip(f"{name} is not installed")
    return path


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # In CI a skipped server test hides a missing install step: make it visible as a failure.
    if REQUIRE_SERVERS and report.skipped and "servers" in report.keywords:
        report.outcome = "failed"


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config or writes their state."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("MAILOPS_CONFIG", raising=False)
    monkeypatch.delenv("MANDRILL_API_KEY", raising=False)


@pytest.fixture
def scenario() -> Scenario:
    return scenario_named("default")


@pytest.fixture
def clock(scenario: Scenario) -> ManualClock:
    return ManualClock(scenario.start + timedelta(hours=3))


@pytest.fixture
def sim(scenario: Scenario, clock: ManualClock) -> Simulator:
    return Simulator(scenario, clock)


@pytest.fixture
def server(sim: Simulator) -> Iterator[SimServer]:
    srv = SimServer(sim).start()
    yield srv
    srv.stop()


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[MandrillClient]:
    c = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=2.0, retries=2, sleep=_no_sleep)
    yield c
    await c.aclose()


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    s = Store(tmp_path / "state", clock=clock).open()
    yield s
    s.close()


@pytest.fixture(params=["nsd", "inprocess"])
def dns_port(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """The same zones served by NSD and by the in-process server: both must read alike."""
    from console.sim.dns_server import DnsServer, ZoneSet
    from tests.dns_servers import ZONES, nsd

    if request.param == "nsd":
        request.applymarker(pytest.mark.servers)
        path = shutil.which("nsd") or ("/usr/sbin/nsd" if Path("/usr/sbin/nsd").exists() else None)
        if path is None:
            need_binary("nsd")
        assert path is not None
        with nsd(path, tmp_path / "nsd") as port:
            yield port
    else:
        with DnsServer(ZoneSet.from_dir(ZONES)) as srv:
            yield srv.port


@pytest.fixture(scope="module")
def dovecot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    """One Dovecot per test module (it takes ~2.5 s to stop)."""
    from tests.imap_servers import dovecot

    path = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if path is None:
        need_binary("dovecot")
    assert path is not None
    base = Path("/tmp") / f"mailops-dovecot-{os.getpid()}"
    with dovecot(path, base / tmp_path_factory.mktemp("d").name) as server:
        yield server
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def spamd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Spamd]:
    """One spamd for the whole run (rules take about a second to load)."""
    from tests.spamd_servers import spamd

    path = shutil.which("spamd") or (
        "/usr/sbin/spamd" if Path("/usr/sbin/spamd").exists() else None
    )
    if path is None:
        need_binary("spamd")
    assert path is not None
    base = Path("/tmp") / f"mailops-spamd-{os.getpid()}"
    with spamd(path, base) as client:
        yield client
    shutil.rmtree(base, ignore_errors=True)
