"""What the aggregate reports say, per domain: pass rates, who sends as us, who is spoofing.

Sources are grouped as Mandrill (the account's own IPs and Mandrill's published
ranges), other known senders (configured ranges), and unknown. An unknown source
sending more than `spoof_min_messages` as the domain is flagged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from console.config import DmarcConfig
from console.model import DmarcRecord, DmarcReport

WINDOWS = (1, 7, 30)  # days the panel offers


@dataclass(frozen=True)
class SourceRow:
    """One sending IP seen in the reports for a domain: Mandrill's, a known sender's, or a
    stranger's that may be spoofing."""

    ip: str
    group: str  # mandrill | known | unknown
    label: str  # "Mandrill", the known sender's name, or ""
    messages: int
    passed: int
    reporters: tuple[str, ...]
    spoofing: bool = False
    rdns: str = ""

    @property
    def failed(self) -> int:
        return self.messages - self.passed


@dataclass(frozen=True)
class DomainRow:
    """What the reports say about one of our domains over the window, per source, for the
    DMARC screen."""

    domain: str
    days: int
    messages: int
    passed: int
    dkim_aligned: int
    spf_aligned: int
    sources: tuple[SourceRow, ...]  # most messages first
    reporters: tuple[tuple[str, int], ...]  # (org, messages), most first
    reports: int
    last_report_at: datetime | None
    mandrill_messages: int = 0
    mandrill_passed: int = 0

    def rate(self, n: int) -> float | None:
        return n / self.messages if self.messages else None

    @property
    def pass_rate(self) -> float | None:
        return self.rate(self.passed)

    @property
    def mandrill_pass_rate(self) -> float | None:
        return self.mandrill_passed / self.mandrill_messages if self.mandrill_messages else None

    @property
    def unknown_sources(self) -> tuple[SourceRow, ...]:
        return tuple(s for s in self.sources if s.group == "unknown")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(ranges: tuple[str, ...]) -> tuple[tuple[str, Network], ...]:
    out = []
    for item in ranges:
        name, _, cidr = item.rpartition("=")
        out.append((name.strip(), ipaddress.ip_network(cidr.strip(), strict=False)))
    return tuple(out)


def classify(ip: str, account_ips: Iterable[str], cfg: DmarcConfig) -> tuple[str, str]:
    """(group, label) of a source IP; an unparseable IP is unknown."""
    if ip in set(account_ips):
        return "mandrill", "Mandrill (this account)"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown", ""
    for _, net in _networks(tuple(cfg.mandrill_ranges)):
        if addr.version == net.version and addr in net:
            return "mandrill", "Mandrill"
    for name, net in _networks(tuple(cfg.known_senders)):
        if addr.version == net.version and addr in net:
            return "known", name
    return "unknown", ""


#: Override reasons that explain a failure without anyone posing as us.
FORWARDING = ("forwarded", "mailing_list", "trusted_forwarder")


def _forwarding(rec: DmarcRecord) -> bool:
    return any(r.split(":", 1)[0].strip() in FORWARDING for r in rec.reasons)


def in_window(reports: Iterable[DmarcReport], now: datetime, days: int) -> list[DmarcReport]:
    since = now - timedelta(days=days)
    return [r for r in reports if r.end >= since]


def summarize(
    reports: Sequence[DmarcReport],
    now: datetime,
    days: int,
    account_ips: Iterable[str],
    cfg: DmarcConfig,
    rdns: Mapping[str, str] | None = None,
) -> list[DomainRow]:
    """One row per domain with reports in the last `days` days."""
    ips = tuple(account_ips)
    rdns = rdns or {}
    by_domain: dict[str, list[DmarcReport]] = {}
    for r in in_window(reports, now, days):
        by_domain.setdefault(r.domain, []).append(r)
    rows = []
    for domain, mine in sorted(by_domain.items()):
        per_ip: dict[str, list[tuple[str, DmarcRecord]]] = {}
        reporters: dict[str, int] = {}
        for rep in mine:
            for rec in rep.records:
                per_ip.setdefault(rec.source_ip, []).append((rep.org_name, rec))
                reporters[rep.org_name] = reporters.get(rep.org_name, 0) + rec.count
            reporters.setdefault(rep.org_name, 0)
        sources = []
        for ip, items in per_ip.items():
            group, label = classify(ip, ips, cfg)
            total = sum(rec.count for _, rec in items)
            passed = sum(rec.count for _, rec in items if rec.passed)
            # failures a receiver explained (forwarded, mailing list…) are not spoofing
            unexplained = sum(
                rec.count for _, rec in items if not rec.passed and not _forwarding(rec)
            )
            sources.append(
                SourceRow(
                    ip,
                    group,
                    label,
                    total,
                    passed,
                    tuple(sorted({org for org, _ in items})),
                    spoofing=group == "unknown" and unexplained > cfg.spoof_min_messages,
                    rdns=rdns.get(ip, ""),
                )
            )
        sources.sort(key=lambda s: (-s.messages, s.ip))
        records = [rec for rep in mine for rec in rep.records]
        mandrill = [s for s in sources if s.group == "mandrill"]
        rows.append(
            DomainRow(
                domain=domain,
                days=days,
                messages=sum(r.count for r in records),
                passed=sum(r.count for r in records if r.passed),
                dkim_aligned=sum(r.count for r in records if r.dkim == "pass"),
                spf_aligned=sum(r.count for r in records if r.spf == "pass"),
                sources=tuple(sources),
                reporters=tuple(sorted(reporters.items(), key=lambda kv: (-kv[1], kv[0]))),
                reports=len(mine),
                last_report_at=max(r.end for r in mine),
                mandrill_messages=sum(s.messages for s in mandrill),
                mandrill_passed=sum(s.passed for s in mandrill),
            )
        )
    return rows


def source_records(
    reports: Sequence[DmarcReport], domain: str, ip: str
) -> list[tuple[DmarcReport, DmarcRecord]]:
    """Every record of one source for one domain (the detail screen), newest report first."""
    out = [(rep, rec) for rep in reports if rep.domain == domain for rec in rep.records
           if rec.source_ip == ip]  # fmt: skip
    out.sort(key=lambda pair: pair[0].end, reverse=True)
    return out
