"""TOML configuration → frozen dataclasses, with errors that name file, key and line.

The schema *is* the dataclasses below: a field's type annotation is what the
file must hold, its default is what an absent key means. Unknown keys are
errors, not silently ignored, because a misspelt threshold that is quietly
ignored is worse than no threshold at all.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import stat
import tomllib
import types
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import platformdirs

from console.analysis.dnsbl import configured_zones
from console.configtemplate import opt, render
from console.files import FileRefused, read_text
from console.limits import (
    CONFIG_FILE_BYTES,
    CONFIG_MAX_DEPTH,
    MANDRILL_RESPONSE_MB,
    SECRET_FILE_BYTES,
)
from console.registry import SOURCES
from console.secret import Secret
from console.textsafe import visible

DEFAULT_BASE_URL = "https://mandrillapp.com/api/1.0"

#: The fixed sets of the file: a value outside one is refused with the words it allows.
Provider = Literal["gmail", "outlook", "yahoo", "other"]
Security = Literal["tls", "starttls", "none"]
AfterFound = Literal["keep", "flag", "delete"]
AfterImport = Literal["move", "flag"]

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A configuration problem, worded for the person who has to fix the file.

    The message often quotes the file (a key, a value), and the file may hold
    escape sequences: it is made visible here, once, for every place it is shown."""

    def __init__(self, message: str) -> None:
        super().__init__(visible(message))


@dataclass(frozen=True)
class PollConfig:
    """[mandrill.poll]: seconds between polls of each data set."""

    account: float = opt(60)
    ips: float = opt(300)
    messages: float = opt(60)
    rescan: float = opt(900)
    subaccounts: float = opt(300)
    rejects: float = opt(900)
    domains: float = opt(3600)
    dns: float = opt(900, "SPF, DKIM, DMARC, MX of the sending domains")
    blocklists: float = opt(1800, "DNSBL sweep and rDNS of the sending IPs")
    dmarc: float = opt(1800, "import new aggregate reports (directory, IMAP)")
    content: float = opt(86400, "score the [[content_checks]] (also at start, and on `c`)")
    postmaster: float = opt(21600, "Gmail Postmaster Tools (its figures are daily)")
    jitter: float = opt(5)
    backoff_cap: float = opt(900, "longest wait between retries of a failing source")
    deadline: float = opt(
        300, "the most one poll may take, start to end (a seed test: its wait_minutes more)"
    )


@dataclass(frozen=True)
class MandrillConfig:
    """[mandrill]: where the API is, where the key comes from, and how hard to try."""

    base_url: str = opt(DEFAULT_BASE_URL)
    api_key_env: str = opt("MANDRILL_API_KEY", "the API key is read from this variable …")
    api_key_file: str | None = opt(
        None, "… or from a file holding only the key (chmod 600)",
        example="~/.config/mailops/mandrill.key",
    )  # fmt: skip
    api_key: str | None = opt(
        None, "discouraged: the key in this file (prefer the two above)", example="...", secret=True
    )
    timeout: float = opt(20.0, "seconds per HTTP request")
    retries: int = opt(2, "quick retries of a retryable error before the poll counts as failed")
    search_overlap: int = opt(600, "seconds each messages/search window overlaps the last")
    backfill_hours: float = opt(24, "how far back the first poll reads messages")
    rescan_hours: float = opt(48, "how far back late bounces and complaints are looked for")
    max_search_calls: int = opt(15, "messages/search calls per poll")
    search_per_minute: int = opt(
        20, "Mandrill documents about 20 searches a minute; 0 turns the limit off"
    )
    check_window_hours: float = opt(
        6, "`check`: its events window, and the furthest back it reads messages"
    )
    response_limits_mb: dict[str, float] = opt(
        {},
        'the most one answer may hold, in MB, by endpoint ("*": every other one); the body '
        "is streamed and the poll fails once an answer passes it",
        example={"messages/search": 16, "rejects/list": 16, "subaccounts/list": 16, "*": 4},
    )
    poll: PollConfig = field(default_factory=PollConfig)


@dataclass(frozen=True)
class DnsConfig:
    """[dns]: which resolvers to ask, and the deadlines that tell a timeout from an answer."""

    nameservers: tuple[str, ...] = opt(
        (),
        "default: the system's resolvers. Spamhaus refuses public resolvers (8.8.8.8, "
        "1.1.1.1…): use your own, or a DQS key",
        example=("127.0.0.1",),
    )
    port: int = opt(53)
    timeout: float = opt(1.0, "seconds per try")
    deadline: float = opt(3.0, "seconds per lookup, all tries included")
    concurrency: int = opt(256, "lookups in flight during a sweep")


@dataclass(frozen=True)
class DomainsConfig:
    """[domains]: which domains to check when Mandrill's own list is not the right one."""

    sending: tuple[str, ...] = opt(
        (), "default: the domains Mandrill's senders/domains lists", example=("example.com",)
    )
    link_domains: tuple[str, ...] = opt(
        (), "click-tracking domains, checked on the domain lists", example=("click.example.com",)
    )
    dkim_selectors: tuple[str, ...] = opt(("mte1", "mte2", "mandrill"))


@dataclass(frozen=True)
class BlocklistsConfig:
    """[blocklists]: which DNSBL zones to ask about which IPs, and the Spamhaus DQS key."""

    ip_zones: tuple[str, ...] = opt(
        (
            "zen.spamhaus.org",
            "bl.spamcop.net",
            "b.barracudacentral.org",
            "psbl.surriel.com",
            "dnsbl-1.uceprotect.net",
            "bl.mailspike.net",
            "all.spamrats.com",
        )
    )
    domain_zones: tuple[str, ...] = opt(("dbl.spamhaus.org", "multi.uribl.com", "multi.surbl.org"))
    extra_ips: tuple[str, ...] = opt(
        (), "sending IPs besides those Mandrill's ips/list names", example=("192.0.2.10",)
    )
    dqs_key_env: str = opt("SPAMHAUS_DQS_KEY", "set it to query Spamhaus through DQS")
    dqs_key_file: str | None = opt(
        None, "… or the key in a file", example="~/.config/mailops/dqs.key"
    )
    codes: dict[str, dict[str, str]] = opt(
        {},
        "zone → {answer code → meaning}, for a list mailops has no table for",
        example={"bl.example.org": {"127.0.0.2": "listed"}},
    )


@dataclass(frozen=True)
class SeedConfig:
    """One [[seeds]] table per seed mailbox; passwords are app passwords, from env or a file."""

    name: str = opt("", example="gmail-1")
    provider: Provider = opt("other", example="gmail")
    address: str = opt("", example="seed1@gmail.com")
    imap_host: str = opt("", example="imap.gmail.com")
    imap_port: int = opt(993)
    imap_security: Security = opt("tls", "TLS certificates are verified")
    username: str = opt("", example="seed1@gmail.com")
    password_env: str = opt("", example="MAILOPS_SEED_GMAIL_1")
    password_file: str | None = opt(None, example="~/.config/mailops/gmail-1.pw", alt=True)
    folders: tuple[str, ...] = opt(
        (),
        "default: INBOX, the \\Junk folder, the provider's spam names",
        example=("INBOX", "[Gmail]/Spam"),
        alt=True,
    )
    ca_file: str | None = opt(
        None, "trust a private CA too", example="/etc/ssl/my-ca.pem", alt=True
    )


@dataclass(frozen=True)
class SeedTestConfig:
    """[seed_test]: what a seed test sends and when (needs [[seeds]]), and what happens after."""

    from_email: str = opt(
        "", "required with seeds: a Mandrill-verified domain", example="no-reply@example.com"
    )
    subaccount: str = opt("", example="seed-tests")
    subject: str = opt("mailops seed test")
    text: str = opt("This is a deliverability test message. Please ignore it.")
    template: str = opt(
        "", "send this Mandrill template (messages/send-template) instead", example="order-receipt"
    )
    schedule: str = opt("06:00", 'daily at this local time; or "every 6h" / "every 30m"; or "off"')
    wait_minutes: float = opt(20, "a message not found by then counts as missing")
    poll_seconds: float = opt(30, "how often the seed mailboxes are searched meanwhile")
    after_found: AfterFound = opt(
        "keep", "what happens to the test message (flag: \\Seen \\Flagged)"
    )
    run_at_start: bool = opt(False, "also run once a few seconds after the console starts")


@dataclass(frozen=True)
class SeedSchedule:
    """A parsed [seed_test] schedule: daily at a local time, or every so many seconds."""

    daily_at: tuple[int, int] | None = None
    every_seconds: float | None = None


_SCHEDULE_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*(s|m|h)$")


def parse_schedule(text: str) -> SeedSchedule | None:
    """None for "off"; raises ValueError with the accepted forms for anything else odd."""
    t = text.strip().lower()
    if t in ("off", "", "never", "manual"):
        return None
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", t)
    if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:
        return SeedSchedule(daily_at=(int(m.group(1)), int(m.group(2))))
    m = _SCHEDULE_EVERY.match(t)
    if m:
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        if seconds >= 60:
            return SeedSchedule(every_seconds=seconds)
        raise ValueError("runs must be at least a minute apart")
    raise ValueError(
        f'{text!r} is not a schedule: use "HH:MM" (daily, local time), '
        '"every 6h" / "every 30m", or "off"'
    )


@dataclass(frozen=True)
class StorageConfig:
    """[storage]: where state and exports live and how long history is kept."""

    state_dir: str | None = opt(None, example="~/.local/state/mailops")
    retention_days: int = opt(30)
    export_dir: str | None = opt(None, "default: <state_dir>/exports", example="~/mailops-exports")


@dataclass(frozen=True)
class Thresholds:
    """[thresholds]: where a rate or a score turns from fine to a warning or an alert."""

    reputation_good: int = opt(75, 'Mandrill calls 75 and above "generally good"')
    reputation_poor: int = opt(40)
    hard_bounce_rate: float = opt(0.02, "2 %")
    complaint_warning: float = opt(0.001, "0.1 %, the mailbox providers' warning line")
    complaint_critical: float = opt(0.003, "0.3 %, their enforcement line")
    noisy_drop: float = opt(
        0.05, "a shared IP delivering 5 points below the rest is a noisy neighbour"
    )
    noisy_min_messages: int = opt(50)
    noisy_window_hours: float = opt(3)
    ip_window_hours: float = opt(24, "the window the IP panel counts messages over")


@dataclass(frozen=True)
class DmarcConfig:
    """[dmarc]: where aggregate reports (the rua address) come from, and how sources are judged."""

    directory: str | None = opt(
        None, "report files dropped here are imported, then moved aside", example="~/dmarc-reports"
    )
    imap_host: str = opt("", "or read the rua mailbox over IMAP", example="imap.example.com")
    imap_port: int = opt(993)
    imap_security: Security = opt("tls")
    username: str = opt("", example="dmarc@example.com")
    password_env: str = opt("", example="MAILOPS_DMARC_PASSWORD")
    password_file: str | None = opt(None, example="~/.config/mailops/dmarc.pw")
    ca_file: str | None = opt(None, "trust a private CA too", example="/etc/ssl/my-ca.pem")
    folder: str = opt("INBOX")
    after: AfterImport = opt("move", "move is to processed_folder")
    processed_folder: str = opt("DMARC-processed")
    max_messages: int = opt(200, "report messages read per poll (a backlog in slices)")
    mandrill_ranges: tuple[str, ...] = opt(
        ("198.2.128.0/18", "148.105.8.0/21"),
        "Mandrill's sending ranges (spf.mandrillapp.com); the account's own IPs are added",
    )
    known_senders: tuple[str, ...] = opt(
        (),
        'other senders allowed to use our domains, as "Name=CIDR"',
        example=("Google Workspace=209.85.128.0/17",),
    )
    spoof_min_messages: int = opt(
        50, "an unknown source sending more as our domain: possible spoofing"
    )
    pass_rate_min: float = opt(
        0.95, "alert when Mandrill-sent mail passes DMARC less often (7 days)"
    )
    retention_days: int = opt(90)


@dataclass(frozen=True)
class TlsRptConfig:
    """[tlsrpt]: SMTP TLS reports (RFC 8460) about mail sent to our domains' MX hosts. They
    are read wherever [dmarc] reads reports (its directory and mailbox); this adds a
    directory of their own, and how they are judged."""

    directory: str | None = opt(
        None, "TLS report files dropped here are imported too, then moved aside",
        example="~/tls-reports",
    )  # fmt: skip
    failure_rate_max: float = opt(
        0.05, "alert when more of a domain's reported sessions failed (7 days)"
    )
    min_sessions: int = opt(100, "… over at least this many sessions")
    retention_days: int = opt(90)


@dataclass(frozen=True)
class SpamdConfig:
    """[spamd]: SpamAssassin's daemon, run locally with network tests off (spamd -L)."""

    host: str = opt("127.0.0.1")
    port: int = opt(783)
    timeout: float = opt(15.0)


@dataclass(frozen=True)
class ContentCheckConfig:
    """One [[content_checks]] table per message that matters, scored every day."""

    name: str = opt("", example="invoice")
    template: str = opt(
        "", "a Mandrill template slug, rendered with templates/render …", example="invoice"
    )
    merge_vars: dict[str, str] = opt(
        {}, "… with these sample values", example={"customer": "Ada", "total": "42.00"}
    )
    eml: str = opt("", "… or an RFC 5322 file instead", example="~/checks/reset.eml", alt=True)
    subject: str = opt("", example="Your invoice")
    from_email: str = opt("", example="billing@example.com")
    bulk: bool = opt(False, "marketing-like mail: List-Unsubscribe with one-click is required")


#: A conservative 30-day warm-up: messages a day the new IP should carry on day N.
DEFAULT_WARMUP_PLAN = (
    50, 100, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7500, 9000,
    11000, 13000, 15000, 18000, 21000, 25000, 30000, 35000, 40000, 50000, 60000, 70000,
    80000, 90000, 100000,
)  # fmt: skip


@dataclass(frozen=True)
class AlertConfig:
    """[alerts]: the rules' knobs beyond [thresholds]; every rule can be switched off."""

    reputation_drop_points: int = opt(10, "account reputation down this much in 24 h")
    hard_bounce_critical: float = opt(
        0.05, "hard bounces: warning above [thresholds], critical above this"
    )
    customer_factor: float = opt(
        3.0, "a customer's complaint or bounce rate this many times the others'"
    )
    min_messages: int = opt(100, "fewer messages than this: no rate alert (chance, not a signal)")
    warmup_plan: tuple[int, ...] = opt(
        DEFAULT_WARMUP_PLAN, "messages a day a new IP should carry on warm-up day 1, 2, 3 …"
    )
    warmup_tolerance: float = opt(
        0.25, "a warming IP carrying more than the plan's day × (1 + this) is too much"
    )
    seed_inbox_min: float = opt(0.8, "a provider's inbox share in the latest seed test")
    source_failing_minutes: float = opt(15)
    bell: bool = opt(True, "ring the terminal bell on a new critical alert")
    disabled: tuple[str, ...] = opt((), 'rule names to switch off, e.g. ["dns_unknown"]')
    webhook_url: str = opt(
        "", "POST JSON here on a new critical alert", example="https://hooks.example.com/mailops"
    )
    command: str = opt(
        "", "or run this, the alert as JSON on stdin", example="/usr/local/bin/page-oncall"
    )
    notify_timeout: float = opt(10.0)


@dataclass(frozen=True)
class UiConfig:
    """[ui]: how much the console shows, and whether it may act at all."""

    feed_limit: int = opt(500, "feed rows on screen: the newest matches (export writes all)")
    read_only: bool = opt(
        False, "no actions (rejects/delete, warm-up, pause): look, don't touch (--read-only)"
    )
    theme: str = opt(
        "",
        "a Textual theme to start with (default: Textual's); one picked in the palette "
        "(ctrl+p) is kept in the state dir until this setting changes",
        example="gruvbox",
    )
    mouse: bool = opt(
        True, "false: no mouse reporting (every motion is reported: chatty over slow SSH)"
    )


POSTMASTER_URL = "https://gmailpostmastertools.googleapis.com"


@dataclass(frozen=True)
class PostmasterConfig:
    """[postmaster]: Gmail Postmaster Tools (API v2), what Gmail itself sees of our mail."""

    credentials_file: str = opt(
        "",
        "an authorized-user JSON (gcloud auth application-default login "
        "--scopes=…/auth/postmaster.domain,…/auth/postmaster.traffic.readonly) or a service "
        'account JSON; "" leaves Postmaster Tools off',
        example="~/.config/mailops/postmaster.json",
    )
    subject: str = opt(
        "", "a service account acts as this user (domain-wide delegation)", example=""
    )
    base_url: str = opt(POSTMASTER_URL)
    token_uri: str = opt(
        "", "where tokens are refreshed (default: the one in the credentials)", example=""
    )
    domains: tuple[str, ...] = opt(
        (), "default: every domain Postmaster Tools lists for these credentials",
        example=("example.com",),
    )  # fmt: skip
    days: int = opt(30, "how many days back each poll asks for (Gmail keeps 120)")
    timeout: float = opt(30.0, "seconds per request")
    spam_warning: float = opt(0.001, "Gmail's spam rate: keep below 0.1 %")
    spam_critical: float = opt(0.003, "… and never reach 0.3 %")
    delivery_error_max: float = opt(
        0.02, "a delivery-error reason above this share of a day's mail is an alert"
    )


@dataclass(frozen=True)
class WebhooksConfig:
    """[webhooks]: Mandrill's signed webhooks, received by `mailops serve` (off while url is "")."""

    listen: str = opt("127.0.0.1:8025", "host:port; a reverse proxy in front terminates TLS")
    url: str = opt(
        "",
        "the webhook's URL exactly as configured in Mandrill: the signature covers it, and "
        "the service answers on its path",
        example="https://ops.example.com/mandrill/events",
    )
    key_env: str = opt("MAILOPS_WEBHOOK_KEY", "the webhook's key (Mandrill shows it) …")
    key_file: str | None = opt(
        None, "… or from a file (chmod 600)", example="~/.config/mailops/webhook.key"
    )
    max_body_mb: float = opt(32, "a batch larger than this is refused (413); 1,000 events fit")


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics]: Prometheus metrics from `mailops serve` (off while listen is "")."""

    listen: str = opt("", "host:port serving /metrics", example="127.0.0.1:9108")


@dataclass(frozen=True)
class Config:
    """The whole validated config file; every part has a default, so an empty file works."""

    mandrill: MandrillConfig = field(default_factory=MandrillConfig)
    dns: DnsConfig = field(default_factory=DnsConfig)
    domains: DomainsConfig = field(default_factory=DomainsConfig)
    blocklists: BlocklistsConfig = field(default_factory=BlocklistsConfig)
    seeds: tuple[SeedConfig, ...] = ()
    seed_test: SeedTestConfig = field(default_factory=SeedTestConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    dmarc: DmarcConfig = field(default_factory=DmarcConfig)
    tlsrpt: TlsRptConfig = field(default_factory=TlsRptConfig)
    spamd: SpamdConfig = field(default_factory=SpamdConfig)
    content_checks: tuple[ContentCheckConfig, ...] = ()
    storage: StorageConfig = field(default_factory=StorageConfig)
    thresholds: Thresholds = field(default_factory=Thresholds)
    ui: UiConfig = field(default_factory=UiConfig)
    postmaster: PostmasterConfig = field(default_factory=PostmasterConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    def state_path(self) -> Path:
        if self.storage.state_dir:
            return Path(self.storage.state_dir).expanduser()
        return platformdirs.user_state_path("mailops")


_BARE = r"[A-Za-z0-9_\-]+"
_KEYPART = rf"""(?:{_BARE}|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
_DOTTED = rf"{_KEYPART}(?:\s*\.\s*{_KEYPART})*"
_ARRAY_RE = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_SECTION_RE = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")


def _key_parts(text: str) -> tuple[str, ...]:
    """A dotted TOML key as its parts, quoted parts decoded (`"a\\u001b".b` → ("a\x1b", "b"))."""
    parts = []
    for raw in re.findall(_KEYPART, text):
        if raw.startswith('"'):
            try:
                raw = tomllib.loads(f"k = {raw}")["k"]
            except tomllib.TOMLDecodeError:
                raw = raw[1:-1]
        elif raw.startswith("'"):
            raw = raw[1:-1]
        parts.append(raw)
    return tuple(parts)


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map each (table…, key) path to its line number, so errors can point at it.

    tomllib reports no positions for values, and a full TOML parser just for
    line numbers is not worth a dependency; this covers `[table]`, `[[array]]` and
    `key = value` with bare, quoted and dotted keys.
    """
    index: dict[tuple[str, ...], int] = {}
    section: tuple[str, ...] = ()
    arrays: dict[tuple[str, ...], int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        a = _ARRAY_RE.match(line)
        if a:  # [[seeds]]: the n-th table of the array is seeds.<n>
            name = _key_parts(a.group(1))
            n = arrays.get(name, -1) + 1
            arrays[name] = n
            section = (*name, str(n))
            index.setdefault(section, lineno)
            continue
        m = _SECTION_RE.match(line)
        if m:
            section = _key_parts(m.group(1))
            index.setdefault(section, lineno)
            continue
        m = _KEY_RE.match(line)
        if m:
            parts = _key_parts(m.group(1))
            for n in range(1, len(parts) + 1):
                index.setdefault((*section, *parts[:n]), lineno)
    return index


def _too_deep(data: Any, limit: int) -> bool:
    """Whether tables and arrays nest deeper than `limit` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


class _Ctx:
    def __init__(self, path: Path | None, text: str) -> None:
        self.path = path
        self.lines = _line_index(text)

    def where(self, keypath: tuple[str, ...]) -> str:
        """file:line: key — the key's own line, else its table's (a missing key has none)."""
        name = ".".join(keypath)
        line = None
        for n in range(len(keypath), 0, -1):
            line = self.lines.get(keypath[:n])
            if line:
                break
        file = str(self.path) if self.path else "<config>"
        return f"{file}:{line}: {name}" if line else f"{file}: {name}"


def _type_name(tp: Any) -> str:
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if is_dataclass(tp):
        return "a table"
    return str(tp)


#: Lower bounds that keep a typo from turning into a busy loop or an empty screen.
_MINIMUMS: dict[tuple[str, ...], float] = {
    ("mandrill", "timeout"): 0.1,
    ("mandrill", "max_search_calls"): 1,
    ("mandrill", "backfill_hours"): 0.1,
    ("mandrill", "check_window_hours"): 0.1,
    ("storage", "retention_days"): 1,
    ("ui", "feed_limit"): 10,
    # every source's interval, from the registry (0 would run its job every second)
    **{("mandrill", "poll", s.name): s.minimum for s in SOURCES if s.minimum is not None},
    ("mandrill", "poll", "backoff_cap"): 1,
    ("mandrill", "poll", "deadline"): 10,
    ("seed_test", "wait_minutes"): 0.5,
    ("seed_test", "poll_seconds"): 1,
}


def _coerce(value: Any, tp: Any, keypath: tuple[str, ...], ctx: _Ctx) -> Any:
    """The value of one key as its field's type says, or a ConfigError naming file, line
    and key: one small reader per form of type (the annotation is the schema)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return _coerce(value, args[0], keypath, ctx)
    where = ctx.where(keypath)
    if origin is Literal:  # a string here; which words it may be is checked with the rest
        return _scalar(value, str, keypath, where)
    if origin is tuple:
        return _coerce_tuple(value, get_args(tp)[0], keypath, ctx)
    if origin is dict:
        return _coerce_dict(value, get_args(tp)[1], where, ctx, keypath)
    if is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table ([{'.'.join(keypath)}])")
        return _build(tp, value, keypath, ctx)
    return _scalar(value, tp, keypath, where)


def words(choices: Sequence[str]) -> str:
    """'a, b or c': the choices of a fixed set, as an error or a comment names them."""
    return " or ".join(filter(None, [", ".join(choices[:-1]), choices[-1]]))


def _check_choices(obj: Any, at: tuple[str, ...], ctx: _Ctx) -> None:
    """Every fixed-set field of one table (a Literal type) holds one of its words; the
    error lists them all. Run where the table's other cross-checks run, in their order."""
    hints = get_type_hints(type(obj))
    for f in fields(obj):
        tp = hints[f.name]
        if get_origin(tp) is Literal and getattr(obj, f.name) not in get_args(tp):
            got = getattr(obj, f.name)
            raise ConfigError(
                f"{ctx.where((*at, f.name))} must be {words(get_args(tp))}, not {got!r}"
            )


def _coerce_tuple(value: Any, item: Any, keypath: tuple[str, ...], ctx: _Ctx) -> tuple[Any, ...]:
    where = ctx.where(keypath)
    if is_dataclass(item):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{where} must be an array of tables ([[{keypath[-1]}]])")
        return tuple(_build(item, v, (*keypath, str(i)), ctx) for i, v in enumerate(value))
    if item is int:
        if not _whole_numbers(value):
            raise ConfigError(f"{where} must be a list of whole numbers")
        return tuple(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def _whole_numbers(value: Any) -> bool:
    """A non-empty list of integers, none negative (true and false are not numbers)."""
    if not isinstance(value, list) or not value:
        return False
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


def _coerce_dict(
    value: Any, item: Any, where: str, ctx: _Ctx, keypath: tuple[str, ...]
) -> dict[str, Any]:
    if item is float:
        return _positive_numbers(value, where, ctx, keypath)
    if item is str:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where} must be a table of strings")
        return {str(k): v for k, v in value.items()}
    ok_map = isinstance(value, dict) and all(
        isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in value.values()
    )
    if not ok_map:
        raise ConfigError(f"{where} must be tables of strings")
    return {str(k): dict(v) for k, v in value.items()}


def _positive_numbers(
    value: Any, where: str, ctx: _Ctx, keypath: tuple[str, ...]
) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of positive numbers")
    for k, v in value.items():
        if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"{ctx.where((*keypath, k))} must be a positive number")
    return {str(k): float(v) for k, v in value.items()}


def _of_type(value: Any, tp: Any) -> bool:
    """Whether a TOML value is of a scalar field's type (an integer is a number too)."""
    if isinstance(value, bool) or tp is bool:
        return tp is bool and isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float)
    return isinstance(value, tp)


def _scalar(value: Any, tp: Any, keypath: tuple[str, ...], where: str) -> Any:
    """A bool, int, float or str, at or above its minimum (`_MINIMUMS`)."""
    if not _of_type(value, tp):
        got = type(value).__name__
        raise ConfigError(f"{where} must be {_type_name(tp)}, not {got} {value!r}")
    if tp is float:
        value = float(value)
    if tp in (int, float) and value < 0:
        raise ConfigError(f"{where} must not be negative")
    low = _MINIMUMS.get(keypath)
    if low is not None and value < low:
        raise ConfigError(f"{where} must be at least {low:g}, not {value!r}")
    return value


def _build(cls: Any, data: dict[str, Any], prefix: tuple[str, ...], ctx: _Ctx) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.name not in ("path", "warnings")}
    for key in data:
        if key not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(f"{ctx.where((*prefix, key))}: unknown key (known here: {choices})")
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], (*prefix, name), ctx)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{ctx.where((*prefix, name))}: required key is missing")
    return cls(**kwargs)


def default_config_path() -> Path:
    return platformdirs.user_config_path("mailops") / "config.toml"


def resolve_config_path(explicit: str | None) -> tuple[Path, bool]:
    """Where the config comes from, and whether the user named it (so it must exist)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("MAILOPS_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


def parse_config(text: str, path: Path | None = None) -> Config:
    ctx = _Ctx(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path or '<config>'}: not valid TOML: {exc}") from None
    except RecursionError:
        data = None
    if data is None or _too_deep(data, CONFIG_MAX_DEPTH):
        raise ConfigError(
            f"{path or '<config>'}: tables or arrays are nested more than "
            f"{CONFIG_MAX_DEPTH} levels deep; nothing in a mailops config needs that"
        )
    cfg: Config = _build(Config, data, (), ctx)
    b = cfg.blocklists
    try:
        configured_zones(b.ip_zones, b.domain_zones, b.codes)
    except ValueError as exc:
        raise ConfigError(f"{ctx.where(('blocklists', 'ip_zones'))}: {exc}") from None
    names: set[str] = set()
    for i, seed in enumerate(cfg.seeds):
        _check_seed(seed, ("seeds", str(i)), ctx)
        if seed.name in names:
            raise ConfigError(
                f"{ctx.where(('seeds', str(i), 'name'))}: seed name {seed.name!r} is used twice"
            )
        names.add(seed.name)
    st = cfg.seed_test
    try:
        parse_schedule(st.schedule)
    except ValueError as exc:
        raise ConfigError(f"{ctx.where(('seed_test', 'schedule'))}: {exc}") from None
    names = set()
    for i, cc in enumerate(cfg.content_checks):
        at = ("content_checks", str(i))
        if not cc.name:
            raise ConfigError(f"{ctx.where((*at, 'name'))}: required for every [[content_checks]]")
        if cc.name in names:
            raise ConfigError(f"{ctx.where((*at, 'name'))}: {cc.name!r} is used twice")
        names.add(cc.name)
        if bool(cc.template) == bool(cc.eml):
            raise ConfigError(f"{ctx.where(at)}: give either template or eml (one of them)")
    dm = cfg.dmarc
    _check_choices(dm, ("dmarc",), ctx)
    if dm.imap_host and not (dm.username and (dm.password_env or dm.password_file)):
        raise ConfigError(
            f"{ctx.where(('dmarc', 'imap_host'))}: the rua mailbox needs username and "
            "password_env or password_file"
        )
    for key, items in (
        ("mandrill_ranges", dm.mandrill_ranges),
        ("known_senders", dm.known_senders),
    ):
        for item in items:
            cidr = item.split("=", 1)[-1].strip() if key == "known_senders" else item
            if key == "known_senders" and "=" not in item:
                raise ConfigError(f'{ctx.where(("dmarc", key))}: {item!r} is not "Name=CIDR"')
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{ctx.where(('dmarc', key))}: {cidr!r} is not an IP range"
                ) from None
    _check_choices(st, ("seed_test",), ctx)
    _check_addresses(cfg, ctx)
    if cfg.seeds and not st.from_email:
        raise ConfigError(
            f"{ctx.where(('seed_test', 'from_email'))}: required when [[seeds]] are configured "
            "(an address on a sending domain verified in Mandrill)"
        )
    return replace(cfg, path=path)


_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def host_problem(host: str) -> str:
    """Why `host` is not an IP address or a DNS name ('' when it is one)."""
    if _UNSAFE.search(host):
        return "holds a space or a control character"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return ""
    except ValueError:
        pass
    try:
        ascii_name = host.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        return "is not a valid host name"
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL.match(x) for x in labels):
        return "is not a valid host name"
    return ""


def url_problem(url: str) -> str:
    """Why `url` is not a usable http(s) URL ('' when it is one)."""
    if _UNSAFE.search(url):
        return "holds a space or a control character"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    return host_problem(parts.hostname)


def _check_urls(cfg: Config, ctx: _Ctx) -> None:
    """The Mandrill base URL and the alert webhook's URL, when there is one."""
    urls: list[tuple[tuple[str, ...], str]] = [(("mandrill", "base_url"), cfg.mandrill.base_url)]
    if cfg.alerts.webhook_url:
        urls.append((("alerts", "webhook_url"), cfg.alerts.webhook_url))
    for at, url in urls:
        why = url_problem(url)
        if why:  # a webhook URL often carries its token in the path: name only the host
            shown = url if at[0] == "mandrill" else (urlsplit(url).hostname or "the URL")
            raise ConfigError(f"{ctx.where(at)}: {shown!r} {why}")


def _check_hosts(cfg: Config, ctx: _Ctx) -> None:
    """Every host name: spamd, the DMARC mailbox, the seeds' IMAP servers and the domains."""
    hosts: list[tuple[tuple[str, ...], str]] = [(("spamd", "host"), cfg.spamd.host)]
    if cfg.dmarc.imap_host:
        hosts.append((("dmarc", "imap_host"), cfg.dmarc.imap_host))
    hosts += [(("seeds", str(i), "imap_host"), x.imap_host) for i, x in enumerate(cfg.seeds)]
    hosts += [(("domains", "sending"), x) for x in cfg.domains.sending]
    hosts += [(("domains", "link_domains"), x) for x in cfg.domains.link_domains]
    for at, host in hosts:
        why = host_problem(host)
        if why:
            raise ConfigError(f"{ctx.where(at)}: {host!r} {why}")


def _check_ip_lists(cfg: Config, ctx: _Ctx) -> None:
    """The lists that hold IP addresses only: the nameservers and the extra IPs to check."""
    lists: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
        (("dns", "nameservers"), cfg.dns.nameservers),
        (("blocklists", "extra_ips"), cfg.blocklists.extra_ips),
    )
    for where_at, items in lists:
        for item in items:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise ConfigError(f"{ctx.where(where_at)}: {item!r} is not an IP address") from None


def _check_response_limits(cfg: Config, ctx: _Ctx) -> None:
    """Each key of [mandrill] response_limits_mb names an endpoint, or is "*" for the rest."""
    for method in cfg.mandrill.response_limits_mb:
        if method != "*" and not re.fullmatch(r"[a-z]+/[a-z0-9-]+", method):
            raise ConfigError(
                f"{ctx.where(('mandrill', 'response_limits_mb', method))}: {method!r} is not an "
                f'endpoint such as "messages/search" (or "*" for the rest; defaults: '
                f"{', '.join(f'{k} {v:g}' for k, v in MANDRILL_RESPONSE_MB.items())})"
            )


def _check_addresses(cfg: Config, ctx: _Ctx) -> None:
    """URLs, host names and IP addresses are checked when the file is read, not when a poll
    first uses them (where a bad one surfaced as "poll failed unexpectedly")."""
    _check_urls(cfg, ctx)
    _check_hosts(cfg, ctx)
    _check_ip_lists(cfg, ctx)
    if not 0 < cfg.dns.port < 65536:
        raise ConfigError(f"{ctx.where(('dns', 'port'))} must be from 1 to 65535")
    _check_response_limits(cfg, ctx)
    _check_service(cfg, ctx)


def parse_listen(text: str) -> tuple[str, int]:
    """ "host:port" (an IPv6 host in brackets) → (host, port); ValueError says the form."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f'{text!r} is not "host:port" (e.g. "127.0.0.1:8025", "[::1]:9108")')
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ValueError(f"{host!r}: listen on an IP address (or localhost)") from None
    return host, int(port)


def _check_service(cfg: Config, ctx: _Ctx) -> None:
    """The service's listen addresses and the webhook URL, read before anything starts."""
    listens = [(("webhooks", "listen"), cfg.webhooks.listen)]
    if cfg.metrics.listen:
        listens.append((("metrics", "listen"), cfg.metrics.listen))
    for at, text in listens:
        try:
            parse_listen(text)
        except ValueError as exc:
            raise ConfigError(f"{ctx.where(at)}: {exc}") from None
    url = cfg.webhooks.url
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise ConfigError(f"{ctx.where(('webhooks', 'url'))}: {url!r} is not an http(s) URL")
    if cfg.webhooks.max_body_mb <= 0:
        raise ConfigError(f"{ctx.where(('webhooks', 'max_body_mb'))} must be above 0")


def _check_seed(seed: SeedConfig, at: tuple[str, ...], ctx: _Ctx) -> None:
    for key in ("name", "address", "imap_host", "username"):
        if not getattr(seed, key):
            raise ConfigError(f"{ctx.where((*at, key))}: required for every [[seeds]] entry")
    _check_choices(seed, at, ctx)
    if not seed.password_env and not seed.password_file:
        raise ConfigError(
            f"{ctx.where(at)}: seed {seed.name!r} needs password_env or password_file"
        )


def read_secret_file(path: Path, what: str) -> tuple[str, list[str]]:
    """A secret held in a file, and a warning when others can read it. Only a regular file
    of at most a few KB is read: a FIFO would hang, /dev/zero would never end."""
    try:
        value = read_text(path, SECRET_FILE_BYTES).strip()
    except FileRefused as exc:
        raise ConfigError(f"Cannot use the {what} file {path}: {exc}") from None
    warnings = []
    if value and _readable_by_others(path):
        warnings.append(f"{path} holds the {what} and is readable by other users: chmod 600 {path}")
    return value, warnings


def _read_secret(file: str | None, env: str, what: str) -> str:
    """A secret from its file if one is named, else from the environment ('' if unset)."""
    if file:
        value, warnings = read_secret_file(Path(file).expanduser(), what)
        for w in warnings:
            log.warning("%s", w)
        return value
    return os.environ.get(env, "").strip() if env else ""


def resolve_dmarc_password(d: DmarcConfig) -> Secret:
    """The rua mailbox's IMAP password; the error says where to put it, never the value."""
    value = _read_secret(d.password_file, d.password_env, "password of the DMARC mailbox")
    if not value:
        where = d.password_file or f"${d.password_env}"
        raise ConfigError(f"No IMAP password for the DMARC mailbox: set {where}")
    return Secret(value)


def resolve_seed_password(seed: SeedConfig) -> Secret:
    """A seed's IMAP (app) password; the error says where to put it, never the value."""
    value = _read_secret(seed.password_file, seed.password_env, f"password of seed {seed.name}")
    if not value:
        where = seed.password_file or f"${seed.password_env}"
        raise ConfigError(f"No IMAP password for seed {seed.name}: set {where}")
    return Secret(value)


def load_config(explicit: str | None = None) -> Config:
    path, required = resolve_config_path(explicit)
    if not path.exists():
        if required:
            raise ConfigError(f"{path}: config file does not exist (try: mailops config init)")
        return Config()
    try:
        text = read_text(path, CONFIG_FILE_BYTES)
    except FileRefused as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    cfg = parse_config(text, path)
    warnings: list[str] = []
    if cfg.mandrill.api_key and _readable_by_others(path):
        warnings.append(f"{path} holds an API key and is readable by other users: chmod 600 {path}")
    return replace(cfg, warnings=tuple(warnings))


def _readable_by_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def resolve_api_key(cfg: Config) -> tuple[Secret, list[str]]:
    """Find the Mandrill API key; the error says exactly what to set, never the value."""
    m = cfg.mandrill
    where = str(cfg.path) if cfg.path else "the config file"
    warnings: list[str] = []
    if m.api_key_file:
        keyfile = Path(m.api_key_file).expanduser()
        if not keyfile.exists() and not keyfile.is_symlink():
            raise ConfigError(
                f"No Mandrill API key: [mandrill] api_key_file in {where} names {keyfile}, "
                "which does not exist"
            )
        value, warnings = read_secret_file(keyfile, "Mandrill API key")
        if not value:
            raise ConfigError(f"No Mandrill API key: the key file {keyfile} is empty")
        return Secret(value), warnings
    if m.api_key:
        return Secret(m.api_key), warnings
    value = os.environ.get(m.api_key_env, "").strip()
    if not value:
        raise ConfigError(
            f"No Mandrill API key: set the environment variable {m.api_key_env} "
            f"(or set [mandrill] api_key_file in {where})"
        )
    return Secret(value), warnings


def resolve_dqs_key(cfg: Config) -> Secret | None:
    """The optional Spamhaus DQS key, from its file or environment variable."""
    b = cfg.blocklists
    value = _read_secret(b.dqs_key_file, b.dqs_key_env, "DQS key")
    return Secret(value) if value else None


def resolve_webhook_key(cfg: Config) -> Secret:
    """The webhook's key; the error says where to put it, never the value."""
    w = cfg.webhooks
    value = _read_secret(w.key_file, w.key_env, "webhook key")
    if not value:
        where = w.key_file or f"${w.key_env}"
        raise ConfigError(
            f"[webhooks] url is set but the webhook has no key: set {where} to the key "
            "Mandrill shows for this webhook (Settings → Webhooks)"
        )
    return Secret(value)


CONFIG_TEMPLATE = render(
    Config,
    "mailops configuration (TOML). Every key is optional; the values shown are the defaults.\n"
    "Unknown keys are errors, so a typo is caught instead of silently ignored.",
)


def write_template(path: Path, force: bool = False) -> None:
    """Write the commented template with mode 0600 (it may later hold a key file path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists (use --force to overwrite it)") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(CONFIG_TEMPLATE)
    os.chmod(path, 0o600)
