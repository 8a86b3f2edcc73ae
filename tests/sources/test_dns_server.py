"""The in-process DNS server starts even when its UDP port is taken on TCP."""

from __future__ import annotations

import socket

import dns.message
import dns.query

from console.sim.dns_server import DnsServer, ZoneSet
from tests.dns_servers import ZONES


class _ClashingOnce(DnsServer):
    """Picks `taken` for its first UDP bind: the port another socket holds on TCP."""

    def __init__(self, zones: ZoneSet, taken: int) -> None:
        super().__init__(zones)
        self.taken: int | None = taken

    async def _open_udp(self, port: int) -> None:
        first, self.taken = self.taken, None
        await super()._open_udp(first if first is not None else port)


def test_a_tcp_clash_on_the_chosen_port_is_retried_on_a_fresh_one() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = int(holder.getsockname()[1])
        with _ClashingOnce(ZoneSet.from_dir(ZONES), taken) as server:
            assert server.port != taken
            query = dns.message.make_query("bl.test", "SOA")
            answer = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=2)
            assert answer.answer
            answer = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
            assert answer.answer
