"""Where DMARC aggregate reports arrive: a directory of files, or the rua IMAP mailbox.

Each item read is handed over as (what it was, reports or the reason it was
refused); a refused report never stops the rest. Files are moved aside once
read (processed/ or rejected/), IMAP messages moved to a folder or flagged, so
nothing is read twice and nothing is lost.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imap_tools import (
    AND,
    MailBox,
    MailBoxStartTls,
    MailBoxUnencrypted,
    MailMessage,
    MailMessageFlags,
)
from imap_tools.errors import ImapToolsError

from console.dmarcxml import MAX_INPUT, ReportError
from console.files import FileRefused, read_regular
from console.model import DmarcReport, TlsReport
from console.sources.base import SourceError
from console.sources.imap import ImapError, SeedMailbox, connect
from console.tlsrpt import parse_any


@dataclass
class Item:
    """One file or one mail attachment and what became of it."""

    name: str
    reports: list[DmarcReport] = field(default_factory=list)
    error: str = ""
    tls: list[TlsReport] = field(default_factory=list)  # SMTP TLS reports (JSON)


def parsed(name: str, data: bytes) -> Item:
    """The reports in one file or attachment, or why it was refused."""
    try:
        dmarc, tls = parse_any(data)
    except ReportError as exc:
        return Item(name, error=str(exc))
    return Item(name, dmarc, tls=tls)


def read_file(path: Path) -> Item:
    """One report file, refused with its reason when it is not a regular file (a device
    such as /dev/zero stats as 0 bytes and never ends) or holds more than MAX_INPUT."""
    try:
        data = read_regular(path, MAX_INPUT)
    except FileRefused as exc:
        return Item(path.name, error=str(exc))
    return parsed(path.name, data)


def iter_paths(paths: list[Path]) -> Iterator[Path]:
    """Files named, and the files inside directories named (recursively, sorted)."""
    for p in paths:
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*") if x.is_file())
        else:
            yield p


def import_directory(directory: Path, limit: int = 500) -> list[Item]:
    """Read the report files waiting in `directory`, then move each to processed/ or
    rejected/ beside them (a name already there gets a number)."""
    if not directory.is_dir():
        raise SourceError(f"report directory {directory} does not exist")
    items = []
    waiting = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    for path in waiting[:limit]:
        item = read_file(path)
        dest = directory / ("rejected" if item.error else "processed")
        dest.mkdir(exist_ok=True)
        target = dest / path.name
        n = 1
        while target.exists():
            n += 1
            target = dest / f"{path.stem}-{n}{path.suffix}"
        try:
            os.replace(path, target)
        except OSError as exc:
            item.error = item.error or f"read, but could not be moved aside ({exc.strerror})"
        items.append(item)
    return items


def _message_items(msg: MailMessage) -> list[Item]:
    """A report message's attachments, each parsed or refused with its reason; a message
    with none is refused as a whole."""
    label = (msg.subject or "(no subject)")[:120]
    atts = [a for a in msg.attachments if a.payload]
    if not atts:
        return [Item(label, error="no attachment")]
    items: list[Item] = []
    for att in atts:
        items.append(parsed(f"{label} / {att.filename}", att.payload))
    return items


def _put_aside(
    mb: MailBox | MailBoxUnencrypted | MailBoxStartTls, uids: list[str], after: str, moved_to: str
) -> None:
    """Flag the messages read, or move them to `moved_to` (made when missing), so that none
    is read twice."""
    if after == "flag":
        mb.flag(uids, (MailMessageFlags.SEEN, MailMessageFlags.FLAGGED), True)
    else:
        if not mb.folder.exists(moved_to):
            mb.folder.create(moved_to)
        mb.move(uids, moved_to)


def _fetch_sync(box: SeedMailbox, folder: str, after: str, moved_to: str, limit: int) -> list[Item]:
    mb = connect(box)
    items: list[Item] = []
    try:
        try:
            mb.folder.set(folder)
        except ImapToolsError:
            raise ImapError(f"DMARC mailbox: cannot open folder {folder!r} on {box.host}") from None
        criteria = AND(flagged=False) if after == "flag" else AND(all=True)
        done: list[str] = []
        for msg in mb.fetch(criteria, limit=limit, mark_seen=False, bulk=True):
            items.extend(_message_items(msg))
            if msg.uid:
                done.append(msg.uid)
        if done:
            _put_aside(mb, done, after, moved_to)
        return items
    except TimeoutError:
        raise ImapError(f"IMAP server {box.host}:{box.port} stopped answering") from None
    except ImapToolsError as exc:
        raise ImapError(f"DMARC mailbox on {box.host}: {type(exc).__name__}") from None
    finally:
        try:
            mb.logout()
        except Exception:  # already gone
            pass


async def fetch_reports(
    box: SeedMailbox, folder: str, after: str, moved_to: str, limit: int
) -> list[Item]:
    """Read up to `limit` report messages from the rua mailbox, then move or flag them."""
    return await asyncio.to_thread(_fetch_sync, box, folder, after, moved_to, limit)
