from collections import Counter
from datetime import UTC, datetime, timedelta

from console.analysis.feed import FeedIndex, FeedRow
from console.analysis.ips import ip_rows, ip_view, warmup_progress
from console.analysis.reputation import reputation_word
from console.analysis.subaccounts import subaccount_rows
from console.config import Thresholds
from console.model import Ip, MessageEvent, SmtpEvent, Subaccount, Warmup

T = Thresholds()
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _ip(addr: str, warming: bool = True) -> Ip:
    start = NOW - timedelta(days=11, hours=6)
    return Ip(addr, "Main Pool", "mail.example", Warmup(warming, start, start + timedelta(days=30)))


def test_warmup_day_counts_from_one_and_progress_is_time_based() -> None:
    day, days, progress = warmup_progress(_ip("1.1.1.1"), NOW)
    assert (day, days) == (12, 30)
    assert progress is not None and abs(progress - (11.25 / 30)) < 1e-9
    assert warmup_progress(_ip("1.1.1.1", warming=False), NOW) == (None, None, None)


def test_shared_ip_delivering_clearly_worse_is_a_noisy_neighbour() -> None:
    window = {
        "10.0.0.1": Counter(sent=950, bounced=50),
        "10.0.0.2": Counter(sent=600, bounced=300, deferred=100),
        "9.9.9.9": Counter(sent=2000, bounced=20),
    }
    rows = {r.ip: r for r in ip_rows([_ip("9.9.9.9")], window, window, NOW, T)}
    assert rows["10.0.0.2"].noisy and "60%" in rows["10.0.0.2"].note
    assert not rows["10.0.0.1"].noisy
    assert not rows["9.9.9.9"].noisy and rows["9.9.9.9"].dedicated
    assert rows["9.9.9.9"].warmup_day == 12
    assert rows["10.0.0.2"].delivery_rate == 0.6
    assert next(iter(rows)) == "9.9.9.9"  # dedicated IPs first


def test_a_handful_of_bounces_is_not_a_noisy_neighbour() -> None:
    window = {"10.0.0.2": Counter(sent=5, bounced=5), "9.9.9.9": Counter(sent=2000)}
    rows = {r.ip: r for r in ip_rows([], window, window, NOW, T)}
    assert not rows["10.0.0.2"].noisy  # below noisy_min_messages


def test_customers_ranked_worst_first_with_complaints_from_events() -> None:
    subs = [
        Subaccount("good", "Good", "active", 95, sent_weekly=100),
        Subaccount("bad", "Bad", "active", 60, sent_weekly=50),
        Subaccount("meh", "Meh", "active", 95, sent_weekly=500),
    ]
    counts = {
        "bad": Counter(sent=990, spam=10),
        "meh": Counter(sent=10, spam=1),
        "ghost": Counter(sent=3),
    }
    rows = subaccount_rows(subs, counts)
    assert [r.id for r in rows] == ["bad", "meh", "good", "ghost"]
    assert rows[0].complaints == 10 and rows[0].complaint_rate == 0.01


def test_reputation_words() -> None:
    assert reputation_word(None, T) == "Unknown"
    assert reputation_word(80, T) == "Excellent"
    assert reputation_word(50, T) == "Good"
    assert reputation_word(20, T) == "Poor"


def _ev(
    mid: str, state: str, email: str = "a@x.com", sub: str = "c1", diag: str = ""
) -> MessageEvent:
    return MessageEvent(
        mid,
        NOW,
        state,
        email,
        subaccount=sub,
        diag=diag,
        smtp_events=(SmtpEvent(NOW, "bounced", diag, "1.2.3.4", "5.6.7.8"),),
    )


def _feed(evs: list[MessageEvent]) -> tuple[FeedIndex, list[MessageEvent]]:
    """The feed's index over these events; an event's place in the list is its offset."""
    index = FeedIndex()
    index.add(FeedRow.of(e, "p", i) for i, e in enumerate(evs))
    return index, evs


def filter_events(
    evs: list[MessageEvent], text: str, kind: str | None = None
) -> list[MessageEvent]:
    index, _ = _feed(evs)
    return [evs[off] for _, off in index.query(text, kind)[0]]


def count_kinds(evs: list[MessageEvent]) -> dict[str, int]:
    return _feed(evs)[0].kind_counts()


def test_feed_filter_by_text_and_kind() -> None:
    evs = [
        _ev("1", "bounced", diag="550 5.1.1 unknown user"),
        _ev("2", "soft-bounced", sub="dandelion", diag="552 mailbox full"),
        _ev("3", "spam", email="angry@y.com"),
    ]
    assert [e.message_id for e in filter_events(evs, "dandelion")] == ["2"]
    assert [e.message_id for e in filter_events(evs, "5.1.1")] == ["1"]
    assert [e.message_id for e in filter_events(evs, "", "spam")] == ["3"]
    assert [e.message_id for e in filter_events(evs, "1.2.3.4", "soft")] == ["2"]
    assert count_kinds(evs) == {"hard": 1, "soft": 1, "spam": 1}


def test_messages_without_a_sending_ip_are_reported_not_hidden() -> None:
    window = {"": Counter(rejected=7, sent=40, bounced=2), "9.9.9.9": Counter(sent=100)}
    view = ip_view([], window, window, NOW, T)
    assert view.unattributed == 42  # rejects never had an IP; the rest lost theirs
    assert [r.ip for r in view.rows] == ["9.9.9.9"]
