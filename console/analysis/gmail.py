"""Gmail's view (Postmaster Tools) beside Mandrill's: the days kept, the rules, and the
sentence that says when the two disagree.

Pure: what Google published comes in as GmailDay and GmailCompliance objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from console.analysis.health import Signal
from console.model import (
    GmailBoard,
    GmailCompliance,
    GmailDay,
    GmailDomain,
    GmailView,
    MandrillDay,
    Severity,
)

#: Gmail's own lines for the user-reported spam rate: keep below 0.1 %, never reach 0.3 %
GMAIL_KEEP_BELOW, GMAIL_NEVER = 0.001, 0.003

#: Delivery-error reasons in plain words, for the alerts and the screen.
REASON_WORDS = {
    "reject/bad_attachment": "rejected for an attachment Gmail does not accept",
    "reject/bad_or_missing_ptr_record": "rejected: the sending IP has no or a bad PTR record",
    "reject/ip_in_rbls": "rejected: the sending IP is on a blocklist",
    "reject/low_domain_reputation": "rejected for the domain's low reputation at Gmail",
    "reject/low_ip_reputation": "rejected for the sending IP's low reputation at Gmail",
    "reject/spammy_content": "rejected as spammy content",
    "reject/stamp_policy_error": "rejected by a sender policy (STAMP)",
    "reject/other": "rejected for another reason",
    "temp_fail/anomalous_traffic_pattern": "deferred: an unusual traffic pattern",
    "temp_fail/other": "deferred for another reason",
}

#: The same reasons in a few words, for a line that lists several.
REASON_SHORT = {
    "reject/bad_attachment": "bad attachment",
    "reject/bad_or_missing_ptr_record": "no/bad PTR",
    "reject/ip_in_rbls": "IP blocklisted",
    "reject/low_domain_reputation": "low domain reputation",
    "reject/low_ip_reputation": "low IP reputation",
    "reject/spammy_content": "spammy content",
    "reject/stamp_policy_error": "STAMP policy",
    "reject/other": "rejected, other",
    "temp_fail/anomalous_traffic_pattern": "deferred: odd traffic",
    "temp_fail/other": "deferred, other",
}


def merge_days(
    old: Sequence[GmailDay],
    new: Sequence[GmailDay],
    asked_from: date,
    keep_since: date,
    domains: Sequence[str],
) -> tuple[GmailDay, ...]:
    """The history kept: what a poll asked for comes only from its answer (a day Google
    has not published stays absent); older days are kept from before, back to
    `keep_since`; domains no longer read are dropped. Oldest first."""
    wanted = set(domains)
    kept = [d for d in old if d.domain in wanted and keep_since <= d.day < asked_from]
    fresh = [d for d in new if d.domain in wanted]
    return tuple(sorted([*kept, *fresh], key=lambda d: (d.domain, d.day)))


def latest(view: GmailView, domain: str) -> GmailDay | None:
    """The newest day Google published a spam rate for this domain."""
    return latest_of([d for d in view.days if d.domain == domain])


def latest_of(days: Sequence[GmailDay]) -> GmailDay | None:
    """The newest of these days (oldest first) that has a spam rate."""
    known = [d for d in days if d.spam_rate is not None]
    return known[-1] if known else None


def gmail_signals(
    board: GmailBoard, spam_warning: float, spam_critical: float, error_max: float
) -> list[Signal]:
    """Gmail's spam rate on its latest published day, a compliance requirement needing
    work, and any delivery-error reason above `error_max` on that day."""
    out: list[Signal] = []
    for row in board.domains:
        day = latest_of(row.days)
        if day is not None:
            out += _spam(day, spam_warning, spam_critical)
            out += _errors(day, error_max, row.carriers)
        if row.compliance is not None:
            out += _compliance(row.compliance)
    return out


def _spam(day: GmailDay, warning: float, critical: float) -> list[Signal]:
    rate = day.spam_rate
    if rate is None or rate < warning:
        return []
    sev: Severity = "critical" if rate >= critical else "warning"
    line = f"{critical:.1%}" if sev == "critical" else f"{warning:.1%}"
    text = (f"Gmail users marked {rate:.2%} of {day.domain}'s mail as spam on {day.day} "
            f"(Gmail's line: {line})")  # fmt: skip
    return [Signal("gmail_spam", f"gmail {day.domain}", sev, text)]


#: reasons about our sending IPs: their alert names the IPs that carried that day's mail
IP_REASONS = frozenset({"reject/low_ip_reputation", "reject/ip_in_rbls",
                        "reject/bad_or_missing_ptr_record"})  # fmt: skip


def _errors(
    day: GmailDay, error_max: float, carriers: Sequence[tuple[str, int]] = ()
) -> list[Signal]:
    out = []
    for reason, rate in sorted(day.errors.items()):
        if rate > error_max:
            words = REASON_WORDS.get(reason, reason)
            text = f"Gmail {words}: {rate:.1%} of {day.domain}'s mail on {day.day}"
            if reason in IP_REASONS and carriers:
                text += "; " + carried_by(carriers)
            out.append(Signal("gmail_delivery_errors", f"gmail {day.domain} {reason}",
                              "warning", text))  # fmt: skip
    return out


def carried_by(carriers: Sequence[tuple[str, int]], most: int = 3) -> str:
    """ "that UTC day our mail left from 198.51.100.13 (41 %), 203.0.113.25 (38 %) …"."""
    total = sum(n for _, n in carriers) or 1
    named = ", ".join(f"{ip} ({n / total:.0%})" for ip, n in carriers[:most])
    more = f" and {len(carriers) - most} more" if len(carriers) > most else ""
    return f"that UTC day our mail left from {named}{more}"


def _compliance(c: GmailCompliance) -> list[Signal]:
    failing = sorted(r for r, state in c.requirements.items() if state == "NEEDS_WORK")
    if not failing:
        return []
    why = []
    if "ONE_CLICK_UNSUBSCRIBE" in failing and c.one_click_reason:
        why.append(c.one_click_reason)
    if "HONOR_UNSUBSCRIBE" in failing and c.honor_reason:
        why.append(c.honor_reason)
    extra = f" ({', '.join(why)})" if why else ""
    text = f"Gmail's sender requirements for {c.domain}: {', '.join(failing)} need work{extra}"
    return [Signal("gmail_compliance", f"gmail {c.domain}", "warning", text)]


def disagreement(gmail_rate: float | None, mandrill_rate: float | None) -> str:
    """The plain sentence when Gmail's spam rate is at or over Gmail's 0.1 % line and more
    than 3× Mandrill's complaint rate ("" when they agree or either is unknown)."""
    if gmail_rate is None or mandrill_rate is None:
        return ""
    if gmail_rate >= GMAIL_KEEP_BELOW and gmail_rate > 3 * mandrill_rate:
        return (
            f"Gmail users marked {gmail_rate:.2%} as spam; Mandrill saw {mandrill_rate:.2%} "
            "complaints — Gmail's feedback does not reach Mandrill"
        )
    return ""


def mandrill_day(counts: Mapping[str, Counter[str]], domain: str, whole: bool) -> MandrillDay:
    """Mandrill's messages and complaints ("spam" state) of one UTC day from `domain` and
    its subdomains, out of the day's per-sender-domain counts."""
    messages = complaints = 0
    for sender, states in counts.items():
        if sender == domain or sender.endswith("." + domain):
            messages += sum(states.values())
            complaints += states.get("spam", 0)
    return MandrillDay(messages, complaints, whole)


def gmail_board(
    view: GmailView,
    mandrill: Mapping[date, tuple[Mapping[str, Counter[str]], bool]],
    carriers: Mapping[date, Mapping[str, int]],
    today: date,
    window_days: int,
) -> GmailBoard:
    """Each domain's last `window_days` days as Gmail published them, beside Mandrill's
    complaints on the same UTC days (`mandrill`: per day its counts per sender domain,
    and whether the day was read whole) and the IPs that carried the mail then."""
    first = today - timedelta(days=max(1, window_days) - 1)
    compliance = {c.domain: c for c in view.compliance}
    rows = []
    for domain in view.domains:
        days = tuple(d for d in view.days if d.domain == domain and d.day >= first)
        theirs = {}
        for d in days:
            if d.day in mandrill:
                m = mandrill_day(mandrill[d.day][0], domain, mandrill[d.day][1])
                if m.messages:
                    theirs[d.day] = m
        top = latest_of(days)
        ips = _most_first(carriers.get(top.day, {})) if top else ()
        sentence = _sentence(days, theirs)
        rows.append(GmailDomain(domain, days, theirs, compliance.get(domain), ips, sentence))
    return GmailBoard(view, tuple(rows), window_days, today)


def _most_first(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _sentence(days: Sequence[GmailDay], mandrill: Mapping[date, MandrillDay]) -> str:
    """The disagreement on the latest day both sides have a figure for, the day named;
    a day Mandrill's side was not read whole says so."""
    for day in reversed(days):
        theirs = mandrill.get(day.day)
        if day.spam_rate is None or theirs is None:
            continue
        text = disagreement(day.spam_rate, theirs.complaint_rate)
        if not text:
            return ""
        partial = "" if theirs.whole else " (Mandrill's side: part of that day read)"
        return f"{day.day:%m-%d}: {text}{partial}"
    return ""
