"""Start DNS servers for tests: NSD (the real thing) and the in-process one."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.message
import dns.query

from tests.helpers import stop_process

ZONES = Path(__file__).parent / "dns" / "zones"


def free_port() -> int:
    """A loopback port free on both UDP and TCP, since a DNS server binds both."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no loopback port free on both UDP and TCP")


def wait_ready(port: int, zone: str = "bl.test", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    q = dns.message.make_query(zone, "SOA")
    while True:
        try:
            dns.query.udp(q, "127.0.0.1", port=port, timeout=0.2)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def nsd(nsd_path: str, workdir: Path) -> Iterator[int]:
    """NSD in the foreground on a free loopback port, serving tests/dns/zones."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    zones = "".join(
        f"zone:\n    name: {p.name.removesuffix('.zone')}\n    zonefile: {p}\n"
        for p in sorted(ZONES.glob("*.zone"))
    )
    conf = workdir / "nsd.conf"
    conf.write_text(
        f"""server:
    ip-address: 127.0.0.1
    port: {port}
    username: ""
    chroot: ""
    zonesdir: "{ZONES}"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    xfrdir: "{workdir}"
    pidfile: "{workdir}/nsd.pid"
    logfile: "{workdir}/nsd.log"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
{zones}"""
    )
    proc = subprocess.Popen([nsd_path, "-d", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        wait_ready(port)
        yield port
    finally:
        stop_process(proc)


def black_hole() -> tuple[socket.socket, int]:
    """A UDP port that swallows every query: the timeout case."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]
