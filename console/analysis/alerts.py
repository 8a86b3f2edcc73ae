"""Alert rules over the stored state, and the open → update → resolve lifecycle.

`evaluate` says which rules fire now (each a `Signal`: rule, subject, severity
and a sentence a person can read) and which rules it could judge at all: a
rule whose data is missing (its source never answered) neither fires nor
resolves anything. `reconcile` turns the signals into alerts with times.
Both are pure; jobs.py feeds them and the store keeps the result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from console.analysis.authdns import auth_judgements
from console.analysis.content import median_before, top_rules
from console.analysis.dmarc import DomainRow
from console.analysis.gmail import gmail_signals
from console.analysis.health import ORDER, Signal, blocklist_signals
from console.analysis.seeds import seed_run_stale, seed_signals
from console.analysis.tlsrpt import TlsDomainRow, tls_signals
from console.config import AlertConfig, DmarcConfig, PostmasterConfig, Thresholds, TlsRptConfig
from console.model import (
    Account,
    Alert,
    BlocklistView,
    ContentResult,
    DomainDns,
    GmailBoard,
    IpRow,
    ReadSpan,
    SeedRun,
    Severity,
    SourceStatus,
    Stats,
    SubaccountRow,
)

#: Fewer events than this are chance, whatever the rate (two complaints are not a trend).
MIN_EVENTS = 3


@dataclass(frozen=True)
class ContentView:
    """The content checks' latest results and their score histories."""

    results: tuple[ContentResult, ...]
    history: Mapping[str, Sequence[tuple[datetime, float]]]


@dataclass(frozen=True)
class AlertInputs:
    now: datetime
    account: Account | None = None
    reputation_history: Sequence[tuple[datetime, float]] = ()
    ips: Sequence[IpRow] | None = None
    ip_states: Mapping[str, Counter[str]] = field(default_factory=dict)
    ip_span: ReadSpan | None = None  # the part of the IP window ip_states rest on
    subaccounts: Sequence[SubaccountRow] | None = None
    dns: Sequence[DomainDns] | None = None
    blocklists: BlocklistView | None = None
    seed_run: SeedRun | None = None
    statuses: Mapping[str, SourceStatus] | None = None
    wall: datetime | None = None  # the statuses' clock, when it is not `now` (the demo's)
    dmarc: Sequence[DomainRow] | None = None  # the last 7 days of aggregate reports
    content: ContentView | None = None  # the content checks' latest results and histories
    gmail: GmailBoard | None = None  # what Gmail Postmaster Tools published, beside Mandrill
    tls: Sequence[TlsDomainRow] | None = None  # SMTP TLS reports, 7 days, per domain


def _pct(x: float) -> str:
    return f"{x * 100:.3f}%" if x < 0.01 else f"{x * 100:.1f}%"


def _limit(x: float) -> str:
    return f"{x * 100:g}%"


def beside(value: float, limit: float) -> tuple[str, str]:
    """A rate and the limit it is compared with, printed with as many digits as it takes
    for them to differ: "0.100% is above 0.1%" reads as false, "0.10004% … 0.10000%" not."""
    digits = 3 if value < 0.01 else 1
    while True:
        v, lim = f"{value * 100:.{digits}f}%", f"{limit * 100:.{digits}f}%"
        if v != lim or digits >= 8:
            return v, lim
        digits += 1


def _rate_rules(
    out: list[Signal],
    rule: str,
    subject: str,
    what: str,
    n: int,
    total: int,
    warn: float,
    crit: float,
    why: str,
    a: AlertConfig,
    base: str = "",
) -> None:
    """A warning or critical signal when n of total is above its limit; `base` says
    what the total counts and over which period, when it is not obvious from `what`."""
    if total < a.min_messages or total <= 0 or n < MIN_EVENTS:
        return
    rate = n / total
    sev: Severity | None = "critical" if rate > crit else ("warning" if rate > warn else None)
    if sev is not None:
        limit = crit if sev == "critical" else warn
        shown, lim = _pct(rate), _limit(limit)
        if float(shown.rstrip("%")) <= float(lim.rstrip("%")):  # rounding hides the excess
            shown, lim = beside(rate, limit)
        out.append(
            Signal(
                rule,
                subject,
                sev,
                f"{what} {shown} ({n:,} of {total:,}{base}) is above {lim}{why}",
            )
        )


@dataclass(frozen=True)
class _Limits:
    """The thresholds every rule family reads."""

    t: Thresholds
    a: AlertConfig
    dm: DmarcConfig
    pm: PostmasterConfig
    tr: TlsRptConfig


#: the mailbox providers' published complaint LIMITS, said beside every complaint rate
LIMITS = " (the mailbox providers' limit)"


def evaluate(
    x: AlertInputs,
    t: Thresholds,
    a: AlertConfig,
    dm: DmarcConfig | None = None,
    pm: PostmasterConfig | None = None,
    tr: TlsRptConfig | None = None,
) -> tuple[list[Signal], set[str]]:
    """The signals firing now, and the rules that could be judged (so may resolve)."""
    c = _Limits(t, a, dm or DmarcConfig(), pm or PostmasterConfig(), tr or TlsRptConfig())
    have = {need for need, _, _ in FAMILIES if getattr(x, need) is not None}
    out = [s for need, _, family in FAMILIES if need in have for s in family(x, c)]
    unjudged = set(a.disabled) | _unjudged(x)
    out = [s for s in out if s.rule not in unjudged]
    covered = {rule for rule, need in RULES.items() if need in have and rule not in unjudged}
    return _dedupe(out), covered


#: Rules whose counts come from the messages read: with none read they judge nothing.
MESSAGE_RULES = frozenset({
    "customer_complaints", "customer_hard_bounces", "customer_outlier", "ip_complaint_rate",
    "ip_hard_bounce_rate", "noisy_neighbour", "warmup_overload", "warmup_underperform",
})  # fmt: skip


def _unjudged(x: AlertInputs) -> set[str]:
    """Rules that must neither fire nor resolve now although their input is present:
    rates over messages when none have been read yet, and a seed run's placement
    once the run is too old to say anything about today."""
    out: set[str] = set()
    span = x.ip_span
    if span is not None and span.since >= span.until:
        out |= MESSAGE_RULES
    if x.seed_run is not None and seed_run_stale(x.seed_run, x.now):
        out.add("seed_inbox")
    return out


def _account_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.account is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    rep = x.account.reputation
    if rep is not None:
        out += _reputation_low(rep, c.t)
        out += _reputation_drop(rep, x, c.a)
    week = x.account.stats.get("last_7_days")
    if week is not None:
        _week_rate_rules(out, week, c)
    return out


def _reputation_low(rep: int, t: Thresholds) -> list[Signal]:
    """Critical below the Poor line, a warning below the Good one."""
    if rep < t.reputation_poor:
        text = f"account reputation {rep} is Poor (below {t.reputation_poor})"
        return [Signal("reputation_low", "account", "critical", text)]
    if rep < t.reputation_good:
        text = f"account reputation {rep} is below {t.reputation_good}"
        return [Signal("reputation_low", "account", "warning", text)]
    return []


def _reputation_drop(rep: int, x: AlertInputs, a: AlertConfig) -> list[Signal]:
    """A fall from the best reputation of the last 24 hours by the configured points."""
    day_ago = x.now - timedelta(hours=24)
    past = [v for when, v in x.reputation_history if when >= day_ago]
    if past and max(past) - rep >= a.reputation_drop_points:
        text = f"account reputation fell {max(past) - rep:g} points in 24 h ({max(past):g} → {rep})"
        return [Signal("reputation_drop", "account", "warning", text)]
    return []


def _week_rate_rules(out: list[Signal], week: Stats, c: _Limits) -> None:
    """Mandrill's own 7-day hard-bounce and complaint rates for the whole account."""
    t, a = c.t, c.a
    _rate_rules(
        out,
        "hard_bounce_rate",
        "account",
        "Mandrill's 7-day hard-bounce rate",
        week.hard_bounces,
        week.sent,
        t.hard_bounce_rate,
        a.hard_bounce_critical,
        "",
        a,
    )
    _rate_rules(
        out,
        "complaint_rate",
        "account",
        "Mandrill's 7-day complaint rate",
        week.complaints,
        week.sent,
        t.complaint_warning,
        t.complaint_critical,
        LIMITS,
        a,
    )


def _subaccounts_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.subaccounts is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    t, a = c.t, c.a
    subs = x.subaccounts
    totals = (
        sum(s.messages for s in subs),
        sum(s.complaints for s in subs),
        sum(s.hard_bounces for s in subs),
    )
    for s in subs:
        who = f"customer {s.id}"
        name = f"{s.name} ({s.id})" if s.name and s.name != s.id else s.id
        read_base = f" messages read, {s.span.text if s.span else '7 d'}"
        _rate_rules(
            out, "customer_complaints", who, f"{name}: complaint rate", s.complaints,
            s.messages, t.complaint_warning, t.complaint_critical, LIMITS, a, read_base,
        )  # fmt: skip
        _rate_rules(
            out, "customer_hard_bounces", who, f"{name}: hard-bounce rate", s.hard_bounces,
            s.messages, t.hard_bounce_rate, a.hard_bounce_critical, "", a, read_base,
        )  # fmt: skip
        out += _outlier_signals(s, who, name, read_base, totals, a)
    return out


def _outlier_signals(
    s: SubaccountRow,
    who: str,
    name: str,
    read_base: str,
    totals: tuple[int, int, int],
    a: AlertConfig,
) -> list[Signal]:
    """A customer whose complaint or hard-bounce rate is many times the other customers'
    (`totals`: messages, complaints and hard bounces of all customers)."""
    all_msgs, all_complaints, all_hard = totals
    rest = all_msgs - s.messages
    if s.messages < a.min_messages or rest < a.min_messages:
        return []
    out: list[Signal] = []
    for label, mine, total in (
        ("complaint", s.complaints, all_complaints),
        ("hard-bounce", s.hard_bounces, all_hard),
    ):
        others = (total - mine) / rest
        rate = mine / s.messages
        if mine >= MIN_EVENTS and rate >= a.customer_factor * max(others, 1e-9):
            versus = (
                f"is {rate / others:.0f}× the other customers' {_pct(others)}"
                if others
                else "while the other customers have none"
            )
            out.append(
                Signal(
                    "customer_outlier",
                    f"{who} ({label})",
                    "warning",
                    f"{name}: {label} rate {_pct(rate)} {versus} "
                    f"({mine} of {s.messages:,}{read_base})",
                )
            )
    return out


def _ips_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.ips is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    rows = list(x.ips)
    over = x.ip_span.text if x.ip_span else f"{c.t.ip_window_hours:g} h"
    for r in rows:
        _ip_rate_rules(out, r, x.ip_states.get(r.ip, Counter()), over, c)
        if r.noisy:
            out.append(Signal("noisy_neighbour", f"IP {r.ip}", "warning", f"{r.ip}: {r.note}"))
        out += _warmup_overload(r, over, c.a)
    out += _warmup_underperform(rows, c)
    return out


def _ip_rate_rules(
    out: list[Signal], r: IpRow, states: Counter[str], over: str, c: _Limits
) -> None:
    """One IP's complaint and hard-bounce rates over the messages read that it carried."""
    t, a = c.t, c.a
    total = sum(states.values())
    subject = f"IP {r.ip}"
    read_base = f" messages read, {over}"
    _rate_rules(
        out,
        "ip_complaint_rate",
        subject,
        f"{r.ip}: complaint rate",
        states.get("spam", 0),
        total,
        t.complaint_warning,
        t.complaint_critical,
        LIMITS,
        a,
        read_base,
    )
    _rate_rules(
        out,
        "ip_hard_bounce_rate",
        subject,
        f"{r.ip}: hard-bounce rate",
        states.get("bounced", 0),
        total,
        t.hard_bounce_rate,
        a.hard_bounce_critical,
        "",
        a,
        read_base,
    )


def _warmup_overload(r: IpRow, over: str, a: AlertConfig) -> list[Signal]:
    """A dedicated IP warming up that carried more than its day of the plan allows."""
    if not (r.dedicated and r.warming_up and r.warmup_day and a.warmup_plan):
        return []
    plan = a.warmup_plan[min(r.warmup_day, len(a.warmup_plan)) - 1]
    if r.sent > plan * (1 + a.warmup_tolerance):
        text = (
            f"{r.ip} on warm-up day {r.warmup_day} carried {r.sent:,} "
            f"messages (mail read, {over}); the plan allows about {plan:,}"
        )
        return [Signal("warmup_overload", f"IP {r.ip}", "warning", text)]
    return []


def _warmup_underperform(rows: Sequence[IpRow], c: _Limits) -> list[Signal]:
    """Dedicated IPs delivering clearly less than the shared pool (its noisy IPs left out)."""
    t, a = c.t, c.a
    shared = [r for r in rows if not r.dedicated and r.sent >= a.min_messages and not r.noisy]
    s_sent = sum(r.sent for r in shared)
    if not s_sent:
        return []
    pool_rate = sum(r.delivered for r in shared) / s_sent
    out: list[Signal] = []
    for r in rows:
        if (
            r.dedicated
            and r.delivery_rate is not None
            and r.sent >= a.min_messages
            and r.delivery_rate < pool_rate - t.noisy_drop
        ):
            out.append(
                Signal(
                    "warmup_underperform",
                    f"IP {r.ip}",
                    "warning",
                    f"dedicated {r.ip} delivers {_pct(r.delivery_rate)}, "
                    f"below the shared pool's {_pct(pool_rate)}",
                )
            )
    return out


def _dns_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.dns is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    for d in x.dns:
        out += [Signal("dns_auth", subj, sev, text) for subj, sev, text in auth_judgements(d)]
    return out


def _blocklists_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.blocklists is None:  # not read: its rules are not judged
        return []
    return blocklist_signals(x.blocklists)


def _seed_run_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.seed_run is None:  # not read: its rules are not judged
        return []
    return seed_signals(x.seed_run, x.now, c.a.seed_inbox_min)


def _statuses_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.statuses is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    a = c.a
    for st in x.statuses.values():
        if st.ok is not False:
            continue
        since = st.last_ok_at
        down = ((x.wall or x.now) - since).total_seconds() / 60 if since else None
        if st.final:
            out.append(
                Signal("source_failing", f"source {st.name}", "critical", f"{st.name}: {st.error}")
            )
        elif down is None or down >= a.source_failing_minutes:
            how_long = f"for {down:.0f} min" if down is not None else "since start"
            out.append(
                Signal(
                    "source_failing",
                    f"source {st.name}",
                    "warning",
                    f"{st.name} polls failing {how_long}: {st.error}",
                )
            )
    return out


def _dmarc_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.dmarc is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    a, dm = c.a, c.dm
    for dr in x.dmarc:
        mandrill_rate = dr.mandrill_pass_rate
        if (
            mandrill_rate is not None
            and dr.mandrill_messages >= a.min_messages
            and mandrill_rate < dm.pass_rate_min
        ):
            sev: Severity = "critical" if mandrill_rate < dm.pass_rate_min - 0.15 else "warning"
            out.append(
                Signal(
                    "dmarc_pass_rate",
                    dr.domain,
                    sev,
                    f"{dr.domain}: only {_pct(mandrill_rate)} of Mandrill-sent mail passed "
                    f"DMARC in 7 days ({dr.mandrill_passed:,} of "
                    f"{dr.mandrill_messages:,}; below {_limit(dm.pass_rate_min)})",
                )
            )
        for src in dr.unknown_sources:
            if src.spoofing:
                name = f" ({src.rdns})" if src.rdns else ""
                out.append(
                    Signal(
                        "dmarc_unknown_source",
                        f"{dr.domain} {src.ip}",
                        "warning",
                        f"{dr.domain}: unknown source {src.ip}{name} sent "
                        f"{src.messages:,} messages as the domain in 7 days, "
                        f"{src.failed:,} failing DMARC: possible spoofing",
                    )
                )
    return out


def _tls_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.tls is None:  # no TLS report stored: nothing to judge
        return []
    return tls_signals(x.tls, c.tr.failure_rate_max, c.tr.min_sessions)


def _gmail_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.gmail is None:  # not read: its rules are not judged
        return []
    return gmail_signals(x.gmail, c.pm.spam_warning, c.pm.spam_critical, c.pm.delivery_error_max)


def _content_rules(x: AlertInputs, c: _Limits) -> list[Signal]:
    if x.content is None:  # not read: its rules are not judged
        return []
    out: list[Signal] = []
    for cr in x.content.results:
        score_report = cr.report
        if score_report is not None:
            base = median_before(x.content.history.get(cr.name, ()), cr.checked_at)
            if score_report.score >= score_report.threshold:
                top = top_rules(score_report.rules)
                out.append(
                    Signal(
                        "content_score",
                        cr.name,
                        "critical",
                        f"content check {cr.name}: SpamAssassin scores it "
                        f"{score_report.score:.1f}, at or above the "
                        f"{score_report.threshold:.1f} threshold ({top})",
                    )
                )
            elif base is not None and score_report.score - base >= 1.0:
                out.append(
                    Signal(
                        "content_score",
                        cr.name,
                        "warning",
                        f"content check {cr.name}: score rose to {score_report.score:.1f} "
                        f"from a 7-day median of {base:.1f}",
                    )
                )
        for lf in cr.lint:
            out.append(
                Signal(
                    "content_lint",
                    f"{cr.name} {lf.code}",
                    "warning",
                    f"content check {cr.name}: {lf.text}",
                )
            )
    return out


#: Each input's rule family: the rules it may raise, judged only when that input is
#: present (a rule whose data is missing neither fires nor resolves).
FAMILIES: tuple[
    tuple[str, tuple[str, ...], Callable[[AlertInputs, _Limits], list[Signal]]], ...
] = (
    (
        "account",
        (
            "reputation_low",
            "reputation_drop",
            "hard_bounce_rate",
            "complaint_rate",
        ),
        _account_rules,
    ),
    (
        "subaccounts",
        (
            "customer_complaints",
            "customer_hard_bounces",
            "customer_outlier",
        ),
        _subaccounts_rules,
    ),
    (
        "ips",
        (
            "ip_complaint_rate",
            "ip_hard_bounce_rate",
            "noisy_neighbour",
            "warmup_overload",
            "warmup_underperform",
        ),
        _ips_rules,
    ),
    ("dns", ("dns_auth",), _dns_rules),
    (
        "blocklists",
        (
            "blocklist",
            "dns_unknown",
        ),
        _blocklists_rules,
    ),
    (
        "seed_run",
        (
            "seed_inbox",
            "seed_problem",
        ),
        _seed_run_rules,
    ),
    ("statuses", ("source_failing",), _statuses_rules),
    (
        "dmarc",
        (
            "dmarc_pass_rate",
            "dmarc_unknown_source",
        ),
        _dmarc_rules,
    ),
    (
        "content",
        (
            "content_score",
            "content_lint",
        ),
        _content_rules,
    ),
    ("gmail", ("gmail_spam", "gmail_delivery_errors", "gmail_compliance"), _gmail_rules),
    ("tls", ("tls_failures",), _tls_rules),
)

#: Every rule, with the input it needs.
RULES: dict[str, str] = {rule: need for need, rules, _ in FAMILIES for rule in rules}


def _dedupe(signals: list[Signal]) -> list[Signal]:
    """One signal per key, the most severe (two findings can name the same subject)."""
    best: dict[str, Signal] = {}
    for s in signals:
        cur = best.get(s.key)
        if cur is None or ORDER[s.severity] > ORDER[cur.severity]:
            best[s.key] = s
    return list(best.values())


@dataclass(frozen=True)
class Reconciled:
    alerts: tuple[Alert, ...]  # every alert, open and resolved, after this evaluation
    opened: tuple[Alert, ...] = ()  # new, or escalated to critical
    resolved: tuple[Alert, ...] = ()


def reconcile(
    current: Sequence[Alert], signals: Sequence[Signal], covered: set[str], now: datetime
) -> Reconciled:
    """Open new alerts, update open ones, resolve those whose rule no longer fires."""
    by_key = {s.key: s for s in signals}
    out: list[Alert] = []
    opened: list[Alert] = []
    resolved: list[Alert] = []
    open_keys = set()
    for al in current:
        if al.resolved_at is not None:
            out.append(al)
            continue
        sig = by_key.get(al.key)
        if sig is None:
            if al.rule in covered:
                done = replace(al, resolved_at=now, updated_at=now)
                out.append(done)
                resolved.append(done)
            else:
                out.append(al)  # its data is missing: unknown is not resolved
                open_keys.add(al.key)
            continue
        open_keys.add(al.key)
        if sig.severity != al.severity or sig.message != al.message:
            escalated = ORDER[sig.severity] > ORDER[al.severity]
            new = replace(
                al,
                severity=sig.severity,
                message=sig.message,
                updated_at=now,
                peak=max(al.peak, sig.severity, key=lambda s: ORDER[s]),
                acked_at=None if escalated else al.acked_at,
                ack_note="" if escalated else al.ack_note,
            )
            out.append(new)
            if escalated and sig.severity == "critical":
                opened.append(new)
        else:
            out.append(al)
    taken = {al.id for al in current}
    for sig in signals:
        if sig.key in open_keys:
            continue
        new = Alert(
            id=_fresh_id(f"{sig.key}|{now.timestamp():.0f}", taken),
            key=sig.key,
            rule=sig.rule,
            subject=sig.subject,
            severity=sig.severity,
            message=sig.message,
            opened_at=now,
            updated_at=now,
            peak=sig.severity,
        )
        out.append(new)
        opened.append(new)
    return Reconciled(tuple(out), tuple(opened), tuple(resolved))


def _fresh_id(base: str, taken: set[str]) -> str:
    """An id no stored alert has: a rule that resolves and fires again within the same
    second must not share its id with the one before (a screen keys rows by it)."""
    found, n = base, 1
    while found in taken:
        n += 1
        found = f"{base}#{n}"
    taken.add(found)
    return found


def acknowledge(alert: Alert, note: str, now: datetime) -> Alert:
    return replace(alert, acked_at=now, ack_note=note.strip()[:500])


def worst(alerts: Sequence[Alert]) -> str:
    """ok, warning or critical: the most severe open alert."""
    sev = [a.severity for a in alerts if a.resolved_at is None]
    return max(sev, key=lambda s: ORDER[s], default="ok")
