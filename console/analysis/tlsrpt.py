"""SMTP TLS reports summed per domain: how many sessions other senders' MTAs opened to
our MX hosts, how many failed and why, and which sending and receiving ends they were.

Pure: stored TlsReport objects in, rows and signals out. A report counts in a window
when it ends inside it, as DMARC reports do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from console.analysis.health import Signal
from console.model import TlsPolicy, TlsReport

#: result types in plain words (RFC 8460 §4.3), for the screen and the alerts
RESULT_WORDS = {
    "starttls-not-supported": "STARTTLS not offered",
    "certificate-host-mismatch": "certificate names another host",
    "certificate-expired": "certificate expired",
    "certificate-not-trusted": "certificate not trusted",
    "validation-failure": "validation failed",
    "tlsa-invalid": "TLSA record invalid",
    "dnssec-invalid": "DNSSEC invalid",
    "dane-required": "DANE required, not possible",
    "sts-policy-fetch-error": "MTA-STS policy could not be fetched",
    "sts-policy-invalid": "MTA-STS policy invalid",
    "sts-webpki-invalid": "MTA-STS policy host's certificate invalid",
}


@dataclass(frozen=True)
class TlsPath:
    """One failure type between one sending MTA and one of our MX hosts, summed."""

    result_type: str
    sending_ip: str
    receiving_mx: str
    sessions: int


@dataclass(frozen=True)
class TlsDomainRow:
    """One of our domains over a window: sessions reported, failures by type and path."""

    domain: str
    reports: int
    successful: int
    failed: int
    by_type: dict[str, int] = field(default_factory=dict)
    paths: tuple[TlsPath, ...] = ()  # most failed sessions first
    reporters: tuple[str, ...] = ()
    policy_types: tuple[str, ...] = ()
    last_end: datetime | None = None

    @property
    def sessions(self) -> int:
        return self.successful + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.sessions if self.sessions else None


def summarize(reports: Sequence[TlsReport], now: datetime, days: int) -> list[TlsDomainRow]:
    """Per policy domain, the reports that end in the last `days` days; by name."""
    since = now - timedelta(days=days)
    acc: dict[str, _Acc] = {}
    for r in reports:
        if not since <= r.end <= now + timedelta(hours=1):
            continue
        for pol in r.policies:
            a = acc.setdefault(pol.domain, _Acc())
            a.add(r, pol)
    return [a.row(domain) for domain, a in sorted(acc.items())]


class _Acc:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.ok = self.failed = 0
        self.types: Counter[str] = Counter()
        self.paths: Counter[tuple[str, str, str]] = Counter()
        self.orgs: set[str] = set()
        self.kinds: set[str] = set()
        self.last: datetime | None = None

    def add(self, r: TlsReport, pol: TlsPolicy) -> None:
        self.keys.add(r.key)
        self.ok += pol.successful
        self.failed += pol.failed
        for f in pol.failures:
            self.types[f.result_type] += f.count
            self.paths[(f.result_type, f.sending_ip, f.receiving_mx)] += f.count
        self.orgs.add(r.org_name)
        self.kinds.add(pol.policy_type)
        self.last = r.end if self.last is None else max(self.last, r.end)

    def row(self, domain: str) -> TlsDomainRow:
        paths = sorted(self.paths.items(), key=lambda kv: (-kv[1], kv[0]))
        return TlsDomainRow(
            domain, len(self.keys), self.ok, self.failed, dict(self.types.most_common()),
            tuple(TlsPath(t, ip, mx, n) for (t, ip, mx), n in paths),
            tuple(sorted(self.orgs)), tuple(sorted(self.kinds)), self.last,
        )  # fmt: skip


def tls_signals(rows: Sequence[TlsDomainRow], rate_max: float, min_sessions: int) -> list[Signal]:
    """A domain whose reported sessions failed more often than `rate_max` (over at least
    `min_sessions`), naming the main failure type and where it happened."""
    out = []
    for row in rows:
        rate = row.failure_rate
        if rate is None or row.sessions < min_sessions or rate <= rate_max:
            continue
        top = row.paths[0] if row.paths else None
        why = ""
        if top is not None:
            words = RESULT_WORDS.get(top.result_type, top.result_type)
            mx = f" at {top.receiving_mx}" if top.receiving_mx else ""
            why = f"; mostly {words}{mx} ({top.sessions:,} sessions)"
        text = (f"TLS reports for {row.domain}: {rate:.1%} of {row.sessions:,} sessions to our "
                f"MX failed in 7 days (over {rate_max:.0%}){why}")  # fmt: skip
        out.append(Signal("tls_failures", f"tlsrpt {row.domain}", "warning", text))
    return out
