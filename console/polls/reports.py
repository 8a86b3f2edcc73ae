"""DMARC aggregate reports and SMTP TLS reports: imported from a directory and/or the
rua mailbox (and [tlsrpt]'s directory), then the reverse DNS of the DMARC reports'
source IPs, a bounded batch per poll."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import ConfigError, resolve_dmarc_password
from console.model import IpDns
from console.sources.base import SourceError
from console.sources.dmarc_inbox import Item, fetch_reports, import_directory
from console.sources.dns import reverse_dns
from console.sources.imap import SeedMailbox
from console.updates import PollResult

if TYPE_CHECKING:
    from console.jobs import Pipeline

log = logging.getLogger(__name__)

#: reverse lookups of report source IPs per poll: never in the import's way
RDNS_BATCH = 64


def dmarc_box(p: Pipeline) -> SeedMailbox | None:
    """The rua mailbox, if one is configured (its password read once, kept as a Secret)."""
    d = p.config.dmarc
    if not d.imap_host:
        return None
    if p.dmarc_password is None:
        try:
            p.dmarc_password = resolve_dmarc_password(d)
        except ConfigError as exc:
            raise SourceError(str(exc), final=True) from None
    return SeedMailbox(
        "dmarc", "other", d.imap_host, d.imap_port, d.username, p.dmarc_password,
        d.imap_security, ca_file=d.ca_file,
    )  # fmt: skip


async def poll_dmarc(p: Pipeline) -> PollResult:
    items = await _read_items(p)
    d, t = p.config.dmarc, p.config.tlsrpt
    now = p.clock()
    cutoff, tls_cutoff = (
        now - timedelta(days=d.retention_days),
        now - timedelta(days=t.retention_days),
    )
    old = [r for i in items for r in i.reports if r.end < cutoff]
    old_tls = [r for i in items for r in i.tls if r.end < tls_cutoff]

    def save() -> tuple[int, int, list[str]]:
        fresh = (r for i in items for r in i.reports if r.end >= cutoff)
        added, _ = p.store.add_dmarc_reports(fresh)
        p.store.prune_dmarc(d.retention_days)
        tls, _ = p.store.add_tls_reports(r for i in items for r in i.tls if r.end >= tls_cutoff)
        p.store.prune_tls_reports(t.retention_days)
        return len(added), len(tls), _rdns_wanted(p)

    added, added_tls, wanted = await p.db(save)
    rejected = tuple(f"{i.name}: {i.error}" for i in items if i.error)
    if old or old_tls:
        rejected += (f"{len(old) + len(old_tls)} report(s) older than their retention skipped",)
    for line in rejected:
        log.warning("report refused: %s", line)
    if wanted and p.dns is not None:
        names = await reverse_dns(p.dns, wanted[:RDNS_BATCH])
        await p.db(_save_rdns, p, names)
    dmarc = await p.db(p.dmarc_view, added, rejected)
    return PollResult(dmarc=dmarc, tls=await p.db(p.tls_view, added_tls))


async def _read_items(p: Pipeline) -> list[Item]:
    """Every file and attachment waiting: [dmarc]'s directory and mailbox, [tlsrpt]'s
    directory."""
    d = p.config.dmarc
    items = []
    for folder in (d.directory, p.config.tlsrpt.directory):
        if folder:
            items += await asyncio.to_thread(import_directory, Path(folder).expanduser())
    box = dmarc_box(p)
    if box is not None:
        items += await fetch_reports(box, d.folder, d.after, d.processed_folder, d.max_messages)
    return items


def _rdns_wanted(p: Pipeline) -> list[str]:
    snap = p.store.get_snapshot("dmarc_rdns", dict[str, str])
    known = snap[0] if snap else {}
    since = p.clock() - timedelta(days=30)
    ips = {rec.source_ip for r in p.store.dmarc_reports(since) for rec in r.records}
    return sorted(ip for ip in ips if ip not in known)


def _save_rdns(p: Pipeline, found: list[IpDns]) -> None:
    snap = p.store.get_snapshot("dmarc_rdns", dict[str, str])
    known = dict(snap[0]) if snap else {}
    for r in found:
        known[r.ip] = r.ptr[0] if r.ptr else ""
    p.store.put_snapshot("dmarc_rdns", known, p.wall())
    p.store.commit()
