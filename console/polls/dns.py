"""mailops' own DNS checks: the sending domains' SPF, DKIM, DMARC and MX, and the
blocklist sweep over the sending IPs and domains (with reverse DNS)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from console.analysis.dnsbl import configured_zones, judge, plan
from console.model import BlocklistView, Ip, IpDns, Listing
from console.polls.mandrill import poll_domains, poll_ips
from console.sources.authdns import check_domain
from console.sources.base import SourceError
from console.sources.dns import DnsClient, reverse_dns
from console.updates import PollResult

if TYPE_CHECKING:
    from console.jobs import Pipeline


def _need_dns(p: Pipeline) -> DnsClient:
    if p.dns is None:
        raise SourceError("DNS checks are not configured")
    return p.dns


async def poll_dns(p: Pipeline) -> PollResult:
    client = _need_dns(p)
    if not p.config.domains.sending and p.mandrill_domains_view() is None:
        await poll_domains(p)  # the domains come from Mandrill: ask it first
    domains = await p.db(p.sending_domains)
    selectors = p.config.domains.dkim_selectors
    results = tuple([await check_domain(client, d, selectors, client.timeout) for d in domains])
    await p.snapshot("dns", list(results))
    return PollResult(dns=results)


async def poll_blocklists(p: Pipeline) -> PollResult:
    client = _need_dns(p)
    b = p.config.blocklists
    key = p.dqs_key.reveal() if p.dqs_key else None
    zones = configured_zones(b.ip_zones, b.domain_zones, b.codes, key)
    if p.store.get_snapshot("ips", list[Ip]) is None:
        await poll_ips(p)
    if not p.config.domains.sending and p.mandrill_domains_view() is None:
        await poll_domains(p)
    ips = await p.db(p.sending_ips)
    domains = list(dict.fromkeys([*await p.db(p.sending_domains), *p.config.domains.link_domains]))
    probes = plan(zones, ips, domains)
    answers, rdns = await asyncio.gather(
        client.lookup_many(q.qname for q in probes), reverse_dns(client, ips)
    )
    listings = judge(probes, answers)
    view: BlocklistView = await p.db(_with_history, p, listings, rdns, len(zones))
    return PollResult(blocklists=view)


def _with_history(
    p: Pipeline, listings: list[Listing], rdns: list[IpDns], zones: int
) -> BlocklistView:
    """Carry 'since' across polls, and remember delistings, in the store."""
    now = p.clock()
    snap = p.store.get_snapshot("listing_history", dict[str, dict[str, str]])
    history: dict[str, dict[str, str]] = snap[0] if snap else {}
    out = []
    for item in listings:
        key = f"{item.zone}|{item.target}"
        prev = history.get(key)
        if prev and prev.get("verdict") == item.verdict:
            since = datetime.fromisoformat(prev["since"])
        else:
            since = now
            if prev and prev.get("verdict") == "listed" and item.verdict == "not_listed":
                history[f"delisted|{key}"] = {"verdict": "delisted", "since": now.isoformat()}
            history[key] = {"verdict": item.verdict, "since": now.isoformat()}
        out.append(replace(item, since=since))
    cutoff = now - timedelta(days=p.config.storage.retention_days)
    delisted = []
    for k, v in list(history.items()):
        if k.startswith("delisted|"):
            at = datetime.fromisoformat(v["since"])
            if at < cutoff:
                del history[k]
            else:
                _, zone, target = k.split("|", 2)
                delisted.append((zone, target, at))
    view = BlocklistView(tuple(out), tuple(rdns), zones, tuple(sorted(delisted)))
    p.store.put_snapshot("listing_history", history, p.wall())
    p.store.put_snapshot("blocklists", view, p.wall())
    p.store.commit()
    return view
