"""Filtering the bounce feed: pure, so the same rules serve the table, the export and the CLI.

`FeedIndex` is how a large sender's feed (half a million events and more) stays
searchable at typing speed in little memory. Per event it keeps the lowercased
search text and a few packed numbers (time, kind, customer, where the full copy
lives on disk); the texts of a few thousand events are joined into one string per
chunk, so a keystroke is one C-speed regular-expression pass per chunk instead of
half a million Python-level `in` tests. Chunks and the rows in them are newest
first, so the newest matches are the first ones found and the pass only counts the
rest. The full events for the rows on screen are read back by the store.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from heapq import nlargest
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.model import MessageEvent


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


#: Rows end with ROW_END inside a chunk's text. It cannot be typed into the filter (it is
#: removed from it), so a match never spans two rows.
ROW_END = "\x00"
#: Rows that arrive from polls gather in small chunks rebuilt on each add; at this size
#: one is sealed and a new one starts. Rows read at start-up go in chunks 8× as big.
FRESH_ROWS = 4096

#: (time, customer code, partition code, offset, search text)
_Row = tuple[float, int, int, int, str]


class _Chunk:
    """Rows of one kind, newest first: their joined text, where each row starts in it, and
    columns. One kind per chunk makes the kind filter a choice of chunks, never a test."""

    __slots__ = ("kind", "off", "part", "starts", "sub", "t", "text")

    def __init__(self, kind: int, rows: Sequence[_Row]) -> None:
        texts = [f"{r[4]}{ROW_END}" for r in rows]
        starts = array("q")
        pos = 0
        for t in texts:
            starts.append(pos)
            pos += len(t)
        self.kind = kind
        self.text = "".join(texts)
        self.starts = starts
        self.t = array("d", (r[0] for r in rows))
        self.sub = array("I", (r[1] for r in rows))
        self.part = array("I", (r[2] for r in rows))
        self.off = array("q", (r[3] for r in rows))

    def __len__(self) -> int:
        return len(self.t)

    def end(self, i: int) -> int:
        return self.starts[i + 1] if i + 1 < len(self.starts) else len(self.text)

    def rows(self) -> list[_Row]:
        """The chunk's rows again, as built (to merge or drop some)."""
        text, starts = self.text, self.starts
        return [
            (self.t[i], self.sub[i], self.part[i], self.off[i], text[starts[i] : self.end(i) - 1])
            for i in range(len(self.t))
        ]

    @property
    def newest(self) -> float:
        return self.t[0] if len(self.t) else float("-inf")

    def row_at(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1

    def cut(self, since: float | None) -> int:
        """How many rows (a prefix: newest first) are at or after `since`."""
        lo, hi = 0, len(self.t)
        if since is None:
            return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if self.t[mid] >= since:
                lo = mid + 1
            else:
                hi = mid
        return lo


def _newest_first(rows: Iterable[_Row]) -> list[_Row]:
    return sorted(rows, key=lambda r: -r[0])


class FeedIndex:
    """Feed events in chunks of joined search text (see the module docstring)."""

    def __init__(self) -> None:
        self._sealed: list[_Chunk] = []
        self._fresh: dict[int, list[_Row]] = {}  # kind code → rows, newest first
        self._fresh_chunks: list[_Chunk] | None = None
        self._loading: dict[int, list[_Row]] = {}  # start-up rows not yet in a chunk
        self._loading_chunks: list[_Chunk] | None = None
        self._kinds = _Codes()
        self._subs = _Codes()
        self._parts = _Codes()

    def __len__(self) -> int:
        waiting = [*self._fresh.values(), *self._loading.values()]
        return sum(len(c) for c in self._sealed) + sum(len(r) for r in waiting)

    def _by_kind(self, rows: Iterable[FeedRow]) -> dict[int, list[_Row]]:
        out: dict[int, list[_Row]] = {}
        for r in rows:
            hay = r.hay.replace(ROW_END, " ")  # outside text must not end a row early
            row = (r.t, self._subs.code(r.sub), self._parts.code(r.part), r.offset, hay)
            out.setdefault(self._kinds.code(r.kind), []).append(row)
        return out

    def append_older(self, rows: Iterable[FeedRow]) -> None:
        """Add rows read from disk at start-up. They gather per kind and go into a chunk
        once there are enough for a big one: building a small chunk per partition and
        merging later held every row twice, and left the heap fragmented."""
        size = 8 * FRESH_ROWS
        for kind, group in self._by_kind(rows).items():
            buffer = self._loading.setdefault(kind, [])
            buffer += group
            if len(buffer) >= size:
                self._sealed.append(_Chunk(kind, _newest_first(buffer)))
                self._loading[kind] = []
            self._loading_chunks = None

    def finish_loading(self) -> None:
        for kind, buffer in self._loading.items():
            if buffer:
                self._sealed.append(_Chunk(kind, _newest_first(buffer)))
        self._loading, self._loading_chunks = {}, None

    def add(self, rows: Iterable[FeedRow]) -> None:
        """Add rows that just arrived (from a poll, or another process's new lines)."""
        for kind, group in self._by_kind(rows).items():
            fresh = _newest_first([*self._fresh.get(kind, []), *group])
            if len(fresh) >= FRESH_ROWS:
                self._sealed.append(_Chunk(kind, fresh))
                fresh = []
            self._fresh[kind] = fresh
            self._fresh_chunks = None

    def drop_parts(self, parts: Iterable[str]) -> int:
        """Forget the rows of partitions that were removed from disk; returns how many."""
        gone = {self._parts.codes[p] for p in parts if p in self._parts.codes}
        if not gone:
            return 0
        before = len(self)
        kept: list[_Chunk] = []
        for c in self._sealed:
            if gone.isdisjoint(c.part):
                kept.append(c)
            else:
                rows = [r for r in c.rows() if r[2] not in gone]
                if rows:
                    kept.append(_Chunk(c.kind, rows))
        self._sealed = kept
        self._fresh = {k: [r for r in v if r[2] not in gone] for k, v in self._fresh.items()}
        self._loading = {k: [r for r in v if r[2] not in gone] for k, v in self._loading.items()}
        self._fresh_chunks = self._loading_chunks = None
        return before - len(self)

    def _chunks(self, kind: int | None) -> list[_Chunk]:
        """The chunks of one kind (or all), newest first by their newest row."""
        if self._fresh_chunks is None:
            self._fresh_chunks = [_Chunk(k, rows) for k, rows in self._fresh.items() if rows]
        if self._loading_chunks is None:  # asked while loading: what is read so far
            self._loading_chunks = [
                _Chunk(k, _newest_first(rows)) for k, rows in self._loading.items() if rows
            ]
        chunks = [*self._fresh_chunks, *self._loading_chunks, *self._sealed]
        if kind is not None:
            chunks = [c for c in chunks if c.kind == kind]
        return sorted(chunks, key=lambda c: -c.newest)

    # -- questions ------------------------------------------------------------------

    def query(
        self,
        text: str = "",
        kind: str | None = None,
        sub: str | None = None,
        limit: int | None = None,
        count: bool = True,
        since: float | None = None,
        abort: Callable[[], bool] | None = None,
    ) -> tuple[list[tuple[str, int]], int | None]:
        """Where the newest `limit` (all: None) matching events are stored, newest first,
        and how many match in all. Text matches anywhere in an event's search text, in
        any case; kind and customer (`sub`) match exactly; `since` leaves out events
        older than that time (rows are newest first, so each chunk is simply cut short).

        With `count` False the scan stops once the newest `limit` are certain, and the
        total is None unless that meant reading everything anyway: a one-letter filter
        over half a million events finds its newest rows at once, while counting the
        rest takes as long as all the rest of the keystroke. With no text, customer or
        time to match, the total is always there: the index knows its size per kind.

        `abort` is asked before each chunk; once it says yes the scan stops there and
        the total is None: a count the user has typed past gives way within a chunk."""
        needle = text.lower().replace(ROW_END, "")
        kc = self._kinds.codes.get(kind, -1) if kind else None
        sc = self._subs.codes.get(sub, -1) if sub is not None else None
        if kc == -1 or sc == -1:
            return [], 0
        want = limit if limit is not None else len(self)
        # with no text, customer or time to match, the count is known without a scan
        known = self._size(kc) if not needle and sc is None and since is None else None
        if known is not None and want == 0:
            return [], known
        count = count and known is None
        # the needle, then the rest of its row: one match per row, counted without a
        # Python step per match (findall of an empty group builds nothing new)
        pattern = re.compile(f"{re.escape(needle)}[^{ROW_END}]*{ROW_END}()") if needle else None
        found: list[tuple[float, int, int]] = []  # (time, chunk number, row)
        total = 0
        chunks = self._chunks(kc)
        counted_all = True
        for n, c in enumerate(chunks):
            if abort is not None and abort():
                counted_all = False
                break
            cut = c.cut(since)
            if cut == 0:
                continue
            if want == 0 or (len(found) >= want and c.newest < found[-1][0]):
                if not count:
                    counted_all = False
                    break
                total += self._count(c, pattern, sc, cut)  # cannot hold a newer match
                continue
            rows, in_chunk = self._scan(c, pattern, sc, want, count, cut)
            if in_chunk is None:
                counted_all = False
            else:
                total += in_chunk
            found.extend((c.t[i], n, i) for i in rows)
            found = nlargest(want, found) if len(found) > want else sorted(found, reverse=True)
        pn = self._parts.names
        locs = [(pn[chunks[n].part[i]], chunks[n].off[i]) for _, n, i in found[:want]]
        if known is not None:
            return locs, known
        return locs, (total if counted_all else None)

    def _size(self, kind: int | None) -> int:
        """Rows of one kind (or all), without building a chunk of what is still loading."""
        if kind is None:
            return len(self)
        waiting = len(self._fresh.get(kind, ())) + len(self._loading.get(kind, ()))
        return waiting + sum(len(c) for c in self._sealed if c.kind == kind)

    @staticmethod
    def _count(c: _Chunk, pattern: re.Pattern[str] | None, sc: int | None, cut: int) -> int:
        if sc is None:
            return len(pattern.findall(c.text, 0, c.end(cut - 1))) if pattern else cut
        return len(FeedIndex._rows(c, pattern, sc, cut))

    @staticmethod
    def _rows(c: _Chunk, pattern: re.Pattern[str] | None, sc: int | None, cut: int) -> list[int]:
        """The chunk's matching rows among its first (newest) `cut`."""
        if sc is not None:
            rows = [i for i in range(cut) if c.sub[i] == sc]
            if pattern is not None:
                rows = [i for i in rows if pattern.search(c.text, c.starts[i], c.end(i))]
            return rows
        if pattern is not None:
            return [c.row_at(m.start()) for m in pattern.finditer(c.text, 0, c.end(cut - 1))]
        return list(range(cut))

    @staticmethod
    def _scan(
        c: _Chunk,
        pattern: re.Pattern[str] | None,
        sc: int | None,
        want: int,
        count: bool,
        cut: int,
    ) -> tuple[list[int], int | None]:
        """The chunk's first (newest) `want` matching rows among its first `cut`, and how
        many match in it (None: not counted, as asked)."""
        if sc is not None or pattern is None:
            rows = FeedIndex._rows(c, pattern, sc, cut)
            return rows[:want], len(rows)
        end = c.end(cut - 1)
        rows = []
        for m in pattern.finditer(c.text, 0, end):
            rows.append(c.row_at(m.start()))
            if len(rows) >= want:
                if not count:
                    return rows, None
                return rows, len(rows) + len(pattern.findall(c.text, m.end(), end))
        return rows, len(rows)

    def kind_counts(self) -> dict[str, int]:
        sizes = ((name, self._size(code)) for code, name in enumerate(self._kinds.names))
        return {name: n for name, n in sizes if n}
