"""Mandrill's time formats, read leniently, and the injected clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

#: Anything that answers "what time is it" in UTC; injected so tests and the demo control time.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def wall_time() -> float:
    return time.time()


def parse_mandrill_time(value: object) -> datetime | None:
    """'YYYY-MM-DD HH:MM:SS' UTC, with or without microseconds; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("T", " ")
    if text.endswith("Z"):
        text = text[:-1]
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def from_ts(value: object) -> datetime | None:
    """Unix seconds (int, float or numeric string) → aware UTC datetime."""
    if isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def to_mandrill_time(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def age_text(seconds: float) -> str:
    """A short human age: 5s, 3m, 2h, 4d."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"
