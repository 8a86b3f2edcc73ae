"""DNS and blocklist findings, and the severity order the alert rules share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.model import BlocklistView, DomainDns


ORDER = {"ok": 0, "warning": 1, "critical": 2}

#: Below this many messages a rate says more about chance than about the sender.
MIN_VOLUME = 100


@dataclass(frozen=True)
class Finding:
    """One thing wrong, worded for the operator; the severity decides `check`'s exit code."""

    severity: str  # warning | critical
    text: str
    topic: str = ""  # lets a panel pick the findings it shows (e.g. "seed-spam")


def dns_findings(domains: Sequence[DomainDns], blocklists: BlocklistView | None) -> list[Finding]:
    """A listing on a major list or failing SPF/DKIM/DMARC is critical; anything that left
    a question unanswered (error, broken, timeout) is a warning — never "ok"."""
    found: list[Finding] = []
    from console.analysis.authdns import auth_judgements  # the model loads after the frame

    for d in domains:
        found += [Finding(sev, text) for _, sev, text in auth_judgements(d)]
    if blocklists is not None:
        for item in blocklists.listings:
            where = f"{item.target} on {item.zone}"
            if item.verdict == "listed":
                sev = "critical" if item.major else "warning"
                found.append(Finding(sev, f"{where}: listed ({item.meaning})"))
            elif item.verdict in ("error", "broken", "timeout"):
                found.append(Finding("warning", f"{where}: {item.verdict}: {item.meaning}"))
        for ip in blocklists.ips:
            if ip.fcrdns is False or ip.error:
                found.append(Finding("warning", f"{ip.ip}: rDNS: {ip.error or 'not confirmed'}"))
    return found
