"""Gmail's view (Postmaster Tools) beside Mandrill's: the days kept, the rules, and the
sentence that says when the two disagree.

Pure: what Google published comes in as GmailDay and GmailCompliance objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from console.analysis.health import Signal
from console.model import GmailCompliance, GmailDay, GmailView, Severity

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
    days = [d for d in view.days if d.domain == domain and d.spam_rate is not None]
    return days[-1] if days else None


def gmail_signals(
    view: GmailView, spam_warning: float, spam_critical: float, error_max: float
) -> list[Signal]:
    """Gmail's spam rate on its latest published day, a compliance requirement needing
    work, and any delivery-error reason above `error_max` on that day."""
    out: list[Signal] = []
    for domain in view.domains:
        day = latest(view, domain)
        if day is not None:
            out += _spam(day, spam_warning, spam_critical)
            out += _errors(day, error_max)
    for c in view.compliance:
        out += _compliance(c)
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


def _errors(day: GmailDay, error_max: float) -> list[Signal]:
    out = []
    for reason, rate in sorted(day.errors.items()):
        if rate > error_max:
            words = REASON_WORDS.get(reason, reason)
            text = f"Gmail {words}: {rate:.1%} of {day.domain}'s mail on {day.day}"
            out.append(Signal("gmail_delivery_errors", f"gmail {day.domain} {reason}",
                              "warning", text))  # fmt: skip
    return out


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
    """The plain sentence when Gmail's spam rate is high and Mandrill's complaints are not
    ("" when they agree or either is unknown)."""
    if gmail_rate is None or mandrill_rate is None:
        return ""
    if gmail_rate >= 0.001 and gmail_rate > 3 * mandrill_rate:
        return (
            f"Gmail users marked {gmail_rate:.2%} as spam; Mandrill saw {mandrill_rate:.2%} "
            "complaints — Gmail's feedback does not reach Mandrill"
        )
    return ""
