"""Small helpers shared by the test tiers."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


async def wait_for(pred: Callable[[], object], timeout: float = 30.0) -> None:
    """Wait for a condition the code under test will make true; never a blind sleep."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Ask a server to stop, wait for it (Dovecot takes ~2.5 s), and kill it if it won't."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def offline_config(tmp_path: Path, url: str, extra: str = "") -> Path:
    """A config for `mailops check` and friends: Mandrill at `url`, DNS only on loopback
    (port 9 answers nothing, quickly), the state under `tmp_path`."""
    path = tmp_path / "c.toml"
    path.write_text(
        f'[mandrill]\nbase_url = "{url}"\ntimeout = 5.0\n'
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n' + extra
    )
    path.chmod(0o600)
    return path
