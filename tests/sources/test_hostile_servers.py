"""Hostile HTTP answers on loopback: endless, huge and trickling bodies never cost more than
their cap and their deadline, in the client, in a poll, in `mailops check` and in the
console, each run as a real process under an address-space limit."""

from __future__ import annotations

import os
import pty
import re
import resource
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sources.base import SourceError
from console.sources.mandrill import MandrillClient, MandrillError
from console.sources.notify import post_webhook
from console.store import Store

#: The stated bound on `mailops check` and on the console (README, robustness): the
#: address space each may use at all, far below what any hostile answer would take.
CHECK_BOUND_MB = 512
CONSOLE_BOUND_MB = 768
MODES = ("endless", "huge", "undeclared", "trickle", "deep")


async def no_sleep(_: float) -> None:
    return None


@pytest.mark.parametrize("mode", MODES)
async def test_client_stops_every_hostile_body_and_the_next_call_works(
    server: SimServer, sim: Simulator, mode: str
) -> None:
    sim.knobs.body_faults = {"rejects/list": mode}
    sim.knobs.trickle_seconds = 0.5
    c = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=2.0, retries=0, sleep=no_sleep)
    started = time.monotonic()
    with pytest.raises(MandrillError) as exc:
        await c.rejects_list()
    took = time.monotonic() - started
    expected = {
        "endless": "sent more than 16 MB for rejects/list",
        "huge": "said it would send more than 16 MB for rejects/list",
        "undeclared": "sent more than 16 MB for rejects/list",
        "trickle": "did not answer rejects/list within 2s",
        "deep": "malformed answer to rejects/list",
    }[mode]
    assert expected in exc.value.title
    assert took < 4.0  # the deadline is the whole exchange, not each read
    assert (await c.users_info()).username  # the other endpoints still answer
    await c.aclose()


async def test_a_cap_raised_in_config_lets_a_big_answer_through(
    server: SimServer, sim: Simulator
) -> None:
    sim.knobs.body_faults = {"rejects/list": "huge"}
    sim.knobs.huge_bytes = 2 * 1024 * 1024
    small = MandrillClient(
        server.base_url, Secret(DEMO_KEY), retries=0, response_limits_mb={"rejects/list": 1}
    )
    with pytest.raises(MandrillError, match=r"more than 1 MB .*response_limits_mb"):
        await small.rejects_list()
    await small.aclose()
    big = MandrillClient(
        server.base_url, Secret(DEMO_KEY), retries=0, response_limits_mb={"rejects/list": 4}
    )
    assert await big.rejects_list() == []  # read whole: an array of strings, none a reject
    await big.aclose()


async def test_a_webhook_answering_for_ever_is_cut_at_the_deadline() -> None:
    """The notification webhook: only its status matters; an endless or trickling body
    neither fills memory nor holds the notifier past its timeout."""

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    transport = httpx.MockTransport(handler)
    orig = httpx.AsyncClient.__init__

    def patched(self: httpx.AsyncClient, *a: Any, **kw: Any) -> None:
        kw["transport"] = transport
        orig(self, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(httpx.AsyncClient, "__init__", patched)
    try:
        started = time.monotonic()
        await post_webhook("https://hooks.example/x", {"a": 1}, timeout=1.0, sleep=no_sleep)
        assert time.monotonic() - started < 2.0  # the status came first; the body was let go
    finally:
        mp.undo()


async def test_a_trickling_webhook_fails_at_its_deadline(tmp_path: Path) -> None:
    import socket
    import threading

    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    stop = threading.Event()

    def serve() -> None:
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                continue
            try:
                conn.recv(65536)
                for ch in b"HTTP/1.1 200 OK\r\n":
                    if stop.is_set():
                        break
                    conn.sendall(bytes([ch]))
                    time.sleep(0.3)
            except OSError:
                pass
            finally:
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        started = time.monotonic()
        with pytest.raises(SourceError, match="did not answer within 1s"):
            await post_webhook(
                f"http://127.0.0.1:{lsock.getsockname()[1]}/hook",
                {"a": 1},
                timeout=1.0,
                tries=2,
                sleep=no_sleep,
            )
        assert time.monotonic() - started < 3.5
    finally:
        stop.set()
        t.join(2)
        lsock.close()


# -- whole processes under a resource limit --------------------------------------------------


def _limit(mb: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))

    return apply


@pytest.fixture
def hostile(sim: Simulator, tmp_path: Path) -> Iterator[tuple[SimServer, Path]]:
    srv = SimServer(sim).start()
    key = tmp_path / "key"
    key.write_text(DEMO_KEY)
    key.chmod(0o600)
    cfg = tmp_path / "mailops.toml"
    cfg.write_text(
        f'[mandrill]\nbase_url = "{srv.base_url}"\napi_key_file = "{key}"\ntimeout = 3.0\n'
        "retries = 0\n"
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    cfg.chmod(0o600)
    yield srv, cfg
    srv.stop()


@pytest.mark.parametrize("mode", MODES)
def test_check_stays_under_its_bound_against_each_hostile_mode(
    hostile: tuple[SimServer, Path], sim: Simulator, mode: str
) -> None:
    _, cfg = hostile
    sim.knobs.body_faults = {"messages/search": mode, "rejects/list": mode}
    sim.knobs.trickle_seconds = 1.0
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "console", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit(CHECK_BOUND_MB),
    )
    assert res.returncode == 3, (res.returncode, res.stderr[-2000:])  # never killed, never 0
    assert "Traceback" not in res.stderr and "MemoryError" not in res.stderr
    assert re.search(r"check failed: (messages|rejects): Mandrill", res.stderr), res.stderr
    assert time.monotonic() - started < 60


def _console_until(cmd: list[str], log: Path, want: str, limit_mb: int, timeout: float) -> int:
    """Run the console in a pseudo-terminal under a memory limit until its log says `want`,
    then quit it with `q`; its exit status (or -signal)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: limit, then become the console
        _limit(limit_mb)()
        os.execv(sys.executable, [sys.executable, *cmd])
    os.set_blocking(fd, False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    os.read(fd, 1 << 16)
                except OSError:
                    break
            if log.exists() and want in log.read_text(errors="replace"):
                break
        os.write(fd, b"q")
        end = time.monotonic() + 15
        while time.monotonic() < end:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            select.select([fd], [], [], 0.2)
            try:
                os.read(fd, 1 << 16)
            except OSError:
                pass
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return -9
    finally:
        os.close(fd)


@pytest.mark.parametrize("mode", MODES)
def test_the_console_stays_under_its_bound_and_keeps_polling(
    hostile: tuple[SimServer, Path], sim: Simulator, tmp_path: Path, mode: str
) -> None:
    _, cfg = hostile
    sim.knobs.body_faults = {"messages/search": mode, "rejects/list": mode}
    sim.knobs.trickle_seconds = 1.0
    log = tmp_path / "state" / "mailops.log"
    code = _console_until(
        ["-m", "console", "--config", str(cfg)], log, " poll failed: ", CONSOLE_BOUND_MB, 60
    )
    text = log.read_text(errors="replace")
    said = {
        "endless": "sent more than 16 MB for",
        "huge": "said it would send more than 16 MB for",
        "undeclared": "sent more than 16 MB for",
        "trickle": "did not answer rejects/list within 3s",
        "deep": "malformed answer to",
    }[mode]
    assert said in text, text[-2000:]
    assert "MemoryError" not in text and "crashed" not in text
    assert code == 0  # it quit when asked: the failing poll took nothing else down
    assert sim.calls["users/info"] >= 1 and sim.calls["ips/list"] >= 1


async def test_each_poll_has_a_deadline_of_its_own(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    """A source slower than any single timeout (here: a per-request timeout of 30 s and a
    server trickling its answer) is stopped by the poll's own deadline; the next poll of
    another source runs as usual."""
    from dataclasses import replace

    from console.jobs import Pipeline
    from tests.ui.conftest import quiet_config

    cfg = quiet_config(server.base_url, str(store.dir))
    poll = replace(cfg.mandrill.poll, deadline=1.0)
    cfg = replace(cfg, mandrill=replace(cfg.mandrill, poll=poll))
    sim.knobs.body_faults = {"users/info": "trickle"}
    sim.knobs.trickle_seconds = 0.2
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=30.0, retries=0)
    p = Pipeline(client, store, cfg, clock=clock)
    started = time.monotonic()
    u = await p.run("account")
    assert time.monotonic() - started < 2.0
    assert u.status.ok is False
    assert u.status.error == "account poll took longer than its 1 s deadline; stopped"
    assert (await p.run("ips")).status.ok
    assert p.poll_deadline("seeds") == 1.0 + cfg.seed_test.wait_minutes * 60
    await client.aclose()
