"""One verdict for the whole account — what `mailops check` exits with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from console.config import Thresholds
from console.model import Account, BlocklistView, DomainDns, IpRow, SubaccountRow

ORDER = {"ok": 0, "warning": 1, "critical": 2}

#: Below this many messages a rate says more about chance than about the sender.
MIN_VOLUME = 100


@dataclass(frozen=True)
class Finding:
    severity: str  # warning | critical
    text: str
    topic: str = ""  # lets a panel pick the findings it shows (e.g. "seed-spam")


def evaluate(
    account: Account | None,
    ips: Sequence[IpRow],
    subaccounts: Sequence[SubaccountRow],
    t: Thresholds,
) -> tuple[str, list[Finding]]:
    found: list[Finding] = []
    if account is not None:
        rep = account.reputation
        if rep is not None and rep < t.reputation_poor:
            found.append(Finding("critical", f"account reputation {rep} is Poor"))
        elif rep is not None and rep < t.reputation_good:
            found.append(
                Finding("warning", f"account reputation {rep} is below {t.reputation_good}")
            )
        week = account.stats.get("last_7_days")
        if week is not None and week.sent >= MIN_VOLUME:
            cr = week.complaint_rate or 0.0
            if cr >= t.complaint_critical:
                found.append(Finding("critical", f"complaint rate {cr:.2%} over 7 days"))
            elif cr >= t.complaint_warning:
                found.append(Finding("warning", f"complaint rate {cr:.2%} over 7 days"))
            hb = week.hard_bounce_rate or 0.0
            if hb > t.hard_bounce_rate:
                found.append(Finding("warning", f"hard-bounce rate {hb:.2%} over 7 days"))
    for row in ips:
        if row.noisy:
            found.append(Finding("warning", f"{row.ip}: {row.note}"))
    for s in subaccounts:
        sub_rate = s.complaint_rate
        if sub_rate is not None and s.messages >= MIN_VOLUME and sub_rate >= t.complaint_critical:
            found.append(Finding("warning", f"customer {s.id}: complaint rate {sub_rate:.2%}"))
    status = max((f.severity for f in found), key=lambda s: ORDER[s], default="ok")
    return status, found


def dns_findings(domains: Sequence[DomainDns], blocklists: BlocklistView | None) -> list[Finding]:
    """A listing on a major list or failing SPF/DKIM/DMARC is critical; anything that left
    a question unanswered (error, broken, timeout) is a warning — never "ok"."""
    found: list[Finding] = []
    for d in domains:
        if not d.spf.valid:
            found.append(Finding("critical", f"{d.domain}: SPF fails: {d.spf.error}"))
        for k in d.dkim:
            if not k.valid:
                found.append(Finding("critical", f"{d.domain}: DKIM {k.selector} fails: {k.error}"))
        if not d.dmarc.valid:
            found.append(Finding("critical", f"{d.domain}: DMARC fails: {d.dmarc.error}"))
        elif d.dmarc.policy == "none":
            found.append(Finding("warning", f"{d.domain}: DMARC policy is none (monitoring only)"))
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
