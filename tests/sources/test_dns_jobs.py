"""The DNS and blocklist polls of the pipeline, with the Mandrill simulator and a DNS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from console.cli import demo_config
from console.config import BlocklistsConfig, DomainsConfig
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, Scenario, SimServer
from console.sim.dns_server import DnsServer, ZoneSet
from console.sources.dns import DnsClient
from console.sources.mandrill import MandrillClient
from console.store import Store
from tests.dns_servers import ZONES


@pytest.fixture
def zones() -> ZoneSet:
    return ZoneSet.from_dir(ZONES)


@pytest.fixture
async def pipeline(
    server: SimServer, store: Store, clock: ManualClock, zones: ZoneSet
) -> AsyncIterator[Pipeline]:
    with DnsServer(zones) as dns_server:
        cfg = demo_config(server.base_url, str(store.dir))
        cfg = replace(
            cfg,
            domains=DomainsConfig(sending=("good.test", "toomany.test"), dkim_selectors=("mte1",)),
            blocklists=BlocklistsConfig(
                ip_zones=("bl.test",),
                domain_zones=(),
                extra_ips=("192.0.2.99", "192.0.2.10"),
                codes={"bl.test": {"127.0.0.2": "listed for testing"}},
            ),
        )
        client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5)
        dns = DnsClient(["127.0.0.1"], port=dns_server.port, timeout=0.5, deadline=2.0)
        p = Pipeline(client, store, cfg, clock=clock, dns=dns)
        yield p
        await client.aclose()


async def test_dns_poll_checks_every_sending_domain(pipeline: Pipeline) -> None:
    u = await pipeline.run("dns")
    assert u.status.ok, u.status.error
    by = {d.domain: d for d in u.result.dns or ()}
    assert by["good.test"].spf.valid and by["good.test"].dmarc.policy == "reject"
    assert not by["toomany.test"].spf.valid
    assert pipeline.dns_view() == u.result.dns  # stored for the next start


async def test_blocklist_poll_with_rdns_and_listing_history(
    pipeline: Pipeline, zones: ZoneSet, clock: ManualClock
) -> None:
    await pipeline.run("ips")
    await pipeline.run("messages")
    first = await pipeline.run("blocklists")
    assert first.status.ok, first.status.error
    view = first.result.blocklists
    assert view is not None and view.zones == 1
    got = {(x.zone, x.target): x for x in view.listings}
    assert got[("bl.test", "192.0.2.99")].verdict == "listed"
    assert got[("bl.test", "203.0.113.25")].verdict == "not_listed"  # Mandrill's dedicated IP
    assert ("bl.test", "198.51.100.13") in got  # shared IPs seen in the mail are checked too
    rdns = {r.ip: r for r in view.ips}
    assert rdns["192.0.2.10"].fcrdns is True and rdns["192.0.2.10"].ptr == ("mail.example.test",)
    assert rdns["192.0.2.99"].fcrdns is False and "does not point back" in rdns["192.0.2.99"].error
    # this server does not serve 113.0.203.in-addr.arpa: "could not tell", not "no PTR"
    assert (
        rdns["203.0.113.25"].fcrdns is None and rdns["203.0.113.25"].error == "PTR lookup: refused"
    )
    since = got[("bl.test", "192.0.2.99")].since

    clock.advance(minutes=30)
    zones.remove("99.2.0.192.bl.test")
    second = (await pipeline.run("blocklists")).result.blocklists
    assert second is not None
    again = {(x.zone, x.target): x for x in second.listings}
    assert again[("bl.test", "192.0.2.99")].verdict == "not_listed"
    assert again[("bl.test", "203.0.113.25")].since == got[("bl.test", "203.0.113.25")].since
    assert [(z, t) for z, t, _ in second.delisted] == [("bl.test", "192.0.2.99")]
    assert since is not None and second.delisted[0][2] > since


def test_the_demo_polls_dns_often_enough_to_show_its_story() -> None:
    poll = demo_config("http://127.0.0.1:1/api/1.0", "/tmp/x", 5353).mandrill.poll
    assert poll.blocklists <= 30 and poll.dns <= 60


async def test_the_demo_lists_and_then_delists_the_noisy_neighbour(scenario: Scenario) -> None:
    from datetime import timedelta

    from console.analysis.dnsbl import DEFAULT_ZONES, query_name
    from console.sim import ManualClock
    from console.sim.demo_dns import NOISY_LIST, DemoDns

    zone = next(z for z in DEFAULT_ZONES if z.name == NOISY_LIST)
    assert scenario.noisy_ip is not None
    name = query_name(scenario.noisy_ip, zone)
    clock = ManualClock(scenario.start)
    demo = DemoDns(scenario, clock).start()
    try:
        client = DnsClient(["127.0.0.1"], port=demo.port, timeout=0.5, deadline=2.0)
        seen: list[str] = []
        for hours in (0.5, 2, 9, 10):
            clock.set(scenario.start + timedelta(hours=hours))
            demo.update()  # what its timer thread does every second
            seen.append((await client.query(name, "A")).rcode)
        assert seen == ["NXDOMAIN", "NOERROR", "NOERROR", "NXDOMAIN"]
    finally:
        demo.stop()
