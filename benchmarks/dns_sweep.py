"""DNS sweep vs a sequential loop, against a loopback server that delays every answer 50 ms.

40 zones × 8 IPs = 320 A queries. Run: .venv/bin/python benchmarks/dns_sweep.py
Prints both wall times and their ratio; the target is a ratio of at least 40.
"""

from __future__ import annotations

import asyncio
import time

import dns.asyncresolver

from console.analysis.dnsbl import Zone, query_name
from console.sim.dns_server import DnsServer, ZoneSet

DELAY = 0.05
ZONES = [Zone(f"z{i}.bench", "ip") for i in range(40)]
IPS = [f"192.0.2.{i}" for i in range(1, 9)]


def zone_texts() -> dict[str, str]:
    texts = {}
    for z in ZONES:
        texts[z.name] = (
            f"$TTL 300\n@ IN SOA ns.{z.name}. h.{z.name}. 1 3600 600 86400 300\n"
            f"@ IN NS ns.{z.name}.\nns IN A 127.0.0.1\n"
            "3.2.0.192 IN A 127.0.0.2\n"  # one listed IP per zone, the rest NXDOMAIN
        )
    return texts


async def sequential(names: list[str], port: int) -> float:
    """The plain loop most checkers are: one dnspython lookup after another."""
    r = dns.asyncresolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = port
    r.cache = None
    t0 = time.perf_counter()
    for n in names:
        try:
            await r.resolve(n, "A")
        except dns.resolver.NXDOMAIN:
            pass
    return time.perf_counter() - t0


async def sweep(names: list[str], port: int) -> float:
    from console.sources.dns import DnsClient

    client = DnsClient(["127.0.0.1"], port=port, timeout=1.0, deadline=3.0)  # 256 in flight
    t0 = time.perf_counter()
    out = await client.sweep((n, "A") for n in names)
    elapsed = time.perf_counter() - t0
    bad = [k for k, v in out.items() if v.rcode not in ("NOERROR", "NXDOMAIN")]
    assert not bad, f"{len(bad)} lookups failed, e.g. {bad[:3]}"
    return elapsed


def main() -> None:
    zones = ZoneSet.from_texts(zone_texts())
    zones.delay = DELAY
    names = [query_name(ip, z) for z in ZONES for ip in IPS]
    with DnsServer(zones) as server:
        t_sweep = asyncio.run(sweep(names, server.port))
        t_seq = asyncio.run(sequential(names, server.port))
    ratio = t_seq / t_sweep
    print(f"queries: {len(names)} (40 zones x 8 IPs), server delay {DELAY * 1000:.0f} ms")
    print(f"sequential loop: {t_seq:.2f} s")
    print(f"mailops sweep:   {t_sweep:.3f} s")
    print(f"ratio: {ratio:.0f}x (target >= 40x) {'OK' if ratio >= 40 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
