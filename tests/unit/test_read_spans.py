"""A count over the messages mailops read names the period it really covers: "7 d" only
when the store holds the whole 7 days, else how much of them it holds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from console.analysis.alerts import AlertInputs, evaluate
from console.config import AlertConfig, Thresholds
from console.export import customer_summary
from console.model import Account, IpRow, ReadSpan, Stats, SubaccountRow, duration_text

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
WEEK = ReadSpan("7 d", NOW - timedelta(days=6, hours=12), NOW - timedelta(hours=6), NOW)


def test_a_span_says_whole_partial_or_none() -> None:
    assert ReadSpan("7 d", NOW - timedelta(days=7), NOW - timedelta(days=8), NOW).text == "7 d"
    assert WEEK.text == "last 6 h of 7 d" and not WEEK.whole
    assert ReadSpan("24 h", NOW - timedelta(hours=24), NOW, NOW).text == "none of 24 h read yet"
    assert [duration_text(s) for s in (90, 5400, 6 * 3600, 3 * 86400)] == [
        "1 min", "1.5 h", "6 h", "3 d",
    ]  # fmt: skip
    # a part never rounds up to the whole
    almost = ReadSpan("24 h", NOW - timedelta(hours=24), NOW - timedelta(hours=23, minutes=58), NOW)
    assert almost.text == "last 23.9 h of 24 h"
    gap = ReadSpan("7 d", NOW - timedelta(days=7), NOW - timedelta(days=8), NOW, unread_s=1200)
    assert not gap.whole and gap.text == "7 d, 20 min of it not read yet"


def _sub(span: ReadSpan) -> SubaccountRow:
    return SubaccountRow("acme", "Acme", "active", 80, 4140, 9, 40, 1936, span)


def test_customer_rates_over_6_hours_read_never_say_7_days() -> None:
    got = {
        s.key: s.message
        for s in evaluate(
            AlertInputs(now=NOW, subaccounts=[_sub(WEEK), _sub(WEEK)]), Thresholds(), AlertConfig()
        )[0]
    }
    text = got["customer_hard_bounces|customer acme"]
    assert "(40 of 1,936 messages read, last 6 h of 7 d)" in text
    assert "7-day" not in " ".join(got.values())


def test_ip_rates_name_their_window_and_account_rates_are_mandrills() -> None:
    ip = IpRow("203.0.113.9", "p", "", True, False, None, None, None, 600, 500, 40, 0, 0, 0.9)
    states = {ip.ip: Counter({"sent": 560, "bounced": 40})}
    span = ReadSpan("24 h", NOW - timedelta(hours=24), NOW - timedelta(hours=3), NOW)
    week = Stats(sent=2000, hard_bounces=200, complaints=0)
    x = AlertInputs(
        now=NOW, ips=[ip], ip_states=states, ip_span=span,
        account=Account("acct", 80, 1000, 0, {"last_7_days": week}),
    )  # fmt: skip
    got = {s.rule: s.message for s in evaluate(x, Thresholds(), AlertConfig())[0]}
    assert "(40 of 600 messages read, last 3 h of 24 h)" in got["ip_hard_bounce_rate"]
    assert got["hard_bounce_rate"].startswith("Mandrill's 7-day hard-bounce rate")


def test_the_customer_report_tells_mandrills_count_from_the_mail_read() -> None:
    text = customer_summary(_sub(WEEK), [], lambda e: "", NOW, Thresholds())
    assert "Messages checked in this period: 1,936" in text
    assert "Sent since Monday 00:00 UTC, as Mandrill counts: 4,140" in text
    assert "last 6 h of 7 d; earlier mail was not checked" in text
    assert "Last 7 days" not in text



def test_rates_over_no_mail_read_neither_fire_nor_resolve() -> None:
    ip = IpRow("203.0.113.9", "p", "", True, False, None, None, None, 0, 0, 0, 0, 0, None)
    none = ReadSpan("24 h", NOW - timedelta(hours=24), NOW, NOW)
    _, covered = evaluate(AlertInputs(now=NOW, ips=[ip], ip_span=none), Thresholds(), AlertConfig())
    assert "ip_hard_bounce_rate" not in covered and "customer_complaints" not in covered
    read = ReadSpan("24 h", NOW - timedelta(hours=24), NOW - timedelta(hours=1), NOW)
    _, covered = evaluate(AlertInputs(now=NOW, ips=[ip], ip_span=read), Thresholds(), AlertConfig())
    assert "ip_hard_bounce_rate" in covered


def test_a_stale_seed_run_does_not_resolve_placement_alerts() -> None:
    from console.model import SeedRun

    old = SeedRun("r", NOW - timedelta(days=3), ())
    got, covered = evaluate(AlertInputs(now=NOW, seed_run=old), Thresholds(), AlertConfig())
    assert "seed_inbox" not in covered and any(s.rule == "seed_problem" for s in got)

