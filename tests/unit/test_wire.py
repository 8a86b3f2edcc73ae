from datetime import UTC, datetime

from console.timeutil import parse_mandrill_time
from console.wire import messages_from, parse_account, parse_ip, parse_message, parse_subaccount


def test_times_with_and_without_microseconds() -> None:
    assert parse_mandrill_time("2025-08-29 18:48:02.82578") == datetime(
        2025, 8, 29, 18, 48, 2, 825780, tzinfo=UTC
    )
    assert parse_mandrill_time("2013-01-01 15:30:27") == datetime(
        2013, 1, 1, 15, 30, 27, tzinfo=UTC
    )
    assert parse_mandrill_time("garbage") is None
    assert parse_mandrill_time(None) is None


def test_unknown_states_and_event_types_are_kept() -> None:
    m = parse_message(
        {
            "_id": "x1",
            "ts": 1756493251,
            "state": "quarantined",
            "email": "a@b.c",
            "smtp_events": [{"ts": 1756493252, "type": "teleported", "source_ip": "1.2.3.4"}],
            "brand_new_field": {"x": 1},
        }
    )
    assert m is not None
    assert m.state == "quarantined" and m.kind == "quarantined" and m.is_feed_event
    assert m.smtp_events[0].type == "teleported" and m.source_ip == "1.2.3.4"
    assert m.raw["brand_new_field"] == {"x": 1}


def test_sms_and_malformed_items_are_skipped() -> None:
    items = [
        {"channel": "sms", "_id": "s", "ts": 1, "to": "+1555", "text": "hi", "sms_events": []},
        {"_id": "no-ts"},
        "not an object",
        {"_id": "ok", "ts": 5, "state": "sent", "email": "a@b.c"},
    ]
    assert [m.message_id for m in messages_from(items)] == ["ok"]


def test_lenient_numbers_and_missing_sections() -> None:
    acc = parse_account({"username": "u", "reputation": "85", "stats": {"today": {"sent": 10}}})
    assert acc.reputation == 85 and acc.stats["today"].sent == 10
    assert acc.stats["today"].delivery_rate == 1.0
    ip = parse_ip({"ip": "1.2.3.4", "pool": "p", "warmup": None})
    assert ip is not None and not ip.warmup.warming_up
    assert parse_subaccount({"name": "no id"}) is None
