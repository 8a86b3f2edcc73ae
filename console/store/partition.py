"""One partition of the stored mail (an hour, or a whole day of an earlier version):
its message index, its counters, and its feed events file, with the line format both
the writer and the readers use."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinydb import TinyDB

from console.analysis.feed import FeedRow

if TYPE_CHECKING:
    from console.model import MessageEvent

EVENTS_SUFFIX = ".events.jsonl"


COUNTS_SUFFIX = ".counts.json"  # a partition's counters again, readable without its index


@dataclass
class IngestResult:
    """What one poll added, so the pipeline raises alerts on new events only."""

    new_events: list[MessageEvent] = field(default_factory=list)
    new_messages: int = 0
    changed: int = 0


@dataclass(frozen=True)
class Counts:
    """A partition's counters: per sending IP, hour and state; per subaccount and state;
    per sender domain and state. `doms_whole` is False where the partition holds mail
    counted before this version counted sender domains: their figure is then partial."""

    ips: dict[str, dict[str, dict[str, int]]]
    subs: dict[str, dict[str, int]]
    doms: dict[str, dict[str, int]]
    doms_whole: bool = True

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Counts:
        ips, subs, doms = doc.get("ips", {}), doc.get("subs", {}), doc.get("doms")
        if isinstance(doms, dict) and _state_counts(doms):
            return cls(ips, subs, doms, doms_whole=not doc.get("doms_partial"))
        # none (an earlier version's file) or damaged: partial if it counted any mail
        return cls(ips, subs, {}, doms_whole=not (ips or subs))

    def doc(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ips": self.ips, "subs": self.subs, "doms": self.doms}
        if not self.doms_whole:
            out["doms_partial"] = True
        return out


@dataclass
class DayDomains:
    """One UTC day's messages per sender domain and state (see `Counts.doms_whole`)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    whole: bool = True


def _state_counts(v: Any) -> bool:
    """{name: {state: n}}"""
    return isinstance(v, dict) and all(
        isinstance(c, dict) and all(isinstance(n, int) for n in c.values()) for c in v.values()
    )


def sender_domain(sender: str) -> str:
    """The domain of a sender address, lower case ("" when it has none)."""
    return sender.rpartition("@")[2].strip().lower() if "@" in sender else ""


def pack(ip: str, state: str, sub: str) -> str:
    """A message's index entry: what its count depends on."""
    return f"{ip}\t{state}\t{sub}"


def event_line(m: MessageEvent) -> bytes:
    """One feed event as stored: a small JSON head the feed reads, TAB, the Mandrill item.
    ASCII escapes keep tabs and newlines inside strings out of the framing."""
    head = [m.key, m.event_ts.timestamp(), m.kind, m.subaccount, m.haystack]
    return b"%s\t%s\n" % (
        json.dumps(head, separators=(",", ":"), ensure_ascii=True).encode(),
        json.dumps(dict(m.raw), separators=(",", ":"), ensure_ascii=True).encode(),
    )


def read_feed_rows(path: Path, part: str, start: int = 0) -> tuple[list[FeedRow], int, int]:
    """The feed rows of one events file from byte `start` (the first line of a key wins),
    how many lines were unreadable, and where the last whole line ends (a line being
    written by another process right now is left for the next read). The Mandrill items
    themselves are not parsed here."""
    rows: list[FeedRow] = []
    keys: set[str] = set()
    bad = 0
    off = start
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return rows, 0, start
    with fh:
        fh.seek(start)
        for line in fh:
            if not line.endswith(b"\n"):
                break
            try:
                key, t, kind, sub, hay = json.loads(line.partition(b"\t")[0])
                if key not in keys:
                    keys.add(key)
                    rows.append(FeedRow(float(t), str(kind), str(sub), str(hay), part, off))
            except (ValueError, TypeError):
                bad += 1
            off += len(line)
    return rows, bad, off


def read_keys(path: Path) -> set[str]:
    keys: set[str] = set()
    try:
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    keys.add(json.loads(line.partition(b"\t")[0])[0])
                except (ValueError, TypeError, IndexError):
                    continue
    except FileNotFoundError:
        pass
    return keys


class Partition:
    """One partition (an hour, or a whole day of an earlier version), with in-memory indexes
    over its TinyDB tables and the feed events waiting for the next commit."""

    def __init__(self, db: TinyDB, events_path: Path) -> None:
        self.db = db
        self.events_path = events_path
        self.index_table = db.table("index", cache_size=0)
        self.counter_table = db.table("counters", cache_size=0)
        self._event_keys: set[str] | None = None
        self.pending: list[MessageEvent] = []
        self._index: dict[str, str] | None = None
        self._index_doc: int | None = None  # the one document holding the whole index
        docs = self.counter_table.all()
        self.counter_doc = docs[0].doc_id if docs else None
        c = docs[0] if docs else {}
        self.ips: dict[str, dict[str, dict[str, int]]] = c.get("ips", {})
        self.subs: dict[str, dict[str, int]] = c.get("subs", {})
        counted = Counts.of(c)
        self.doms: dict[str, dict[str, int]] = counted.doms
        self.doms_whole = counted.doms_whole
        self.dirty = False

    @property
    def event_keys(self) -> set[str]:
        """Keys of the events already stored for this partition, read when first needed."""
        if self._event_keys is None:
            self._event_keys = read_keys(self.events_path)
        return self._event_keys

    @property
    def index(self) -> dict[str, str]:
        """Message id → "ip TAB state TAB subaccount", read on first use.

        One document maps every id to one packed string, and the dict read from the file
        is the dict used here (no copy): a busy hour's 40,000 messages take a few MB, where
        a document per message took over 50. Files of earlier versions (a document per
        message) are read, and written in this form when they next change."""
        if self._index is None:
            docs = self.index_table.all()
            packed = [d for d in docs if isinstance(d.get("ids"), dict)]
            if packed and len(docs) == 1:
                self._index_doc = packed[0].doc_id
                self._index = packed[0]["ids"]
            else:
                self._index = {
                    d["id"]: pack(d.get("ip", ""), d.get("state", ""), d.get("sub", ""))
                    for d in docs
                    if "id" in d
                }
        return self._index

    def save_index(self) -> None:
        if self._index is None:
            return
        if self._index_doc is None:
            self.index_table.truncate()  # an earlier version's document per message
            self._index_doc = self.index_table.insert({"ids": self._index})
        else:
            self.index_table.update({"ids": self._index}, doc_ids=[self._index_doc])

    @property
    def clean(self) -> bool:
        return not self.dirty and not self.pending

    @property
    def counts(self) -> Counts:
        return Counts(self.ips, self.subs, self.doms, self.doms_whole)

    def bump(self, ip: str, hour: str, state: str, sub: str, dom: str, n: int) -> None:
        _add(self.ips.setdefault(ip, {}).setdefault(hour, {}), state, n)
        _add(self.subs.setdefault(sub, {}), state, n)
        _add(self.doms.setdefault(dom, {}), state, n)
        self.dirty = True

    def save_counters(self) -> None:
        doc = self.counts.doc()
        if self.counter_doc is None:
            self.counter_doc = self.counter_table.insert(doc)
        else:
            self.counter_table.update(doc, doc_ids=[self.counter_doc])


def _add(cell: dict[str, int], state: str, n: int) -> None:
    cell[state] = cell.get(state, 0) + n
    if cell[state] <= 0:
        del cell[state]
