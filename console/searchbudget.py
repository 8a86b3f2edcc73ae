"""Mandrill's search allowance, shared by every mailops on one state dir.

Mandrill allows about 20 messages/search calls a minute per API key, not per
process: a console and a cron `mailops check` on the same account must stay
under it together. The calls of the last minute are kept in a small file in
the state dir (`search-budget`), read and written under an exclusive flock, so
each process sees the others' searches before it makes its own.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

WINDOW = 60.0  # seconds the allowance counts over
FILE = "search-budget"


class SharedSearchBudget:
    """`reserve()` takes one search from the shared allowance, or says how long to wait."""

    def __init__(
        self, state_dir: Path, per_minute: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = state_dir / FILE
        self.per_minute = per_minute
        self._clock = clock

    def reserve(self) -> float | None:
        """0 when a search was reserved now; else the seconds until one frees up. None when
        the file cannot be used (a read-only dir, a full disk): the caller then keeps its
        own count, so it is never left without a limit."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for a read and a small write only
            now = self._clock()
            recent = [t for t in self._read(fd) if now - WINDOW < t <= now + 1]
            if len(recent) >= self.per_minute:
                return max(0.05, recent[0] + WINDOW - now + 0.05)
            recent.append(now)
            data = json.dumps(recent[-self.per_minute :]).encode()
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            return 0.0
        except OSError:
            return None
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _read(fd: int) -> list[float]:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 64 * 1024)
        try:
            items = json.loads(raw or b"[]")
        except ValueError:
            return []  # damaged: start counting afresh
        if not isinstance(items, list):
            return []
        return sorted(float(t) for t in items if isinstance(t, int | float))
