"""A sending domain's SPF, DKIM, DMARC and MX, looked up through the configured nameservers.

SPF and DMARC go through checkdmarc, which counts RFC 7208 lookups and void
lookups correctly and accepts our nameserver and port. Its edges are handled
here: it is synchronous (so it runs in a thread), and its DNS cache is keyed by
name and type only, not by nameserver (so it is cleared before every check).
Its MTA-STS and BIMI checks fetch over HTTPS with the system resolver, so they
are never called. DKIM and the DMARC report authorizations are looked up with
our own client.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import dns.nameserver

from console.analysis.authdns import (
    LEGACY_SELECTORS,
    authorization_name,
    dkim_check,
    dmarc_check,
    external_destinations,
    spf_check,
)
from console.model import DkimCheck, DomainDns
from console.sources.dns import DnsClient

log = logging.getLogger(__name__)

_CHECKDMARC = threading.Lock()  # its module-level cache is shared: one check at a time


def _checkdmarc(
    domain: str, servers: list[str], port: int, timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    from checkdmarc import dmarc, spf
    from checkdmarc.utils import DNS_CACHE

    nameservers = [dns.nameserver.Do53Nameserver(s, port) for s in servers]
    with _CHECKDMARC:
        DNS_CACHE.clear()
        try:
            spf_result: dict[str, Any] = dict(
                spf.check_spf(domain, nameservers=nameservers, timeout=timeout)
            )
        except Exception as exc:  # a library bug must not end the poll
            log.exception("checkdmarc SPF check of %s failed", domain)
            spf_result = {"valid": False, "error": f"SPF check failed ({type(exc).__name__})"}
        try:
            dmarc_result: dict[str, Any] = dict(
                dmarc.check_dmarc(domain, nameservers=nameservers, timeout=timeout)
            )
        except Exception as exc:
            log.exception("checkdmarc DMARC check of %s failed", domain)
            dmarc_result = {"valid": False, "error": f"DMARC check failed ({type(exc).__name__})"}
    return spf_result, dmarc_result


async def _dkim(client: DnsClient, domain: str, selector: str) -> DkimCheck | None:
    name = f"{selector}._domainkey.{domain}"
    cname_answer = await client.query(name, "CNAME")
    cname = cname_answer.addresses[0] if cname_answer.rcode == "NOERROR" else ""
    txt = await client.query(name, "TXT")
    if txt.rcode == "NODATA" and cname:  # an authoritative server does not chase the CNAME
        txt = await client.query(cname, "TXT")
    if txt.rcode in ("NXDOMAIN", "NODATA") and selector in LEGACY_SELECTORS:
        return None  # no legacy key is the good case: nothing to report
    if txt.rcode in ("TIMEOUT", "REFUSED", "SERVFAIL", "ERROR"):
        why = f"DNS {txt.rcode.lower()}: {txt.detail}".strip().rstrip(":")
        return dkim_check(selector, cname, (), why, temperror=True)
    return dkim_check(selector, cname, txt.txt if txt.rcode == "NOERROR" else ())


async def check_domain(
    client: DnsClient, domain: str, selectors: tuple[str, ...], timeout: float = 2.0
) -> DomainDns:
    spf_result, dmarc_result = await asyncio.to_thread(
        _checkdmarc, domain, client.nameservers, client.port, timeout
    )
    dkims = [await _dkim(client, domain, s) for s in selectors]
    draft = dmarc_check(dmarc_result, {})
    authorized: dict[str, bool | None] = {}
    for uri in external_destinations(domain, draft.rua, draft.ruf):
        answer = await client.query(authorization_name(domain, uri), "TXT")
        if answer.rcode in ("NOERROR", "NXDOMAIN", "NODATA"):
            authorized[uri] = answer.rcode == "NOERROR" and any(
                t.replace(" ", "").upper().startswith("V=DMARC1") for t in answer.txt
            )
        else:  # no answer: unknown, never "not authorized"
            authorized[uri] = None
    mx = await client.query(domain, "MX")
    mx_error = "" if mx.rcode == "NOERROR" else f"no MX ({mx.rcode})"
    return DomainDns(
        domain=domain,
        spf=spf_check(spf_result),
        dkim=tuple(d for d in dkims if d is not None),
        dmarc=dmarc_check(dmarc_result, authorized),
        mx=mx.addresses,
        mx_error=mx_error,
    )
