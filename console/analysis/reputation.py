"""Reputation in words, as Mandrill's own dashboard shows it."""

from __future__ import annotations

from console.config import Thresholds


def reputation_word(reputation: int | None, t: Thresholds) -> str:
    """Excellent / Good / Poor / Unknown.

    Mandrill documents only "75 or more is generally good"; the Poor line
    (40) follows the widely quoted reseller bands. Both are configurable.
    """
    if reputation is None:
        return "Unknown"
    if reputation >= t.reputation_good:
        return "Excellent"
    if reputation >= t.reputation_poor:
        return "Good"
    return "Poor"
