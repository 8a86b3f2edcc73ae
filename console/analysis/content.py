"""Checks on a message that do not need SpamAssassin: what receivers reject or distrust.

Pure: an RFC 5322 message in, findings out. Link domains are returned too, so
the caller can hold them against the domain blocklists the DNS sweep read.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from console.model import LintFinding, RuleHit

MAX_SIZE = 102 * 1024  # Gmail clips messages larger than this
ATTACHMENT_BIG = 2 * 1024 * 1024
_URL = re.compile(r"""https?://([A-Za-z0-9.-]+)""", re.IGNORECASE)
_DKIM_D = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.IGNORECASE)


def _org(domain: str) -> str:
    """A rough organizational domain (last two labels): enough for relaxed alignment here."""
    parts = domain.lower().rstrip(".").split(".")
    return ".".join(parts[-2:])


def link_domains(msg: EmailMessage) -> list[str]:
    found: dict[str, None] = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text" and not part.get_filename():
            try:
                text = part.get_content()
            except (LookupError, ValueError):
                continue
            for m in _URL.finditer(str(text)):
                found[m.group(1).lower().rstrip(".")] = None
    return list(found)


def lint(raw: bytes, *, bulk: bool = False) -> tuple[list[LintFinding], list[str]]:
    """(findings, link domains) for one message."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    out = _size_findings(raw)
    out += _part_findings(msg)
    if bulk:
        out += _unsubscribe_findings(msg)
    out += _dkim_alignment_findings(msg)
    return out, link_domains(msg)


def _size_findings(raw: bytes) -> list[LintFinding]:
    """Past Gmail's clipping size the end of the message, unsubscribe link and all, hides."""
    if len(raw) <= MAX_SIZE:
        return []
    return [
        LintFinding(
            "too_large",
            f"message is {len(raw) / 1024:.0f} KB; Gmail clips above 102 KB and hides "
            "the rest (including the unsubscribe link)",
        )
    ]


def _part_findings(msg: EmailMessage) -> list[LintFinding]:
    """Each attachment's findings in the message's order, then whether a text part is
    missing (an attachment's text/plain does not count)."""
    out: list[LintFinding] = []
    has_text = False
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        if filename or part.get_content_disposition() == "attachment":
            out += _attachment_findings(part, filename, ctype)
            continue
        if ctype == "text/plain":
            has_text = True
    if not has_text:
        out.append(
            LintFinding(
                "no_text_part",
                "no text/plain part: HTML-only mail scores worse and reads badly in some clients",
            )
        )
    return out


def _attachment_findings(part: EmailMessage, filename: str | None, ctype: str) -> list[LintFinding]:
    """A PDF or a type filters distrust, and an attachment too big to send."""
    out: list[LintFinding] = []
    size = len(part.get_payload(decode=True) or b"")
    name = filename or "(unnamed)"
    if ctype == "application/pdf" or name.lower().endswith(".pdf"):
        out.append(
            LintFinding(
                "attachment_pdf",
                f"PDF attachment {name} ({size / 1024:.0f} KB): some corporate "
                "receivers reject or spam-folder PDFs; a link to it is safer",
            )
        )
    elif ctype in ("application/zip", "application/x-msdownload") or name.lower().endswith(
        (".zip", ".exe", ".js", ".html", ".htm")
    ):
        out.append(
            LintFinding(
                "attachment_risky",
                f"attachment {name} ({ctype}) is a type filters distrust",
            )
        )
    if size > ATTACHMENT_BIG:
        out.append(LintFinding("attachment_big", f"attachment {name} is {size / 2**20:.1f} MB"))
    return out


def _unsubscribe_findings(msg: EmailMessage) -> list[LintFinding]:
    """Bulk mail needs List-Unsubscribe, and RFC 8058's one-click with it."""
    if not msg.get("List-Unsubscribe"):
        return [
            LintFinding(
                "no_list_unsubscribe",
                "bulk mail without List-Unsubscribe: Gmail and Yahoo require it for bulk senders",
            )
        ]
    if "list-unsubscribe=one-click" not in str(msg.get("List-Unsubscribe-Post", "")).lower():
        return [
            LintFinding(
                "no_one_click",
                "List-Unsubscribe without 'List-Unsubscribe-Post: List-Unsubscribe=One-Click' "
                "(RFC 8058), which Gmail and Yahoo require for bulk mail",
            )
        ]
    return []


def _dkim_alignment_findings(msg: EmailMessage) -> list[LintFinding]:
    """DKIM signatures whose d= is not the From domain's: DMARC cannot pass through them."""
    out: list[LintFinding] = []
    from_domain = str(msg.get("From", "")).rpartition("@")[2].strip("> ").lower()
    for sig in msg.get_all("DKIM-Signature") or []:
        m = _DKIM_D.search(str(sig))
        if m and from_domain and _org(m.group(1)) != _org(from_domain):
            out.append(
                LintFinding(
                    "dkim_unaligned",
                    f"DKIM signs as {m.group(1)}, not the From domain {from_domain}: "
                    "DMARC cannot pass through DKIM",
                )
            )
    return out


def listed_links(domains: Iterable[str], listed: set[str]) -> list[LintFinding]:
    """Link domains (or their parents) that a domain blocklist lists."""
    out = []
    for d in domains:
        parts = d.split(".")
        hits = [".".join(parts[i:]) for i in range(len(parts) - 1) if ".".join(parts[i:]) in listed]
        if hits:
            out.append(
                LintFinding(
                    "link_listed", f"links to {d}, listed on a domain blocklist ({hits[0]})"
                )
            )
    return out


def median_before(history: Sequence[tuple[datetime, float]], now: datetime) -> float | None:
    """The 7-day median of earlier scores, the baseline a rise is measured against."""
    week = [v for t, v in history if now - timedelta(days=7) <= t < now]
    return statistics.median(week) if week else None


def top_rules(rules: Sequence[RuleHit], n: int = 3) -> str:
    """The rules that cost the most, and what the rest add, so the names shown and the
    points they leave out account for the score: "A, B, C + 4 more, 1.2 points"."""
    costly = sorted((h for h in rules if h.points > 0), key=lambda h: -h.points)
    parts = [", ".join(h.name for h in costly[:n])] if costly else ["no rule added points"]
    rest = costly[n:]
    if rest:
        parts[0] += f" + {len(rest)} more, {sum(h.points for h in rest):.1f} points"
    negative = sum(h.points for h in rules if h.points < 0)
    if negative:
        parts.append(f"{negative:.1f} from rules in its favour")
    return "; ".join(parts)
