"""What every judgement is made of: a `Signal` (what the alert rules and the findings
share), the severity order, and the DNS and blocklist signals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.model import BlocklistView, DomainDns, Severity


ORDER = {"ok": 0, "warning": 1, "critical": 2}

#: Below this many messages a rate says more about chance than about the sender.
MIN_VOLUME = 100


@dataclass(frozen=True)
class Signal:
    rule: str
    subject: str  # what it is about: "account", "customer dandelion", "IP 198.51.100.13"…
    severity: Severity
    message: str
    topic: str = ""  # lets a panel pick the signals it shows (e.g. "seed-spam")

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.subject}"


@dataclass(frozen=True)
class Finding:
    """One thing wrong, worded for the operator; the severity decides `check`'s exit code."""

    severity: Severity
    text: str
    topic: str = ""  # lets a panel pick the findings it shows (e.g. "seed-spam")


def dns_findings(domains: Sequence[DomainDns], blocklists: BlocklistView | None) -> list[Finding]:
    """A listing on a major list or failing SPF/DKIM/DMARC is critical; anything that left
    a question unanswered (error, broken, timeout) is a warning — never "ok". The same
    judgements as the alert rules, worded the same."""
    found: list[Finding] = []
    from console.analysis.authdns import auth_judgements  # the model loads after the frame

    for d in domains:
        found += [Finding(sev, text) for _, sev, text in auth_judgements(d)]
    if blocklists is not None:
        found += [Finding(s.severity, s.message) for s in blocklist_signals(blocklists)]
    return found


def blocklist_signals(view: BlocklistView) -> list[Signal]:
    """Per target and list: listed (critical on a major list), or not known to be clean
    (error, broken, timeout); per sending IP, rDNS that is not forward-confirmed."""
    out: list[Signal] = []
    for item in view.listings:
        where = f"{item.target} on {item.zone}"
        if item.verdict == "listed":
            sev: Severity = "critical" if item.major else "warning"
            out.append(Signal("blocklist", where, sev, f"{where}: listed ({item.meaning})"))
        elif item.verdict in ("error", "broken", "timeout"):
            text = f"{where}: {item.verdict}: {item.meaning}"
            out.append(Signal("dns_unknown", where, "warning", text))
    for ip in view.ips:
        if ip.fcrdns is False or ip.error:
            text = f"{ip.ip}: rDNS: {ip.error or 'not confirmed'}"
            out.append(Signal("dns_unknown", ip.ip, "warning", text))
    return out
