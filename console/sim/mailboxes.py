"""In-memory seed mailboxes for the demo: the simulator "delivers" into them.

They stand behind the same `find(token)` interface as IMAP seed mailboxes, so
the demo runs the real seed-test code without a mail server. Arrival takes a
little scenario time, and Yahoo's bulk queue sometimes holds a message past the
wait (it then counts as missing), so the panel shows every kind of result.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32

from console.model import Placement
from console.sim.server import SentMessage
from console.sources.imap import SEED_HEADER, Found
from console.timeutil import Clock

_PLACEMENT: dict[str, Placement] = {"INBOX": "inbox", "Junk": "spam"}


@dataclass(frozen=True)
class _Stored:
    visible_at: float  # scenario timestamp the message shows up at
    sent: SentMessage


def arrival_delay(sent: SentMessage) -> float:
    """Scenario seconds from send to arrival: 15 s to 4 min; sometimes 40 min at Yahoo."""
    h = int(hashlib.sha1(sent.message_id.encode()).hexdigest()[:8], 16)
    if "yahoo" in sent.email.lower() and h % 4 == 0:
        return 40 * 60.0
    return 15.0 + h % 225


class MemoryMailboxes:
    """Every demo seed's mailbox; `deliver` is the simulator's delivery hook."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._boxes: dict[str, list[_Stored]] = {}

    def deliver(self, sent: SentMessage) -> None:
        stored = _Stored(sent.ts + arrival_delay(sent), sent)
        with self._lock:
            self._boxes.setdefault(sent.email.lower(), []).append(stored)

    def box(self, address: str, provider: str) -> MemoryMailbox:
        return MemoryMailbox(self, address.lower(), provider)

    def find(self, address: str, token: str) -> Found | None:
        now = self.clock().timestamp()
        with self._lock:
            stored = list(self._boxes.get(address, ()))
        for item in stored:
            if item.visible_at > now:
                continue
            msg = BytesHeaderParser(policy=compat32).parsebytes(item.sent.raw)
            if msg.get(SEED_HEADER, "").strip() != token:
                continue
            headers: dict[str, tuple[str, ...]] = {}
            for key, value in msg.items():
                headers.setdefault(key.lower(), ())
                headers[key.lower()] += (str(value),)
            folder = item.sent.folder
            return Found(folder, _PLACEMENT.get(folder, "other"), headers)
        return None


@dataclass(frozen=True)
class MemoryMailbox:
    mailboxes: MemoryMailboxes
    address: str
    provider: str

    async def find(self, token: str) -> Found | None:
        return self.mailboxes.find(self.address, token)
