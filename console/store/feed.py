"""The feed: every stored bounce, complaint and reject, searchable through
`analysis.feed.FeedIndex`, read newest first, and the full events fetched by place."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from console.analysis.feed import FeedIndex
from console.store.hours import HourPartitions
from console.store.partition import EVENTS_SUFFIX, read_feed_rows, read_keys

if TYPE_CHECKING:
    from console.model import FeedPage, MessageEvent

log = logging.getLogger(__name__)

#: Full events read back for the screen, kept for the next keystroke.
EVENT_CACHE = 4096


class Feed(HourPartitions):
    """The feed's index over the events files, and reading events back."""

    def load_feed(self, progress: Callable[[int], None] | None = None) -> None:
        """Read every stored feed event into the search index, newest partition first, so
        the feed can show (and be searched) while older ones are still being read. Run it
        in a thread: the lock is held for one partition at a time, and events committed
        meanwhile are neither missed nor doubled (a partition is read whole, under the
        lock, or its new events go to the index at commit)."""
        with self._lock:
            if self._feed is not None:
                return
            names = self._day_names()
            self._feed = FeedIndex()
            self._feed_unread = set(names)
            feed = self._feed
        bad: dict[str, int] = {}
        for name in reversed(names):
            with self._lock:
                if self._feed is not feed:  # closed or reloaded meanwhile
                    return
                rows, n, end = read_feed_rows(self.dir / "days" / f"{name}{EVENTS_SUFFIX}", name)
                if n:
                    bad[f"{name}{EVENTS_SUFFIX}"] = n
                feed.append_older(rows)
                self._feed_unread.discard(name)
                self._feed_read[name] = end
            if progress is not None:
                progress(len(feed))
        with self._lock:
            if self._feed is feed:
                feed.finish_loading()
                self._feed_loaded = True
        if bad:
            where = ", ".join(f"{n} in {f}" for f, n in sorted(bad.items()))
            msg = f"{sum(bad.values())} stored feed events are unreadable, not shown ({where})"
            log.warning("%s", msg)
            self.warnings.append(msg)

    def _read_feed_tails(self) -> None:
        """Add the events another process appended since the last read; forget partitions
        it removed."""
        feed = self._feed
        assert feed is not None
        names = set(self._day_names())
        gone = [n for n in self._feed_read if n not in names]
        if gone:
            feed.drop_parts(gone)
            for n in gone:
                del self._feed_read[n]
        for name in sorted(names):
            path = self.dir / "days" / f"{name}{EVENTS_SUFFIX}"
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            start = self._feed_read.get(name, 0)
            if size > start:
                rows, _, end = read_feed_rows(path, name, start)
                feed.add(rows)
                self._feed_read[name] = end

    def _feed_index(self) -> FeedIndex:
        if not self._feed_loaded:
            self.load_feed()
        assert self._feed is not None
        return self._feed

    def feed_page(
        self,
        text: str = "",
        kind: str | None = None,
        limit: int = 1000,
        subaccount: str | None = None,
        count: bool = True,
        since: datetime | None = None,
    ) -> FeedPage:
        """The newest `limit` feed events matching the filter, and how many match in all
        (with `count` False, maybe None: see `FeedIndex.query`, and `feed_count`).
        While `load_feed` runs this answers from what is read so far (`loading`)."""
        from console.model import FeedPage

        with self._lock:
            feed = self._feed
            if feed is None:
                return FeedPage((), 0, 0, (), loading=True)
            cut = since.timestamp() if since is not None else None
            locations, matched = feed.query(text, kind, subaccount, limit, count, cut)
            return FeedPage(
                tuple(self._events_at(locations)),
                matched,
                len(feed),
                tuple(sorted(feed.kind_counts())),
                loading=not self._feed_loaded,
            )

    def feed_events(
        self,
        text: str = "",
        kind: str | None = None,
        subaccount: str | None = None,
        since: datetime | None = None,
        batch: int = 1000,
    ) -> Iterator[MessageEvent]:
        """Every stored feed event matching the filter, newest first, read a batch at a time
        (exports: a broad filter over a large feed matches hundreds of thousands)."""
        with self._lock:
            cut = since.timestamp() if since is not None else None
            locations = self._feed_index().query(text, kind, subaccount, since=cut)[0]
        for i in range(0, len(locations), batch):
            with self._lock:
                events = self._events_at(locations[i : i + batch], keep=False)
            yield from events

    def feed_count(
        self, text: str = "", kind: str | None = None, abort: Callable[[], bool] | None = None
    ) -> int | None:
        """How many stored feed events match the filter; None if `abort` stopped it."""
        with self._lock:
            if self._feed is None:
                return 0
            return self._feed.query(text, kind, limit=0, abort=abort)[1]

    def recent_events(self, limit: int) -> list[MessageEvent]:
        """The newest `limit` feed events, newest first."""
        with self._lock:
            return self._events_at(self._feed_index().query(limit=limit)[0])

    def feed_kind_counts(self, since: datetime | None = None) -> dict[str, int]:
        """Feed events by kind, all stored or those from `since` on, with the events a
        read-only store's polls hold in memory."""
        with self._lock:
            index = self._feed_index()
            if self.read_only:  # the owner's appends since the index was read, counted once
                self._read_feed_tails()
            if since is None:
                counts = index.kind_counts()
            else:
                t = since.timestamp()
                counts = {}
                for kind in index.kind_counts():
                    n = index.query(kind=kind, limit=0, since=t)[1] or 0
                    if n:
                        counts[kind] = n
            for day in self._days.values():
                # held in memory: counted unless the owner has stored the same event since
                on_disk = read_keys(day.events_path) if day.pending and self.read_only else ()
                for m in day.pending:
                    if m.key not in on_disk and (since is None or m.event_ts >= since):
                        counts[m.kind] = counts.get(m.kind, 0) + 1
            return counts

    def _events_at(self, locations: list[tuple[str, int]], keep: bool = True) -> list[MessageEvent]:
        """The full stored events at these places, in the order given: one open file per
        partition, one seek per event, and (`keep`) the last few thousand kept for the next
        ask; an export's do not push the screen's out."""
        from console.wire import parse_message

        found: dict[tuple[str, int], MessageEvent] = {}
        wanted: dict[str, list[int]] = defaultdict(list)
        cache = self._event_cache
        for loc in locations:
            hit = cache.get(loc)
            if hit is not None:
                found[loc] = hit
                cache.move_to_end(loc)
            else:
                wanted[loc[0]].append(loc[1])
        for part, offsets in wanted.items():
            try:
                fh = open(self.dir / "days" / f"{part}{EVENTS_SUFFIX}", "rb")
            except OSError:
                continue  # removed by retention since the index was read
            with fh:
                for off in sorted(offsets):
                    fh.seek(off)
                    raw = fh.readline().partition(b"\t")[2]
                    try:
                        m = parse_message(json.loads(raw))
                    except ValueError:
                        m = None
                    if m is not None:
                        found[(part, off)] = m
                        if keep:
                            cache[(part, off)] = m
        while len(cache) > EVENT_CACHE:
            cache.popitem(last=False)
        return [found[loc] for loc in locations if loc in found]
