"""What each figure counts: its source, window and base, in one table.

The README's table "What each figure counts" and the help screen of each console screen
are both made from this one list (a test checks the README against it), so the words a
support engineer reads on screen are the words in the documentation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One figure: `where` it is shown, its `source`, the `window` it covers and the
    `base` a rate is taken over; `screens` are the help screens that explain it."""

    figure: str
    where: str
    source: str
    window: str
    base: str
    screens: tuple[str, ...]


FIGURES: tuple[Figure, ...] = (
    Figure(
        "account reputation, history",
        "main, `check` `account.reputation`",
        "Mandrill users/info, a sample each account poll",
        "now; the sparkline since its first sample",
        "0–100, Mandrill's",
        ("main",),
    ),
    Figure(
        'sent, delivery, hard, soft, reject, complaint rate ("today", "7 days")',
        'main, `check` `account.today` / `last_7_days`, account alerts ("Mandrill\'s 7-day …")',
        "Mandrill users/info `stats`",
        "Mandrill's today / last 7 days",
        "Mandrill's sent in the same period",
        ("main",),
    ),
    Figure(
        "denylist n (by reason)",
        "main",
        "Mandrill rejects/list",
        "now",
        'entries listed; "1000+" at Mandrill\'s listing cap',
        ("main",),
    ),
    Figure(
        "customer rep",
        "main, customer screen, `check`",
        "Mandrill subaccounts/list",
        "now",
        "0–100, Mandrill's",
        ("main", "customer"),
    ),
    Figure(
        "customer complaints, hard",
        'main ("customer counts: mail read, 7 d" in the title), customer screen, '
        "customer alerts, `check` `subaccounts[]`",
        "messages read",
        'today and the 6 UTC days before, or "last N h of 7 d"',
        "`messages_read`: that customer's messages read in the same period",
        ("main", "customer", "alerts"),
    ),
    Figure(
        "customer sent/wk",
        "main, customer screen, `check` `sent_weekly`, customer report",
        "Mandrill subaccounts/list `sent_weekly`",
        "since Monday 00:00 UTC",
        "Mandrill's",
        ("main", "customer"),
    ),
    Figure(
        "IP sent, delivered, rate",
        'main ("counts: mail read, 24 h" in the title), IP alerts, `check` `ips[]`',
        "messages read with that sending IP (`smtp_events`)",
        'the last `ip_window_hours` (24 h), or "last N h of 24 h"',
        "rate: delivered (sent, delivered, spam, unsub) of all messages read for the IP",
        ("main",),
    ),
    Figure(
        "messages without an IP",
        "IP panel note, `check` `messages_without_ip`",
        "messages read",
        "the same window",
        "messages that reached a receiver without `smtp_events`",
        ("main",),
    ),
    Figure(
        "noisy neighbour",
        "IP panel, alert",
        "messages read",
        "last `noisy_window_hours` (3 h)",
        "≥ 50 messages, delivery vs our other IPs",
        ("main",),
    ),
    Figure(
        "warm-up day N/M",
        "IP panel",
        "Mandrill ips/list warm-up dates",
        "by time",
        "days, not traffic",
        ("main",),
    ),
    Figure(
        "blocklist n/m",
        "IP panel, DNS screen",
        "our DNS sweep",
        "the last sweep",
        "n lists listing it of m lists of its kind (IP lists for IPs, domain lists for "
        'domains); "?" when a list could not be read',
        ("main", "dns"),
    ),
    Figure(
        "feed rows, match count",
        "main feed, `e` export",
        "messages read",
        "everything stored (`retention_days`, 30)",
        "one row per (message, state); the table holds the newest `feed_limit` (500)",
        ("main",),
    ),
    Figure(
        "events by kind",
        "`check` `events`",
        "messages read (stored, and read by this `check`)",
        "the last `check_window_hours` (6 h), `counted.events`",
        "feed rows",
        (),
    ),
    Figure(
        "customer screen counts, events",
        "customer screen, customer report",
        "messages read",
        "as the customer's row; events of the last 7 days",
        'the customer\'s messages read; "Sent since Monday, as Mandrill counts" beside it',
        ("customer",),
    ),
    Figure(
        "DMARC messages, pass, fail per domain and source",
        "DMARC screen, records screen, DMARC alerts (7 d)",
        "aggregate reports imported",
        "reports ending in the last 1 / 7 / 30 days (`t`), the records screen the same "
        "window as its row",
        "the record counts receivers reported",
        ("dmarc",),
    ),
    Figure(
        "content score, rules",
        "content screen, alerts",
        "spamd, latest scoring",
        "the last check; trend over 30 days; rise against the 7-day median",
        'score vs spamd\'s threshold; the top rules "+ N more, x.x points"',
        ("content",),
    ),
    Figure(
        "seed placement",
        "placement screen, `seed-test`, `check` `seeds`",
        "seed mailboxes over IMAP",
        "the latest run; the strip, the last runs",
        "one seed message each",
        ("placement",),
    ),
    Figure(
        "Gmail spam, SPF / DKIM / DMARC, TLS, delivery errors (by reason)",
        "main (the worst domain's latest day), Gmail screen, `check` `postmaster`, "
        "`mailops_gmail_spam_ratio`, Gmail alerts",
        "Gmail Postmaster Tools v2 domainStats",
        "Google's day; the screen the last 30 days; a day not published is absent, never 0",
        "Gmail's: user-reported spam of the mail delivered to Gmail inboxes; the rest of "
        "the mail Gmail received from the domain",
        ("main", "gmail"),
    ),
    Figure(
        "Mandrill complaints beside Gmail's spam",
        "main, Gmail screen, `check` `postmaster.mandrill`",
        "messages read (their sender's domain and its subdomains)",
        'the same day as a UTC day; "part" when not all of it was read',
        "complaints of all the mail read from the domain that day, every receiver",
        ("main", "gmail"),
    ),
    Figure(
        "Gmail sender requirements",
        "Gmail screen, `check` `postmaster.compliance`, Gmail alerts",
        "Gmail Postmaster Tools v2 complianceStatus",
        "now, as Google last said",
        "each requirement: compliant, needs work, or not stated",
        ("gmail",),
    ),
    Figure(
        "TLS sessions, failed, rate, failure types",
        "TLS reports screen, `check` `tlsrpt`, TLS alert (7 d)",
        "SMTP TLS reports (RFC 8460) imported",
        "reports ending in the last 1 / 7 / 30 days (`t`)",
        "the sessions the reporters counted to our MX hosts, successful plus failed",
        ("tlsrpt",),
    ),
    Figure(
        "alert line",
        "main",
        "the rules over the stored state",
        "now",
        '"still evaluating" until every source has answered once; "not judged" for failing ones',
        ("main", "alerts"),
    ),
)


def figures_markdown() -> str:
    """The README's table, row for row."""
    head = "| figure | where | source | window | base |\n|---|---|---|---|---|\n"
    return head + "".join(
        f"| {f.figure} | {f.where} | {f.source} | {f.window} | {f.base} |\n" for f in FIGURES
    )


def figures_for(screen: str) -> tuple[Figure, ...]:
    """The figures a screen's help explains."""
    return tuple(f for f in FIGURES if screen in f.screens)
