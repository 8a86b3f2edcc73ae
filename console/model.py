"""The nouns of mailops: frozen dataclasses passed from sources to analysis to widgets.

Values Mandrill sends as open enums (states, reasons, event types) stay plain
strings here so a value added tomorrow is kept and shown instead of rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any, Literal

#: Message states that mean "nothing went wrong (yet)": counted, not shown in the feed.
QUIET_STATES = frozenset({"sent", "delivered", "queued", "scheduled", "canceled", "inbound"})

#: How the feed names a state; anything else is shown under its own name.
KIND_BY_STATE: Mapping[str, str] = {
    "bounced": "hard",
    "soft-bounced": "soft",
    "rejected": "reject",
    "invalid": "reject",
    "spam": "spam",
    "unsub": "unsub",
    "deferred": "deferred",
}

#: mailops' own fixed sets (Mandrill's open enums above stay strings). Stored records
#: holding another value are unreadable and skipped, said once (see console/codec.py).
Severity = Literal["warning", "critical"]
#: A DNSBL's answer for one target: see console/analysis/dnsbl.py for each meaning.
Verdict = Literal["listed", "not_listed", "error", "broken", "timeout"]
#: Where a seed test message was found (or why it was not).
Placement = Literal["inbox", "spam", "other", "missing", "rejected", "error"]

#: The kinds the feed filter cycles through, in order.
FEED_KINDS = ("hard", "soft", "reject", "spam", "unsub", "deferred")


def kind_of(state: str) -> str:
    return KIND_BY_STATE.get(state, state)


@dataclass(frozen=True)
class Stats:
    """One period of users/info `stats` (today, last_7_days …)."""

    sent: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    rejects: int = 0
    complaints: int = 0
    unsubs: int = 0
    opens: int = 0
    clicks: int = 0

    def _rate(self, n: int) -> float | None:
        return n / self.sent if self.sent else None

    @property
    def delivered(self) -> int:
        return max(0, self.sent - self.hard_bounces - self.soft_bounces - self.rejects)

    @property
    def delivery_rate(self) -> float | None:
        return self._rate(self.delivered)

    @property
    def hard_bounce_rate(self) -> float | None:
        return self._rate(self.hard_bounces)

    @property
    def soft_bounce_rate(self) -> float | None:
        return self._rate(self.soft_bounces)

    @property
    def reject_rate(self) -> float | None:
        return self._rate(self.rejects)

    @property
    def complaint_rate(self) -> float | None:
        return self._rate(self.complaints)


@dataclass(frozen=True)
class Account:
    """users/info: the account's reputation and quota, which every panel is read against."""

    username: str
    reputation: int | None
    hourly_quota: int | None
    backlog: int | None
    stats: Mapping[str, Stats] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Warmup:
    """An IP's warm-up window as ips/list reports it."""

    warming_up: bool
    start_at: datetime | None = None
    end_at: datetime | None = None


@dataclass(frozen=True)
class Ip:
    """A dedicated IP from ips/list (shared-pool IPs never appear there)."""

    ip: str
    pool: str
    domain: str
    warmup: Warmup
    created_at: datetime | None = None


@dataclass(frozen=True)
class Subaccount:
    """One customer as subaccounts/list reports it: alerts name the customer by it."""

    id: str
    name: str
    status: str
    reputation: int | None
    sent_weekly: int = 0
    sent_monthly: int = 0
    sent_total: int = 0


@dataclass(frozen=True)
class SmtpEvent:
    """One delivery attempt of a message; its source_ip is how volume is counted per IP."""

    ts: datetime | None
    type: str
    diag: str
    source_ip: str
    destination_ip: str
    size: int | None = None


@dataclass(frozen=True)
class MessageEvent:
    """A messages/search (or messages/info) item, read leniently.

    `raw` keeps the whole item so the detail screen can show every field,
    including ones this version does not know about.
    """

    message_id: str
    ts: datetime
    state: str
    email: str
    sender: str = ""
    subject: str = ""
    subaccount: str = ""
    diag: str = ""
    bounce_description: str = ""
    reject_reason: str = ""
    template: str = ""
    tags: tuple[str, ...] = ()
    smtp_events: tuple[SmtpEvent, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def kind(self) -> str:
        return kind_of(self.state)

    @property
    def key(self) -> str:
        """Identity for deduplication: one event per (message id, state)."""
        return f"{self.message_id}|{self.state}"

    @cached_property
    def haystack(self) -> str:
        """The lowercased text the feed filter searches, built once per event: a keystroke
        over a large feed must not re-lower every field of every event."""
        fields = (
            self.email,
            self.subaccount,
            self.reason,
            self.source_ip,
            self.kind,
            self.subject,
            self.message_id,
        )
        return "\n".join(f for f in fields if f).lower()

    @property
    def source_ip(self) -> str:
        """The IP that carried the message: the last smtp_event that names one."""
        for ev in reversed(self.smtp_events):
            if ev.source_ip:
                return ev.source_ip
        return ""

    @property
    def reason(self) -> str:
        """The most specific explanation available, as the remote server worded it."""
        for ev in reversed(self.smtp_events):
            if ev.diag and ev.type in ("bounced", "deferred", "soft-bounced", "rejected"):
                return self.diag or ev.diag
        return self.diag or self.reject_reason or self.bounce_description

    @property
    def event_ts(self) -> datetime:
        """When the state was reached: the newest smtp_event, else the send time."""
        times = [ev.ts for ev in self.smtp_events if ev.ts is not None]
        return max(times) if times else self.ts

    @property
    def is_feed_event(self) -> bool:
        return self.state not in QUIET_STATES


@dataclass(frozen=True)
class FeedPage:
    """One answer to "which feed events match?": the newest `events` (as many as the
    screen holds) out of `matched` (None: still being counted), among `total` stored;
    `loading` while the stored events are still being read at start-up."""

    events: tuple[MessageEvent, ...]
    matched: int | None
    total: int
    kinds: tuple[str, ...] = ()
    loading: bool = False


@dataclass(frozen=True)
class Reject:
    """A rejection-blacklist entry: why Mandrill refuses to send to an address."""

    email: str
    reason: str
    detail: str
    created_at: datetime | None
    last_event_at: datetime | None
    expires_at: datetime | None
    expired: bool
    subaccount: str


@dataclass(frozen=True)
class SenderDomain:
    """senders/domains: what Mandrill itself thinks of a sending domain's DNS."""

    domain: str
    spf_valid: bool | None
    dkim_valid: bool | None
    dkim2_valid: bool | None
    dmarc_valid: bool | None
    valid_signing: bool | None
    verified_at: datetime | None
    errors: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class GmailDay:
    """What Gmail Postmaster Tools published for one domain and one day (Google's date).

    Rates are fractions (0.0042 is 0.42 %). None: Google published no figure for it that
    day (too little mail, or not published yet), never 0."""

    domain: str
    day: date
    spam_rate: float | None = None  # user-reported spam
    spf: float | None = None  # authentication success rates
    dkim: float | None = None
    dmarc: float | None = None
    tls_rate: float | None = None  # of the mail Gmail received from us (inbound to Gmail)
    error_rate: float | None = None  # delivery errors, every type and reason
    #: "reject/ip_in_rbls", "temp_fail/anomalous_traffic_pattern" … → rate
    errors: Mapping[str, float] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class GmailCompliance:
    """Gmail's bulk-sender compliance of a domain now: requirement → COMPLIANT, NEEDS_WORK
    or STATE_UNSPECIFIED; the unsubscribe verdicts with Google's reason."""

    domain: str
    requirements: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    one_click_unsubscribe: str = ""
    one_click_reason: str = ""
    honor_unsubscribe: str = ""
    honor_reason: str = ""


@dataclass(frozen=True)
class GmailView:
    """Every domain's published days (oldest first) and compliance, as last read."""

    days: tuple[GmailDay, ...] = ()
    compliance: tuple[GmailCompliance, ...] = ()
    #: domains Postmaster Tools lists for these credentials (or the configured ones)
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class MandrillDay:
    """Mandrill's side of one Gmail day: the messages mailops read from a sender domain
    (and its subdomains) sent that UTC day, to every receiver, and how many of them
    Mandrill recorded as complaints. `whole` is False when not all of that day was read
    (or some of it was counted before sender domains were): the figure is then partial."""

    messages: int
    complaints: int
    whole: bool

    @property
    def complaint_rate(self) -> float | None:
        return self.complaints / self.messages if self.messages else None


@dataclass(frozen=True)
class GmailDomain:
    """One domain on the Gmail screen: the days Google published in the window (oldest
    first), Mandrill's figure for each of those days, its compliance, which of our IPs
    carried the mail on the latest day, and the sentence when Gmail and Mandrill
    disagree ("" when they agree or one side is unknown)."""

    domain: str
    days: tuple[GmailDay, ...]
    mandrill: Mapping[date, MandrillDay] = field(default_factory=dict, hash=False, compare=False)
    compliance: GmailCompliance | None = None
    #: our sending IPs and their messages on the latest published day (all mail of that UTC
    #: day, every domain: the per-IP counts carry no sender domain), most first
    carriers: tuple[tuple[str, int], ...] = ()
    sentence: str = ""


@dataclass(frozen=True)
class GmailBoard:
    """The Gmail screen's content: every domain over the last `window_days` days."""

    view: GmailView
    domains: tuple[GmailDomain, ...]
    window_days: int
    today: date


@dataclass(frozen=True)
class WebhookReceipt:
    """The last webhook batch taken in: when, how many events, how many new to the feed.
    Kept as a snapshot so a console attached to the service and `check` can say it."""

    at: datetime
    events: int = 0
    new_events: int = 0
    by_type: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceStatus:
    """How one data set's polling is going; the status line and `check` read this."""

    name: str
    ok: bool | None = None  # None: not polled yet
    last_ok_at: datetime | None = None
    last_attempt_at: datetime | None = None
    error: str = ""
    final: bool = False  # an error retrying cannot fix (e.g. Invalid_Key)
    failures: int = 0
    #: the poll worked but did not read all it should (e.g. "read up to 05:12 UTC: the
    #: search budget was spent"): what is built on it is partial, and says so
    partial: str = ""


@dataclass(frozen=True)
class IpRow:
    """One line of the IP warm-up panel: an IP with what it carried in the window."""

    ip: str
    pool: str
    domain: str
    dedicated: bool
    warming_up: bool
    warmup_day: int | None
    warmup_days: int | None
    progress: float | None
    sent: int
    delivered: int
    bounced: int
    soft_bounced: int
    deferred: int
    delivery_rate: float | None
    noisy: bool = False
    note: str = ""


def duration_text(seconds: float) -> str:
    """A period as people say it: 40 min, 6 h, 6.5 h, 3 d. Rounded down, so a part of a
    period never reads as the whole of it ("23.9 h", not "24 h")."""
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 48 * 3600:
        return f"{int(seconds / 360) / 10:.1f}".removesuffix(".0") + " h"
    return f"{int(seconds / 8640) / 10:.1f}".removesuffix(".0") + " d"


@dataclass(frozen=True)
class ReadSpan:
    """The period a count over the messages mailops read really covers.

    A figure meant to cover `name` ("7 d", "24 h") from `start` may rest on less:
    the store holds mail only from `since` (the first second read, or the oldest
    kept), and `unread_s` seconds inside it are a gap a read left for later. Every
    label built on such a count says which it is, so "7 d" means 7 days.
    """

    name: str
    start: datetime
    since: datetime
    until: datetime
    unread_s: float = 0.0

    @property
    def whole(self) -> bool:
        return self.since <= self.start and self.unread_s <= 0

    @property
    def text(self) -> str:
        """ "7 d" when whole, else how much of it is read: "last 6 h of 7 d", "7 d, 20 min
        of it not read yet"."""
        if self.since >= self.until:
            return f"none of {self.name} read yet"
        if self.since <= self.start:
            out = self.name
        else:
            out = f"last {duration_text((self.until - self.since).total_seconds())} of {self.name}"
        if self.unread_s > 0:
            out += f", {duration_text(self.unread_s)} of it not read yet"
        return out


@dataclass(frozen=True)
class IpView:
    """The IP panel's content: its rows, plus what the rows cannot account for."""

    rows: tuple[IpRow, ...]
    window_hours: float
    #: Messages that reached a receiver yet came without a sending IP (no smtp_events
    #: in Mandrill's answer): per-IP figures leave them out, and the panel says so.
    unattributed: int = 0
    #: the part of the window the counts rest on (None: not known, e.g. in tests)
    span: ReadSpan | None = None
    #: the store's ingest count when computed: a view with a lower one is older and must
    #: not replace a newer one on screen (polls finish in any order)
    generation: int = 0


@dataclass(frozen=True)
class SubaccountRow:
    """One customer's line in the reputation panel.

    `sent_weekly` is Mandrill's own count (since Monday 00:00 UTC); complaints, hard
    bounces and messages are counted from the messages mailops read, over `span`.
    """

    id: str
    name: str
    status: str
    reputation: int | None
    sent_weekly: int
    complaints: int
    hard_bounces: int
    messages: int
    span: ReadSpan | None = None

    @property
    def complaint_rate(self) -> float | None:
        return self.complaints / self.messages if self.messages else None


@dataclass(frozen=True)
class AccountView:
    """What the reputation panel shows: the account, its history and its derived words."""

    account: Account
    history: tuple[tuple[datetime, int], ...]
    word: str


@dataclass(frozen=True)
class SpfCheck:
    """Our reading of a domain's SPF record, lookup count included (RFC 7208 caps it at 10)."""

    valid: bool
    record: str = ""
    lookups: int | None = None
    void_lookups: int | None = None
    mandrill_include: bool = False
    error: str = ""
    warnings: tuple[str, ...] = ()
    #: a lookup timed out or was refused (RFC 7208 §4.4): the verdict is unknown, not a fail
    temperror: bool = False


@dataclass(frozen=True)
class DkimCheck:
    """One DKIM selector's record, or why it is missing."""

    selector: str
    valid: bool
    kind: str  # cname | txt | legacy | missing
    target: str = ""  # the CNAME target, when there is one
    record: str = ""
    error: str = ""
    temperror: bool = False  # the lookup failed: unknown, not missing


@dataclass(frozen=True)
class DmarcCheck:
    """Our reading of a domain's DMARC record, and whether its report addresses accept reports."""

    valid: bool
    record: str = ""
    policy: str = ""
    subdomain_policy: str = ""
    pct: int | None = None
    testing: str = ""  # RFC 9989 t=y|n
    non_existent_policy: str = ""  # RFC 9989 np=
    public_suffix: str = ""  # RFC 9989 psd=y|n|u
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    adkim: str = ""
    aspf: str = ""
    #: rua/ruf address → whether its domain authorizes reports about ours (RFC 7489 7.1),
    #: None when the lookup failed; addresses in our own domain need no authorization.
    authorized: Mapping[str, bool | None] = field(
        default_factory=dict, hash=False, compare=False
    )
    error: str = ""
    warnings: tuple[str, ...] = ()
    temperror: bool = False  # the record's lookup failed: unknown, not a fail


@dataclass(frozen=True)
class DomainDns:
    """mailops' own reading of one sending domain's DNS."""

    domain: str
    spf: SpfCheck
    dkim: tuple[DkimCheck, ...]
    dmarc: DmarcCheck
    mx: tuple[str, ...] = ()
    mx_error: str = ""


@dataclass(frozen=True)
class DnsAnswer:
    """What one A (and TXT) lookup came back with, before anyone interprets it."""

    rcode: str  # NOERROR, NXDOMAIN, NODATA, REFUSED, SERVFAIL, TIMEOUT, ERROR
    addresses: tuple[str, ...] = ()
    txt: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class Listing:
    """One DNSBL's verdict on one IP or domain, with the return codes behind it."""

    zone: str
    target: str
    verdict: Verdict
    codes: tuple[str, ...] = ()
    meaning: str = ""
    txt: str = ""
    major: bool = False
    since: datetime | None = None  # when this verdict was first seen (kept by the store)


@dataclass(frozen=True)
class IpDns:
    """Reverse DNS of a sending IP, and whether the name points back (FCrDNS)."""

    ip: str
    ptr: tuple[str, ...] = ()
    fcrdns: bool | None = None  # None: could not tell (the error says why)
    error: str = ""


@dataclass(frozen=True)
class BlocklistView:
    """Every blocklist verdict and reverse-DNS result of the last sweep, for the panels."""

    listings: tuple[Listing, ...]
    ips: tuple[IpDns, ...]
    zones: int = 0
    #: (zone, target) pairs delisted in this retention window, with when
    delisted: tuple[tuple[str, str, datetime], ...] = ()


@dataclass(frozen=True)
class SendResult:
    """messages/send's answer for one recipient."""

    email: str
    status: str  # sent | queued | scheduled | rejected | invalid (open)
    message_id: str = ""
    reject_reason: str = ""
    queued_reason: str = ""


@dataclass(frozen=True)
class SeedResult:
    """Where one seed test message landed at one mailbox provider."""

    seed: str
    provider: str
    address: str
    token: str
    placement: Placement
    run_at: datetime
    folder: str = ""
    delay_s: float | None = None
    auth: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    source_ip: str = ""  # from Mandrill's smtp_events
    received_ip: str = ""  # from the receiver's Received header
    message_id: str = ""
    error: str = ""
    mandrill_status: str = ""  # messages/send's answer: sent, queued, scheduled, rejected…


@dataclass(frozen=True)
class SeedRun:
    """One seed test: every seed's result, oldest run first when listed."""

    run_id: str
    run_at: datetime
    results: tuple[SeedResult, ...] = ()
    finished_at: datetime | None = None


@dataclass(frozen=True)
class SeedProgress:
    """A seed test still waiting for messages to arrive."""

    found: int
    total: int
    waited_s: float


@dataclass(frozen=True)
class Alert:
    """A rule firing about one subject, from when it opened until it resolved."""

    id: str  # key + opening time: a rule that fires again later is a new alert
    key: str  # rule|subject
    rule: str
    subject: str
    severity: Severity  # the current one
    message: str
    opened_at: datetime
    updated_at: datetime
    peak: Severity = "warning"  # the most severe it has been
    resolved_at: datetime | None = None
    acked_at: datetime | None = None
    ack_note: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """One action taken from the console: what, on what, and how it went."""

    at: datetime
    action: str  # reject.delete, ip.start_warmup, ip.cancel_warmup, subaccount.pause, …
    target: str
    ok: bool
    result: str
    #: the Unix user who asked, when a console attached to the service did (SO_PEERCRED)
    user: str = ""


@dataclass(frozen=True)
class DmarcRecord:
    """One <record> of an aggregate report: a source IP and what happened to its mail."""

    source_ip: str
    count: int
    disposition: str  # none | quarantine | reject | pass (RFC 9990) — open
    dkim: str  # policy_evaluated: the aligned DKIM result (pass | fail)
    spf: str  # policy_evaluated: the aligned SPF result
    header_from: str
    envelope_from: str = ""
    envelope_to: str = ""
    reasons: tuple[str, ...] = ()  # override reason types, with their comment
    dkim_results: tuple[tuple[str, str, str], ...] = ()  # (domain, selector, result)
    spf_results: tuple[tuple[str, str, str], ...] = ()  # (domain, scope, result)

    @property
    def passed(self) -> bool:
        """DMARC passes when either aligned mechanism passed."""
        return self.dkim == "pass" or self.spf == "pass"


@dataclass(frozen=True)
class DmarcReport:
    """One aggregate report from one reporter about one of our domains."""

    org_name: str
    report_id: str
    begin: datetime
    end: datetime
    domain: str
    schema: str  # rfc7489 | rfc9990
    records: tuple[DmarcRecord, ...] = ()
    email: str = ""
    policy: str = ""
    subdomain_policy: str = ""
    adkim: str = ""
    aspf: str = ""
    pct: int | None = None
    np: str = ""
    testing: str = ""
    discovery_method: str = ""
    generator: str = ""
    errors: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.org_name}|{self.report_id}"


@dataclass(frozen=True)
class TlsFailure:
    """One failure-details entry of an SMTP TLS report (RFC 8460 §4.3): sessions that
    failed for one reason between one sending MTA and one receiving MX."""

    result_type: str  # starttls-not-supported, certificate-expired, validation-failure…
    count: int
    sending_ip: str = ""
    receiving_mx: str = ""
    receiving_ip: str = ""
    reason_code: str = ""  # failure-reason-code, free text from the reporter
    additional_info: str = ""  # additional-information, a URI


@dataclass(frozen=True)
class TlsPolicy:
    """One policy of a TLS report: the domain it applied to (ours, as a receiver), its
    type (sts, tlsa, no-policy-found), and how many sessions succeeded and failed."""

    domain: str
    policy_type: str
    successful: int
    failed: int
    mx_hosts: tuple[str, ...] = ()
    failures: tuple[TlsFailure, ...] = ()


@dataclass(frozen=True)
class TlsReport:
    """One SMTP TLS report (RFC 8460): what a sending organization saw when it delivered
    mail to our domains' MX hosts over a day."""

    org_name: str
    report_id: str
    begin: datetime
    end: datetime
    policies: tuple[TlsPolicy, ...] = ()
    contact: str = ""

    @property
    def key(self) -> str:
        return f"{self.org_name}|{self.report_id}"


@dataclass(frozen=True)
class RuleHit:
    """One SpamAssassin rule that fired, and what it cost."""

    name: str
    points: float
    description: str = ""


@dataclass(frozen=True)
class SpamReport:
    """What spamd said about one message."""

    score: float
    threshold: float
    is_spam: bool
    rules: tuple[RuleHit, ...] = ()


@dataclass(frozen=True)
class LintFinding:
    """One structural problem in a message that spam filters are known to punish."""

    code: str  # attachment_pdf, too_large, no_text_part, no_list_unsubscribe, …
    text: str


@dataclass(frozen=True)
class ContentResult:
    """One content check's latest run: the score and what the lint found."""

    name: str
    checked_at: datetime
    report: SpamReport | None = None
    lint: tuple[LintFinding, ...] = ()
    error: str = ""  # the message could not be built (template render failed…)
    recorded: bool = False  # a recorded score (the demo without spamd), not a live one
