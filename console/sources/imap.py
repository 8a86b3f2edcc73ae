"""Seed mailboxes over IMAP: find a test message by its token and say which folder holds it.

imap-tools (maintained, synchronous) runs in a worker thread; TLS is verified
by default. Every failure becomes an ImapError whose title names the server
and the user, never the password.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from imap_tools import AND, H, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessageFlags
from imap_tools.errors import ImapToolsError, MailboxFolderSelectError, MailboxLoginError

from console.files import FileRefused, read_text
from console.limits import CA_FILE_BYTES
from console.secret import Secret
from console.sources.base import SourceError

if TYPE_CHECKING:
    from console.model import Placement

SEED_HEADER = "X-Mailops-Seed"

#: Spam folder names to try when the server does not flag one with \Junk (RFC 6154).
SPAM_FOLDERS = {
    "gmail": ("[Gmail]/Spam",),
    "outlook": ("Junk Email", "Junk E-mail", "Junk"),
    "yahoo": ("Bulk Mail",),
    "other": ("Junk", "Spam", "Junk Email", "Bulk Mail"),
}
ARCHIVE_FOLDERS = {"gmail": ("[Gmail]/All Mail",)}


class ImapError(SourceError):
    pass


@dataclass(frozen=True)
class SeedMailbox:
    name: str
    provider: str  # gmail | outlook | yahoo | other
    host: str
    port: int
    username: str
    password: Secret
    security: str = "tls"  # tls | starttls | none
    folders: tuple[str, ...] = ()  # empty: INBOX, the \Junk folder(s), the provider's names
    ca_file: str | None = None  # trust this CA too (self-signed test servers)
    timeout: float = 15.0
    after_found: str = "keep"  # keep | flag | delete the test message once it is found

    async def find(self, token: str) -> Found | None:
        """The Mailbox interface seed runs use (the demo has an in-memory one)."""
        return await find_token(self, token)


@dataclass(frozen=True)
class Found:
    """Where the token turned up, and the headers placement analysis needs."""

    folder: str
    placement: Placement  # inbox, spam or other here
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    date: str = ""
    note: str = ""  # e.g. the message could not be flagged or deleted afterwards


def _ssl_context(box: SeedMailbox) -> ssl.SSLContext:
    """The default trust, plus the private CA of `ca_file`: read here as a small regular
    file (OpenSSL would wait for ever on a FIFO), then handed over as data."""
    ctx = ssl.create_default_context()
    if box.ca_file:
        path = Path(box.ca_file).expanduser()
        try:
            ctx.load_verify_locations(cadata=read_text(path, CA_FILE_BYTES))
        except FileRefused as exc:
            raise ImapError(f"Cannot use the CA file {path} for {box.host}: {exc}") from None
        except ssl.SSLError:
            raise ImapError(f"The CA file {path} for {box.host} holds no PEM certificate") from None
    return ctx


def connect(box: SeedMailbox) -> MailBox | MailBoxUnencrypted | MailBoxStartTls:
    where = f"{box.host}:{box.port}"
    mb: MailBox | MailBoxUnencrypted | MailBoxStartTls
    try:
        if box.security == "tls":
            mb = MailBox(box.host, box.port, timeout=box.timeout, ssl_context=_ssl_context(box))
        elif box.security == "starttls":
            mb = MailBoxStartTls(
                box.host, box.port, timeout=box.timeout, ssl_context=_ssl_context(box)
            )
        else:
            mb = MailBoxUnencrypted(box.host, box.port, timeout=box.timeout)
    except ssl.SSLCertVerificationError as exc:
        raise ImapError(
            f"TLS to {where} failed: certificate not trusted ({exc.verify_message})"
        ) from None
    except ssl.SSLError as exc:
        raise ImapError(f"TLS to {where} failed ({exc.reason or type(exc).__name__})") from None
    except TimeoutError:
        raise ImapError(f"IMAP server {where} did not answer within {box.timeout:g}s") from None
    except OSError as exc:
        raise ImapError(
            f"Cannot reach IMAP server {where} ({exc.strerror or type(exc).__name__})"
        ) from None
    try:
        mb.login(box.username, box.password.reveal())
    except MailboxLoginError:
        raise ImapError(
            f"IMAP login to {where} failed for {box.username} (wrong user or app password?)"
        ) from None
    except TimeoutError:
        raise ImapError(f"IMAP server {where} did not answer within {box.timeout:g}s") from None
    return mb


def _configured_folders(
    box: SeedMailbox, listed: dict[str, tuple[str, ...]]
) -> dict[str, Placement]:
    """The folders the seed's config names, each judged by its flags or its name; one that
    the server does not list is an error, not silently skipped."""
    missing = [f for f in box.folders if f not in listed and f.upper() != "INBOX"]
    if missing:
        raise ImapError(f"{box.name}: folder {missing[0]!r} does not exist on {box.host}")
    out: dict[str, Placement] = {}
    for f in box.folders:
        flags = listed.get(f, ())
        spam = (
            "\\Junk" in flags
            or f in SPAM_FOLDERS.get(box.provider, ())
            or f in SPAM_FOLDERS["other"]
        )
        out[f] = "inbox" if f.upper() == "INBOX" else ("spam" if spam else "other")
    return out


def _provider_folders(box: SeedMailbox, listed: dict[str, tuple[str, ...]]) -> dict[str, Placement]:
    """With no folders configured: INBOX, the folders flagged Junk (or, when none is, the
    provider's usual spam folder names) and the provider's archive folders."""
    out: dict[str, Placement] = {"INBOX": "inbox"}
    for name, flags in listed.items():
        if "\\Junk" in flags:
            out[name] = "spam"
    if "spam" not in out.values():
        for name in SPAM_FOLDERS.get(box.provider, SPAM_FOLDERS["other"]):
            if name in listed:
                out[name] = "spam"
    for name in ARCHIVE_FOLDERS.get(box.provider, ()):
        if name in listed:
            out[name] = "other"
    return out


def _folders(
    mb: MailBox | MailBoxUnencrypted | MailBoxStartTls, box: SeedMailbox
) -> dict[str, Placement]:
    """Folder → placement it stands for, INBOX first."""
    listed = {f.name: f.flags for f in mb.folder.list()}
    if box.folders:
        return _configured_folders(box, listed)
    return _provider_folders(box, listed)


def find_token_sync(box: SeedMailbox, token: str) -> Found | None:
    mb = connect(box)
    try:
        for folder, placement in _folders(mb, box).items():
            try:
                mb.folder.set(folder, readonly=True)
            except MailboxFolderSelectError:
                raise ImapError(
                    f"{box.name}: cannot open folder {folder!r} on {box.host}"
                ) from None
            for msg in mb.fetch(
                AND(header=H(SEED_HEADER, token)), headers_only=True, mark_seen=False
            ):
                found = Found(folder, placement, dict(msg.headers), msg.date_str)
                if box.after_found != "keep" and msg.uid:
                    try:
                        _tidy(mb, box, folder, msg.uid)
                    except ImapError as exc:  # the placement is known; say what was left
                        found = replace(found, note=exc.title)
                return found
        return None
    except TimeoutError:
        raise ImapError(f"IMAP server {box.host}:{box.port} stopped answering") from None
    finally:
        try:
            mb.logout()
        except Exception:  # already gone: nothing to tidy
            pass


def _tidy(
    mb: MailBox | MailBoxUnencrypted | MailBoxStartTls, box: SeedMailbox, folder: str, uid: str
) -> None:
    """Flag or delete a found test message, so seed boxes do not fill up or look unread."""
    try:
        mb.folder.set(folder, readonly=False)
        if box.after_found == "delete":
            mb.delete(uid)
        else:
            mb.flag(uid, (MailMessageFlags.SEEN, MailMessageFlags.FLAGGED), True)
    except MailboxFolderSelectError:
        raise ImapError(f"{box.name}: folder {folder!r} on {box.host} is read-only") from None
    except ImapToolsError as exc:
        raise ImapError(
            f"{box.name}: could not {box.after_found} the test message in {folder!r} "
            f"({type(exc).__name__})"
        ) from None


async def find_token(box: SeedMailbox, token: str) -> Found | None:
    """Search every folder of `box` for the seed token; None while it has not arrived."""
    return await asyncio.to_thread(find_token_sync, box, token)
