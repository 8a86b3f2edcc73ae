"""Gmail's rules and the Gmail-vs-Mandrill sentence, pinned at their thresholds: Gmail's
0.1 % and 0.3 % spam lines, the delivery-error ceiling, compliance needing work, and the
sentence only when Gmail's rate is at its line and over 3× Mandrill's."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from console.analysis.gmail import disagreement, gmail_board, gmail_signals, mandrill_day
from console.model import GmailBoard, GmailCompliance, GmailDay, GmailView

DOMAIN = "notify.example"
TODAY = date(2026, 12, 3)
DAY = TODAY - timedelta(days=2)


def board(
    *days: GmailDay,
    compliance: tuple[GmailCompliance, ...] = (),
    mandrill: dict[date, tuple[dict[str, Counter[str]], bool]] | None = None,
    carriers: dict[date, dict[str, int]] | None = None,
) -> GmailBoard:
    view = GmailView(days=days, compliance=compliance, domains=(DOMAIN,))
    return gmail_board(view, mandrill or {}, carriers or {}, TODAY, 30)


def signals(*days: GmailDay, **kw: Any) -> dict[str, tuple[str, str]]:
    out = gmail_signals(board(*days, **kw), 0.001, 0.003, 0.02)
    return {s.subject: (s.severity, s.message) for s in out}


@pytest.mark.parametrize(
    ("rate", "severity"),
    [(0.00099, None), (0.001, "warning"), (0.00299, "warning"), (0.003, "critical")],
)
def test_gmail_spam_rate_at_gmails_lines(rate: float, severity: str | None) -> None:
    got = signals(GmailDay(DOMAIN, DAY, spam_rate=rate)).get(f"gmail {DOMAIN}")
    assert (got[0] if got else None) == severity
    if got:
        assert f"{rate:.2%}" in got[1] and str(DAY) in got[1]


def test_the_latest_published_day_is_judged_and_an_unpublished_one_never_is() -> None:
    old = GmailDay(DOMAIN, DAY - timedelta(days=1), spam_rate=0.01)
    new = GmailDay(DOMAIN, DAY, spam_rate=0.0002)
    assert signals(old, new) == {}
    assert signals(GmailDay(DOMAIN, DAY, spam_rate=None)) == {}


def test_a_delivery_error_reason_over_the_ceiling_names_the_ips_of_that_day() -> None:
    errors = {"reject/low_ip_reputation": 0.021, "reject/spammy_content": 0.02}
    day = GmailDay(DOMAIN, DAY, spam_rate=0.0001, errors=errors)
    carriers = {DAY: {"198.51.100.13": 300, "203.0.113.25": 600, "198.51.100.10": 100}}
    got = signals(day, carriers=carriers)
    assert f"gmail {DOMAIN} reject/spammy_content" not in got  # at the ceiling, not over
    sev, text = got[f"gmail {DOMAIN} reject/low_ip_reputation"]
    assert sev == "warning" and "sending IP's low reputation" in text and "2.1%" in text
    assert "203.0.113.25 (60%), 198.51.100.13 (30%), 198.51.100.10 (10%)" in text


def test_a_content_reason_names_no_ip() -> None:
    day = GmailDay(DOMAIN, DAY, spam_rate=0.0001, errors={"reject/spammy_content": 0.05})
    _, text = signals(day, carriers={DAY: {"198.51.100.13": 1}})[
        f"gmail {DOMAIN} reject/spammy_content"
    ]
    assert "spammy content" in text and "198.51.100.13" not in text


def test_compliance_needing_work_is_a_warning_with_googles_reason() -> None:
    c = GmailCompliance(
        DOMAIN,
        {"SPF": "COMPLIANT", "ONE_CLICK_UNSUBSCRIBE": "NEEDS_WORK", "DMARC_POLICY": "UNSPECIFIED"},
        one_click_reason="NO_UNSUB_PROMO_SPAM_REPORTS",
    )
    sev, text = signals(compliance=(c,))[f"gmail {DOMAIN}"]
    assert sev == "warning" and "ONE_CLICK_UNSUBSCRIBE" in text and "NO_UNSUB_PROMO" in text
    assert "DMARC_POLICY" not in text  # unknown is not failing
    ok = GmailCompliance(DOMAIN, {"SPF": "COMPLIANT"})
    assert signals(compliance=(ok,)) == {}


def test_the_sentence_at_its_thresholds() -> None:
    assert disagreement(0.00099, 0.0) == ""  # under Gmail's line: nothing to explain
    assert disagreement(0.001, 0.0) != ""
    assert disagreement(0.003, 0.001) == ""  # 3× exactly: they agree enough
    assert disagreement(0.0031, 0.001) != ""
    assert disagreement(0.0042, 0.0002) == (
        "Gmail users marked 0.42% as spam; Mandrill saw 0.02% complaints — "
        "Gmail's feedback does not reach Mandrill"
    )


def test_mandrill_side_counts_the_domain_and_its_subdomains_only() -> None:
    counts = {
        DOMAIN: Counter(sent=900, spam=1),
        "mail." + DOMAIN: Counter(sent=99),
        "other" + DOMAIN: Counter(sent=5000, spam=50),  # not a subdomain
    }
    m = mandrill_day(counts, DOMAIN, True)
    assert (m.messages, m.complaints, m.complaint_rate) == (1000, 1, 0.001)
    assert mandrill_day({}, DOMAIN, True).complaint_rate is None  # no mail: unknown, not 0


def test_the_board_names_the_day_and_says_when_mandrills_side_is_partial() -> None:
    day = GmailDay(DOMAIN, DAY, spam_rate=0.0046)
    whole = board(day, mandrill={DAY: ({DOMAIN: Counter(sent=4999, spam=1)}, True)})
    row = whole.domains[0]
    assert row.sentence.startswith(f"{DAY:%m-%d}: Gmail users marked 0.46% as spam; "
                                   "Mandrill saw 0.02% complaints")  # fmt: skip
    part = board(day, mandrill={DAY: ({DOMAIN: Counter(sent=4999, spam=1)}, False)})
    assert part.domains[0].sentence.endswith("(Mandrill's side: part of that day read)")
    unread = board(day, mandrill={})
    assert unread.domains[0].sentence == "" and unread.domains[0].mandrill == {}


def test_days_outside_the_window_are_left_out() -> None:
    old = GmailDay(DOMAIN, TODAY - timedelta(days=30), spam_rate=0.01)
    inside = GmailDay(DOMAIN, TODAY - timedelta(days=29), spam_rate=0.0001)
    row = board(old, inside).domains[0]
    assert [d.day for d in row.days] == [inside.day]
