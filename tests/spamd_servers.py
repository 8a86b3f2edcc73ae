"""spamd on loopback for the content tests: local rules only (-L), no network tests."""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console.sources.spamd import Spamd, SpamdError
from tests.helpers import free_port, stop_process


@contextmanager
def spamd(path: str, workdir: Path) -> Iterator[Spamd]:
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    user: list[str] = []
    if os.geteuid() == 0:  # spamd refuses to run its children as root
        try:
            pw = pwd.getpwnam("debian-spamd")
            os.chown(home, pw.pw_uid, pw.pw_gid)
            user = ["-u", "debian-spamd"]
        except KeyError:
            user = ["-u", "nobody"]
            os.chmod(home, 0o777)
    port = free_port()
    log = open(workdir / "spamd.log", "wb")
    proc = subprocess.Popen(
        [
            path,
            "-L",
            "-x",
            f"--listen=127.0.0.1:{port}",
            "--allowed-ips=127.0.0.1",
            *user,
            f"--helper-home-dir={home}",
            "-m",
            "1",
            "--min-children=1",
            "--min-spare=1",
            "--max-spare=1",
            f"--pidfile={workdir / 'spamd.pid'}",
            "-s",
            "stderr",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = Spamd("127.0.0.1", port, timeout=20)
    try:
        deadline = time.monotonic() + 60
        while True:  # a real PING: spamd answers only once its rules are loaded
            try:
                if asyncio.run(client.ping()):
                    break
            except SpamdError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"spamd did not start: {(workdir / 'spamd.log').read_text()}")
            time.sleep(0.2)
        yield client
    finally:
        stop_process(proc)
        log.close()
