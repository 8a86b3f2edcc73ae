"""The alert line never says "No open alerts" before the rules have judged every source."""

from __future__ import annotations

from datetime import UTC, datetime

from console.model import Alert
from widgets.alerts import alert_counts

AT = datetime(2026, 11, 28, 6, tzinfo=UTC)


def test_before_every_source_answered_it_is_still_evaluating() -> None:
    text = alert_counts([], waiting=("messages", "account")).plain
    assert text == "Still evaluating alerts — waiting for messages, account"


def test_a_failing_source_is_not_judged_clean() -> None:
    text = alert_counts([], failing=("dns",)).plain
    assert "No open alerts in what was read" in text and "not judged: dns (failing)" in text


def test_all_clear_only_when_everything_was_judged() -> None:
    assert alert_counts([]).plain == "No open alerts"


def test_open_alerts_while_evaluating_say_so() -> None:
    a = Alert("1", "k", "hard_bounce_rate", "account", "warning", "bounces", AT, AT)
    text = alert_counts([a], waiting=("messages",)).plain
    assert text.startswith("ALERTS 1 warning (still evaluating) — bounces")
