"""A small authoritative DNS server on loopback, for the demo and for tests.

Built on dnspython (already a dependency) rather than dnslib: zone files are
read with dns.zone, and the answers follow authoritative semantics that a
blocklist check depends on — NXDOMAIN for a missing name, NODATA (with the
SOA) for a missing type, wildcards, REFUSED outside its zones. Knobs: a delay
before every answer, names it never answers (timeouts), names it refuses.
"""

from __future__ import annotations

import asyncio
import errno
import struct
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone


def _origin(zone: dns.zone.Zone) -> dns.name.Name:
    assert zone.origin is not None  # zones here are always loaded with an origin
    return zone.origin


class ZoneSet:
    """Answers queries from a set of zones (mutable: the demo lists and delists IPs)."""

    def __init__(self, zones: Iterable[dns.zone.Zone] = ()) -> None:
        self.zones: dict[dns.name.Name, dns.zone.Zone] = {_origin(z): z for z in zones}
        self.delay = 0.0
        self.silent: set[str] = set()
        self.refused: set[str] = set()
        self.lock = threading.Lock()

    @classmethod
    def from_texts(cls, texts: Mapping[str, str]) -> ZoneSet:
        return cls(
            dns.zone.from_text(text, origin=origin, relativize=False)
            for origin, text in texts.items()
        )

    @classmethod
    def from_dir(cls, directory: Path) -> ZoneSet:
        return cls(
            dns.zone.from_file(str(p), origin=p.name.removesuffix(".zone"), relativize=False)
            for p in sorted(directory.glob("*.zone"))
        )

    def set_a(self, name: str, addresses: Iterable[str], txt: str = "") -> None:
        """Add or replace A (and TXT) records at `name` (the demo's changing listings)."""
        qname = dns.name.from_text(name)
        with self.lock:
            zone = self._zone_for(qname)
            if zone is None:
                raise KeyError(f"no zone serves {name}")
            node = zone.find_node(qname, create=True)
            rds = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.A, create=True)
            rds.clear()  # type: ignore[no-untyped-call]
            for a in addresses:
                rds.add(dns.rdata.from_text("IN", "A", a), 300)
            if txt:
                t = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.TXT, create=True)
                t.clear()  # type: ignore[no-untyped-call]
                t.add(dns.rdata.from_text("IN", "TXT", f'"{txt}"'), 300)

    def remove(self, name: str) -> None:
        qname = dns.name.from_text(name)
        with self.lock:
            zone = self._zone_for(qname)
            if zone is not None and zone.get_node(qname) is not None:
                zone.delete_node(qname)

    def _zone_for(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        best = None
        for origin, zone in self.zones.items():
            if qname.is_subdomain(origin) and (best is None or len(origin) > len(_origin(best))):
                best = zone
        return best

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to `query`, or None to stay silent."""
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AA
        if not query.question:
            resp.set_rcode(dns.rcode.FORMERR)
            return resp
        q = query.question[0]
        text = q.name.to_text(omit_final_dot=True).lower()
        if text in self.silent:
            return None
        if text in self.refused:
            resp.set_rcode(dns.rcode.REFUSED)
            return resp
        with self.lock:
            zone = self._zone_for(q.name)
            if zone is None:
                resp.flags &= ~dns.flags.AA
                resp.set_rcode(dns.rcode.REFUSED)
                return resp
            name = q.name
            for _ in range(8):
                node = zone.get_node(name) or self._wildcard(zone, name)
                if node is None:
                    if not resp.answer:
                        resp.set_rcode(dns.rcode.NXDOMAIN)
                        self._soa(zone, resp)
                    return resp
                rds = node.get_rdataset(dns.rdataclass.IN, q.rdtype)
                if rds is not None:
                    resp.answer.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))
                    return resp
                cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
                if cname is None:
                    self._soa(zone, resp)  # NODATA
                    return resp
                resp.answer.append(dns.rrset.from_rdata_list(name, cname.ttl, list(cname)))
                name = cname[0].target
                if not name.is_subdomain(_origin(zone)):
                    other = self._zone_for(name)
                    if other is None:
                        return resp
                    zone = other
        return resp

    @staticmethod
    def _wildcard(zone: dns.zone.Zone, name: dns.name.Name) -> dns.node.Node | None:
        parent = name.parent()
        origin = _origin(zone)
        while parent.is_subdomain(origin) and len(parent) >= len(origin):
            node = zone.get_node(dns.name.Name(("*", *parent.labels)))
            if node is not None:
                return node
            if parent == origin:
                break
            parent = parent.parent()
        return None

    @staticmethod
    def _soa(zone: dns.zone.Zone, resp: dns.message.Message) -> None:
        soa = zone.get_rdataset(_origin(zone), dns.rdatatype.SOA)
        if soa is not None:
            resp.authority.append(dns.rrset.from_rdata_list(_origin(zone), soa.ttl, list(soa)))


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, zones: ZoneSet) -> None:
        self.zones = zones
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # garbage in: ignore, as a real server would
            return
        resp = self.zones.answer(query)
        if resp is None or self.transport is None:
            return
        size = query.payload if query.edns >= 0 else 512
        try:
            wire = resp.to_wire(max_size=max(512, size))
        except dns.exception.TooBig:
            resp.answer.clear()
            resp.flags |= dns.flags.TC
            wire = resp.to_wire()
        loop = asyncio.get_running_loop()
        loop.call_later(self.zones.delay, self.transport.sendto, wire, addr)


class DnsServer:
    """Serves a ZoneSet on 127.0.0.1 (UDP and TCP) from a thread of its own."""

    def __init__(self, zones: ZoneSet, port: int = 0, host: str = "127.0.0.1") -> None:
        self.zones = zones
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="dns")
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def start(self) -> DnsServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=5)
        return self

    async def _open(self) -> None:
        """Bind UDP and TCP on one port.

        With port 0 the system picks a free UDP port, but the same number may
        be taken on TCP (another socket's ephemeral port), so a clash is tried
        again on a fresh port rather than failing the start.
        """
        wanted, attempts = self.port, 20 if self.port == 0 else 1
        for attempt in range(attempts):
            await self._open_udp(wanted)
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port)
                return
            except OSError as err:
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
                if attempt == attempts - 1 or err.errno != errno.EADDRINUSE:
                    raise

    async def _open_udp(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self.zones), local_addr=(self.host, port)
        )
        self._udp = transport
        self.port = transport.get_extra_info("sockname")[1]

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                query = dns.message.from_wire(await reader.readexactly(length))
                resp = self.zones.answer(query)
                if resp is None:
                    continue
                await asyncio.sleep(self.zones.delay)
                wire = resp.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, dns.exception.DNSException):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        async def close() -> None:
            if self._udp is not None:
                self._udp.close()
            if self._tcp is not None:
                self._tcp.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
