"""DNS lookups and blocklist verdicts against real servers on loopback (NSD and in-process).

Every resolver here is explicit: no test query leaves loopback.
"""

from __future__ import annotations

import time

import pytest

from console.analysis.dnsbl import (
    DEFAULT_ZONES,
    Zone,
    apply_health,
    query_name,
    read_answer,
    zone_health,
)
from console.model import Listing
from console.sources.dns import DnsClient
from tests.dns_servers import black_hole

ZEN = next(z for z in DEFAULT_ZONES if z.name == "zen.spamhaus.org")
DBL = next(z for z in DEFAULT_ZONES if z.name == "dbl.spamhaus.org")
URIBL = next(z for z in DEFAULT_ZONES if z.name == "multi.uribl.com")


def like(zone: Zone, name: str, **kw: str) -> Zone:
    """A public list's code table served under a test zone name."""
    return Zone(name, zone.kind, zone.codes, zone.errors, zone.bitmask, zone.major, **kw)


BL = like(ZEN, "bl.test")
URI = like(URIBL, "uri.test", positive_test="test.example")
DBLT = like(DBL, "dbl.test", positive_test="dbltest.com")


async def verdict(client: DnsClient, zone: Zone, target: str) -> Listing:
    pos, neg = zone.test_points
    answers = {t: await client.lookup(query_name(t, zone)) for t in (target, pos, neg)}
    health = zone_health(
        zone, read_answer(zone, pos, answers[pos]), read_answer(zone, neg, answers[neg])
    )
    return apply_health(read_answer(zone, target, answers[target]), health)


@pytest.fixture
def client(dns_port: int) -> DnsClient:
    return DnsClient(["127.0.0.1"], port=dns_port, timeout=0.5, deadline=2.0)


async def test_listed_with_meaning_and_reason(client: DnsClient) -> None:
    v = await verdict(client, BL, "192.0.2.99")
    assert v.verdict == "listed" and v.codes == ("127.0.0.2",)
    assert "SBL" in v.meaning and "check.spamhaus.org/sbl" in v.txt


async def test_not_listed_only_when_the_zone_vouches_for_it(client: DnsClient) -> None:
    assert (await verdict(client, BL, "192.0.2.1")).verdict == "not_listed"


async def test_public_resolver_code_is_an_error_not_a_listing(client: DnsClient) -> None:
    v = await verdict(client, BL, "192.0.2.254")
    assert v.verdict == "error" and "public or open resolver" in v.meaning
    assert v.codes == ("127.255.255.254",)


async def test_undocumented_code_is_an_error(client: DnsClient) -> None:
    v = await verdict(client, BL, "192.0.2.77")
    assert v.verdict == "error" and "127.0.0.77" in v.meaning


async def test_ipv6_nibble_form(client: DnsClient) -> None:
    assert query_name("2001:db8::1", BL).startswith("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0")
    assert (await verdict(client, BL, "2001:db8::1")).verdict == "listed"


async def test_uribl_refusal_is_an_error_and_bitmask_is_decoded(client: DnsClient) -> None:
    refused = await verdict(client, URI, "refused.example")
    assert refused.verdict == "error" and "refused" in refused.meaning
    listed = await verdict(client, URI, "listed.example")
    assert listed.verdict == "listed" and listed.meaning == "URIBL black"
    assert (await verdict(client, URI, "clean.example")).verdict == "not_listed"


async def test_dbl_ip_form_query_is_an_error(client: DnsClient) -> None:
    with pytest.raises(ValueError, match="lists domains"):
        query_name("192.0.2.99", DBLT)  # mailops never asks a domain list about an IP ...
    answer = await client.lookup("192.0.2.99.dbl.test")  # ... but reads the answer right
    v = read_answer(DBLT, "192.0.2.99", answer)
    assert v.verdict == "error" and "IP address was queried" in v.meaning
    assert (await verdict(client, DBLT, "spammy.example")).verdict == "listed"


async def test_a_wildcard_dead_list_is_broken(client: DnsClient) -> None:
    v = await verdict(client, like(ZEN, "dead.test"), "192.0.2.1")
    assert v.verdict == "broken" and "lists everything" in v.meaning


async def test_answers_outside_loopback_mean_a_rewriting_resolver(client: DnsClient) -> None:
    v = await verdict(client, like(ZEN, "rewrite.test"), "192.0.2.1")
    assert v.verdict == "broken" and "rewriting" in v.meaning


async def test_a_zone_that_does_not_list_its_test_point_cannot_say_clean(client: DnsClient) -> None:
    v = await verdict(client, like(ZEN, "nolist.test"), "192.0.2.1")
    assert v.verdict == "error" and "test point" in v.meaning


async def test_nxdomain_nodata_and_refused_are_told_apart(client: DnsClient) -> None:
    assert (await client.query("nope.example.test", "A")).rcode == "NXDOMAIN"
    assert (await client.query("mail.example.test", "TXT")).rcode == "NODATA"
    assert (await client.query("mail.example.test", "A")).addresses == ("192.0.2.10",)
    outside = await client.query("example.org", "A")
    assert outside.rcode == "REFUSED"
    ptr = await client.query("10.2.0.192.in-addr.arpa", "PTR")
    assert ptr.addresses == ("mail.example.test",)


async def test_timeout_is_a_verdict_within_the_deadline() -> None:
    sock, port = black_hole()
    try:
        c = DnsClient(["127.0.0.1"], port=port, timeout=0.2, deadline=0.5)
        t0 = time.monotonic()
        v = await verdict(c, BL, "192.0.2.99")
        assert v.verdict == "timeout"
        assert time.monotonic() - t0 < 3 * 0.6  # three lookups, each under the hard deadline
    finally:
        sock.close()


async def test_a_sweep_runs_concurrently(client: DnsClient) -> None:
    names = [(query_name(f"192.0.2.{i}", BL), "A") for i in range(1, 101)]
    t0 = time.monotonic()
    out = await client.sweep(names)
    assert len(out) == 100 and all(a.rcode in ("NXDOMAIN", "NOERROR") for a in out.values())
    assert time.monotonic() - t0 < 2.0


async def test_a_whole_sweep_plans_judges_and_applies_zone_health(client: DnsClient) -> None:
    from console.analysis.dnsbl import judge, plan

    zones = (BL, URI, like(ZEN, "dead.test"), like(ZEN, "nolist.test"))
    probes = plan(zones, ["192.0.2.99", "192.0.2.1", "2001:db8::1"], ["listed.example"])
    answers = await client.lookup_many(p.qname for p in probes)
    got = {(v.zone, v.target): v for v in judge(probes, answers)}
    assert got[("bl.test", "192.0.2.99")].verdict == "listed"
    assert "SBL1" in got[("bl.test", "192.0.2.99")].txt
    assert got[("bl.test", "192.0.2.1")].verdict == "not_listed"
    assert got[("bl.test", "2001:db8::1")].verdict == "listed"
    assert got[("uri.test", "listed.example")].verdict == "listed"
    assert {got[("dead.test", ip)].verdict for ip in ("192.0.2.99", "192.0.2.1")} == {"broken"}
    assert got[("nolist.test", "192.0.2.1")].verdict == "error"
    assert len(got) == 3 * 3 + 1  # test points are not reported as targets
