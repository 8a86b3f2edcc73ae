"""DNS lookups with exact outcomes, bounded concurrency and hard deadlines.

A resolver library that turns REFUSED, SERVFAIL and timeouts into one
"no answer" exception would let a blocklist check say "clean" when it does not
know. So queries go to the configured nameservers directly (dnspython's
asyncquery), and each outcome keeps its rcode. dnspython's own lifetime can
overshoot, so every lookup also runs under `asyncio.wait_for`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.reversename

from console.model import DnsAnswer, IpDns

log = logging.getLogger(__name__)


class DnsClient:
    """Asks explicit nameservers; never the system resolver unless told to."""

    def __init__(
        self,
        nameservers: Iterable[str] = (),
        *,
        port: int = 53,
        timeout: float = 1.0,
        deadline: float = 3.0,
        concurrency: int = 256,
        tries: int = 2,
    ) -> None:
        servers = list(nameservers)
        if not servers:
            import dns.resolver

            servers = [str(ns) for ns in dns.resolver.Resolver().nameservers]  # resolv.conf
        self.nameservers = servers
        self.port = port
        self.timeout = timeout
        self.deadline = deadline
        self.tries = max(1, tries)
        self._slots = asyncio.Semaphore(max(1, concurrency))

    async def query(self, name: str, rdtype: str = "A") -> DnsAnswer:
        """One lookup with its exact outcome; never raises for DNS reasons."""
        async with self._slots:
            try:
                return await asyncio.wait_for(self._query(name, rdtype), self.deadline)
            except TimeoutError:
                return DnsAnswer("TIMEOUT", detail=f"no answer within {self.deadline:g}s")

    async def _query(self, name: str, rdtype: str) -> DnsAnswer:
        qname = dns.name.from_text(name)
        kind = dns.rdatatype.from_text(rdtype)
        last = DnsAnswer("TIMEOUT", detail="no nameserver answered")
        for _ in range(self.tries):
            for server in self.nameservers:
                # EDNS(0) with a 1232-byte payload: a DKIM key fits without falling to TCP.
                q = dns.message.make_query(qname, kind, use_edns=0, payload=1232)
                try:
                    resp = await dns.asyncquery.udp(q, server, timeout=self.timeout, port=self.port)
                    if resp.flags & dns.flags.TC:
                        resp = await dns.asyncquery.tcp(
                            q, server, timeout=self.timeout, port=self.port
                        )
                except dns.exception.Timeout:
                    last = DnsAnswer("TIMEOUT", detail=f"{server} did not answer in time")
                    continue
                except (OSError, dns.exception.DNSException) as exc:
                    last = DnsAnswer("ERROR", detail=f"{server}: {type(exc).__name__}")
                    continue
                return _outcome(resp, qname, kind)
            # (no log line naming the query: a Spamhaus DQS key is part of the name)
        return last

    async def sweep(self, queries: Iterable[tuple[str, str]]) -> dict[tuple[str, str], DnsAnswer]:
        """All queries at once, at most `concurrency` in flight, each under the deadline."""
        todo = list(dict.fromkeys(queries))
        answers = await asyncio.gather(*(self.query(n, t) for n, t in todo))
        return dict(zip(todo, answers, strict=True))

    async def lookup_many(self, names: Iterable[str]) -> dict[str, DnsAnswer]:
        """Blocklist lookups in two concurrent waves: every A, then TXT where listed."""
        names = list(dict.fromkeys(names))
        a = await self.sweep((n, "A") for n in names)
        hits = [n for n in names if a[(n, "A")].rcode == "NOERROR" and a[(n, "A")].addresses]
        txt = await self.sweep((n, "TXT") for n in hits)
        out = {}
        for n in names:
            ans = a[(n, "A")]
            t = txt.get((n, "TXT"))
            if t is not None and t.rcode == "NOERROR":
                ans = DnsAnswer(ans.rcode, ans.addresses, t.txt, ans.detail)
            out[n] = ans
        return out

    async def lookup(self, name: str) -> DnsAnswer:
        """A and TXT of one blocklist name together: the code and, if listed, its reason."""
        a = await self.query(name, "A")
        if a.rcode == "NOERROR" and a.addresses:
            txt = await self.query(name, "TXT")
            return DnsAnswer(a.rcode, a.addresses, txt.txt if txt.rcode == "NOERROR" else ())
        return a


def _outcome(resp: dns.message.Message, qname: dns.name.Name, kind: int) -> DnsAnswer:
    rcode = dns.rcode.to_text(resp.rcode())
    if rcode != "NOERROR":
        return DnsAnswer(rcode)
    # Follow CNAMEs inside the answer (a DKIM selector is usually one).
    name = qname
    values: list[str] = []
    cnames: list[str] = []
    for _ in range(8):
        target = None
        for rrset in resp.answer:
            if rrset.name != name:
                continue
            if rrset.rdtype == kind:
                values.extend(_text(rd, kind) for rd in rrset)
            elif rrset.rdtype == dns.rdatatype.CNAME:
                target = rrset[0].target
                cnames.append(target.to_text(omit_final_dot=True))
        if values or target is None:
            break
        name = target
    if not values:
        detail = f"CNAME {' → '.join(cnames)}" if cnames else ""
        return DnsAnswer("NODATA", detail=detail)
    if kind == dns.rdatatype.TXT:
        return DnsAnswer("NOERROR", txt=tuple(values), detail=" → ".join(cnames))
    return DnsAnswer("NOERROR", addresses=tuple(values), detail=" → ".join(cnames))


def _text(rd: object, kind: int) -> str:
    if kind == dns.rdatatype.TXT:
        # A TXT record may be split into several strings; they form one value (RFC 7208 3.3).
        parts: list[bytes] = rd.strings  # type: ignore[attr-defined]
        return b"".join(parts).decode("utf-8", "replace")
    if kind in (dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.NS):
        return str(rd.target.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
    if kind == dns.rdatatype.MX:
        return f"{rd.preference} {rd.exchange.to_text(omit_final_dot=True)}"  # type: ignore[attr-defined]
    return str(rd.to_text())  # type: ignore[attr-defined]


async def reverse_dns(client: DnsClient, ips: Iterable[str]) -> list[IpDns]:
    """PTR of each IP, and whether a PTR name resolves back to it (forward-confirmed rDNS)."""

    async def one(ip: str) -> IpDns:
        try:
            rev = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
        except (ValueError, dns.exception.SyntaxError):
            return IpDns(ip, error="not an IP address")
        ptr = await client.query(rev, "PTR")
        if ptr.rcode in ("NXDOMAIN", "NODATA"):
            return IpDns(ip, fcrdns=False, error="no PTR record")
        if ptr.rcode != "NOERROR":
            return IpDns(ip, error=f"PTR lookup: {ptr.rcode.lower()}")
        rtype = "AAAA" if ":" in ip else "A"
        forward = await asyncio.gather(*(client.query(n, rtype) for n in ptr.addresses))
        if any(f.rcode in ("TIMEOUT", "SERVFAIL", "REFUSED", "ERROR") for f in forward):
            return IpDns(ip, ptr.addresses, None, "forward lookup of the PTR name failed")
        back = any(ip in f.addresses for f in forward)
        return IpDns(ip, ptr.addresses, back, "" if back else "the PTR name does not point back")

    return list(await asyncio.gather(*(one(ip) for ip in ips)))
