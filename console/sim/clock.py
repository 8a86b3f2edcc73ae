"""Scenario clocks: compress days into minutes for the demo, or stand still for tests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class ScenarioClock:
    """Scenario time = origin + (real seconds since creation) × speed."""

    def __init__(self, origin: datetime, speed: float = 1.0) -> None:
        self.origin = origin.astimezone(UTC)
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self.origin + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)


class ManualClock:
    """A clock that moves only when a test says so."""

    def __init__(self, now: datetime) -> None:
        self._now = now.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, now: datetime) -> None:
        with self._lock:
            self._now = now.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now
