"""What a poll hands on: its result, and the finished poll as the screen receives it.

Kept apart from the pipeline so the polls (console/polls/) and the app can both name
these types without importing the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from console.analysis.alerts import ContentView
from console.analysis.dmarc import DomainRow
from console.analysis.tlsrpt import TlsDomainRow
from console.model import (
    AccountView,
    Alert,
    BlocklistView,
    DomainDns,
    GmailBoard,
    IpView,
    MessageEvent,
    Reject,
    SeedProgress,
    SeedRun,
    SenderDomain,
    SourceStatus,
    SubaccountRow,
)


@dataclass(frozen=True)
class DmarcView:
    """The DMARC panel's data: per window (1, 7, 30 days) a row per domain."""

    windows: dict[int, tuple[DomainRow, ...]]
    reports: int = 0  # stored reports in the longest window
    imported: int = 0  # by this poll
    rejected: tuple[str, ...] = ()  # "name: why", by this poll


@dataclass(frozen=True)
class TlsView:
    """SMTP TLS reports per window (1, 7, 30 days): a row per domain of ours."""

    windows: dict[int, tuple[TlsDomainRow, ...]]
    reports: int = 0  # stored reports in the longest window
    imported: int = 0  # by this poll


@dataclass(frozen=True)
class AlertsView:
    """Every stored alert, and what this evaluation opened (new or escalated) or resolved."""

    alerts: tuple[Alert, ...]
    opened: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()

    @property
    def open(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.resolved_at is None)


@dataclass(frozen=True)
class PollResult:
    """What a successful poll changed; None means "this poll says nothing about it"."""

    account: AccountView | None = None
    ips: IpView | None = None
    subaccounts: tuple[SubaccountRow, ...] | None = None
    new_events: tuple[MessageEvent, ...] = ()
    domains: tuple[SenderDomain, ...] | None = None
    rejects: tuple[Reject, ...] | None = None
    dns: tuple[DomainDns, ...] | None = None
    blocklists: BlocklistView | None = None
    seed_runs: tuple[SeedRun, ...] | None = None  # the latest runs, oldest first
    seed_progress: SeedProgress | None = None  # a seed test still waiting
    alerts: AlertsView | None = None  # set when this poll changed the alerts
    dmarc: DmarcView | None = None
    content: ContentView | None = None
    gmail: GmailBoard | None = None  # a poll of Gmail: its days beside Mandrill's
    tls: TlsView | None = None
    #: a read of messages: the last second up to which it read everything but `unread`,
    #: the window it left for the next poll, and why it is not all ('' if it is)
    covered_until: datetime | None = None
    unread: tuple[datetime, datetime] | None = None
    partial: str = ""


@dataclass(frozen=True)
class Update:
    """One finished poll, good or bad, handed to whoever displays it."""

    source: str
    status: SourceStatus
    result: PollResult = PollResult()


Publish = Callable[[Update], None]
