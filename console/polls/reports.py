"""DMARC aggregate reports: imported from a directory and/or the rua mailbox, then the
reverse DNS of their source IPs, a bounded batch per poll."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import ConfigError, resolve_dmarc_password
from console.model import IpDns
from console.sources.base import SourceError
from console.sources.dmarc_inbox import fetch_reports, import_directory
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
    d = p.config.dmarc
    items = []
    if d.directory:
        items += await asyncio.to_thread(import_directory, Path(d.directory).expanduser())
    box = dmarc_box(p)
    if box is not None:
        items += await fetch_reports(box, d.folder, d.after, d.processed_folder, d.max_messages)

    cutoff = p.clock() - timedelta(days=d.retention_days)
    old = [r for i in items for r in i.reports if r.end < cutoff]

    def save() -> tuple[int, list[str]]:
        fresh = (r for i in items for r in i.reports if r.end >= cutoff)
        added, _ = p.store.add_dmarc_reports(fresh)
        p.store.prune_dmarc(d.retention_days)
        return len(added), _rdns_wanted(p)

    added, wanted = await p.db(save)
    rejected = tuple(f"{i.name}: {i.error}" for i in items if i.error)
    if old:
        rejected += (
            f"{len(old)} report(s) older than the {d.retention_days}-day retention skipped",
        )
    for line in rejected:
        log.warning("DMARC report refused: %s", line)
    if wanted and p.dns is not None:
        names = await reverse_dns(p.dns, wanted[:RDNS_BATCH])
        await p.db(_save_rdns, p, names)
    return PollResult(dmarc=await p.db(p.dmarc_view, added, rejected))


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
