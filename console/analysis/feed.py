"""Filtering the bounce feed: pure, so the same rules serve the table, the export and the CLI.

`FeedIndex` is how a large sender's feed (half a million events and more) stays
searchable at typing speed in little memory: per event it keeps only the
lowercased search text and a few packed numbers (time, kind, customer, where the
full copy lives on disk), newest first, so a keystroke is one pass of `in` over
plain strings and the newest matches are simply the first ones found. The full
events for the rows on screen are read back by the store.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.model import MessageEvent


def matches(ev: MessageEvent, text: str, kind: str | None) -> bool:
    if kind and ev.kind != kind:
        return False
    if not text:
        return True
    return text.lower() in ev.haystack


def filter_events(
    events: Iterable[MessageEvent], text: str = "", kind: str | None = None
) -> list[MessageEvent]:
    needle = text.lower()
    return [
        e for e in events if (not kind or e.kind == kind) and (not needle or needle in e.haystack)
    ]


def count_kinds(events: Iterable[MessageEvent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out


@dataclass(frozen=True)
class FeedRow:
    """What the index keeps of one event, and where the event's full copy is stored."""

    t: float
    kind: str
    sub: str
    hay: str
    part: str
    offset: int

    @classmethod
    def of(cls, ev: MessageEvent, part: str, offset: int) -> FeedRow:
        return cls(ev.event_ts.timestamp(), ev.kind, ev.subaccount, ev.haystack, part, offset)


_Cols = tuple[list[str], "array[float]", "array[int]", "array[int]", "array[int]", "array[int]"]


class _Codes:
    """Small repeated strings (kinds, customers, partitions) stored once, rows hold numbers."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        c = self.codes.get(name)
        if c is None:
            c = self.codes[name] = len(self.names)
            self.names.append(name)
        return c


class FeedIndex:
    """Feed events newest first, as parallel packed columns (see the module docstring)."""

    def __init__(self) -> None:
        self._hay: list[str] = []
        self._negt = array("d")  # -time, so the column is ascending and bisect applies
        self._kind = array("I")
        self._sub = array("I")
        self._part = array("I")
        self._off = array("q")
        self._kinds = _Codes()
        self._subs = _Codes()
        self._parts = _Codes()

    def __len__(self) -> int:
        return len(self._hay)

    def _columns(self, rows: Sequence[FeedRow]) -> _Cols:
        return (
            [r.hay for r in rows],
            array("d", (-r.t for r in rows)),
            array("I", (self._kinds.code(r.kind) for r in rows)),
            array("I", (self._subs.code(r.sub) for r in rows)),
            array("I", (self._parts.code(r.part) for r in rows)),
            array("q", (r.offset for r in rows)),
        )

    def append_older(self, rows: Iterable[FeedRow]) -> None:
        """Add rows read from disk, newest partitions first; `finish_loading` puts any
        that arrive out of order (a late event of an older hour) in place."""
        chunk = sorted(rows, key=lambda r: -r.t)
        for col, new in zip(self._all(), self._columns(chunk), strict=True):
            col.extend(new)  # type: ignore[attr-defined]

    def finish_loading(self) -> None:
        negt = self._negt
        if all(negt[i] <= negt[i + 1] for i in range(len(negt) - 1)):
            return
        order = sorted(range(len(negt)), key=negt.__getitem__)
        self._permute(order)

    def add(self, rows: Iterable[FeedRow]) -> None:
        """Add rows that just arrived: most are newer than everything held and go on top
        in one block; the rest are inserted where their time puts them."""
        chunk = sorted(rows, key=lambda r: -r.t)
        if not chunk:
            return
        head = -self._negt[0] if self._negt else float("-inf")
        top = [r for r in chunk if r.t >= head]
        rest = [r for r in chunk if r.t < head]
        for col, new in zip(self._all(), self._columns(top), strict=True):
            col[0:0] = new  # type: ignore[index]
        for r in rest:
            i = bisect_right(self._negt, -r.t)
            for col, new in zip(self._all(), self._columns([r]), strict=True):
                col.insert(i, new[0])  # type: ignore[attr-defined,index]

    def drop_parts(self, parts: Iterable[str]) -> int:
        """Forget the rows of partitions that were removed from disk; returns how many."""
        gone = {self._parts.codes[p] for p in parts if p in self._parts.codes}
        if not gone:
            return 0
        keep = [i for i, p in enumerate(self._part) if p not in gone]
        dropped = len(self._part) - len(keep)
        self._permute(keep)
        return dropped

    def _all(self) -> _Cols:
        return (self._hay, self._negt, self._kind, self._sub, self._part, self._off)

    def _permute(self, order: Sequence[int]) -> None:
        self._hay = [self._hay[i] for i in order]
        self._negt = array("d", (self._negt[i] for i in order))
        self._kind = array("I", (self._kind[i] for i in order))
        self._sub = array("I", (self._sub[i] for i in order))
        self._part = array("I", (self._part[i] for i in order))
        self._off = array("q", (self._off[i] for i in order))

    # -- questions ------------------------------------------------------------------

    def match(self, text: str = "", kind: str | None = None, sub: str | None = None) -> list[int]:
        """Rows (positions, newest first) whose search text holds `text`, of `kind` and
        customer `sub` when given. One list comprehension per case: the loop is the cost."""
        needle = text.lower()
        kc = self._kinds.codes.get(kind, -1) if kind else None
        sc = self._subs.codes.get(sub, -1) if sub is not None else None
        hay, kinds, subs = self._hay, self._kind, self._sub
        if kc == -1 or sc == -1:
            return []
        if sc is not None:
            return [
                i
                for i, s in enumerate(subs)
                if s == sc and (kc is None or kinds[i] == kc) and (not needle or needle in hay[i])
            ]
        if kc is not None and needle:
            pairs = enumerate(zip(kinds, hay, strict=True))
            return [i for i, (k, h) in pairs if k == kc and needle in h]
        if kc is not None:
            return [i for i, k in enumerate(kinds) if k == kc]
        if needle:
            return [i for i, h in enumerate(hay) if needle in h]
        return list(range(len(hay)))

    def location(self, i: int) -> tuple[str, int]:
        return self._parts.names[self._part[i]], self._off[i]

    def time(self, i: int) -> float:
        return -self._negt[i]

    def kind_counts(self) -> dict[str, int]:
        names = self._kinds.names
        return {names[c]: n for c, n in Counter(self._kind).items()}

    def parts(self) -> set[str]:
        return {self._parts.names[c] for c in set(self._part)}
