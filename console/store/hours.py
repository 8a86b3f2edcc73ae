"""The stored mail by UTC hour: ingesting messages (counted once per state), the
counters the panels sum, retention, and the partitions held open."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.store.base import StoreBase
from console.store.files import read_json, repair_tail, write_atomically
from console.store.partition import (
    COUNTS_SUFFIX,
    EVENTS_SUFFIX,
    Counts,
    DayDomains,
    IngestResult,
    Partition,
    event_line,
    pack,
    sender_domain,
)

if TYPE_CHECKING:
    from console.model import MessageEvent

log = logging.getLogger(__name__)

#: Partitions kept open (index in memory) between polls: the newest hours, which each
#: poll touches again; older ones are read again when a rescan reaches them.
OPEN_PARTITIONS = 6


class HourPartitions(StoreBase):
    """The hour partitions: which exist, which are open, what they count."""

    def _day(self, day: str) -> Partition:
        part = self._days.get(day)
        if part is None:
            d = self.dir / "days"
            events = d / f"{day}{EVENTS_SUFFIX}"
            if not self.read_only:
                repair_tail(events)
            part = Partition(self._open_db(d / f"{day}.json"), events)
            self._days[day] = part
            self._counters.pop(day, None)
        else:
            self._days.move_to_end(day)
        return part

    def _counters_of(self, name: str) -> Counts:
        """A partition's counters without keeping its index in memory."""
        part = self._days.get(name)
        if part is not None:
            return part.counts
        cached = self._counters.get(name)
        if cached is None:
            stamp = self._counters_stamp[name] = self._stamp(name)  # before reading: never too new
            side = read_json(self.dir / "days" / f"{name}{COUNTS_SUFFIX}")
            if isinstance(side, dict) and stamp is not None and side.get("stamp") == list(stamp):
                c: dict[str, Any] = side
            else:  # no sidecar, or one older than the partition: read the partition itself
                docs = self._open_db(self.dir / "days" / f"{name}.json")
                try:
                    c = next(iter(docs.table("counters", cache_size=0).all()), {})
                finally:
                    docs.close()
                if not self.read_only and stamp is not None:
                    self._write_counts(name, stamp, Counts.of(c))
            cached = self._counters[name] = Counts.of(c)
        return cached

    def _write_counts(self, name: str, stamp: tuple[int, int], counts: Counts) -> None:
        """The counters' sidecar: a copy that can be read without parsing the index beside
        them. Derived data, so no fsync: a lost or stale one (its stamp no longer that of
        the partition file) is simply rebuilt from the partition."""
        path = self.dir / "days" / f"{name}{COUNTS_SUFFIX}"
        payload = json.dumps({"stamp": list(stamp), **counts.doc()}).encode()
        try:
            write_atomically(path, payload, durable=False)
        except OSError as exc:
            log.warning("cannot write %s: %s", path.name, exc)

    def _stamp(self, name: str) -> tuple[int, int] | None:
        try:
            st = (self.dir / "days" / f"{name}.json").stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _day_names(self) -> list[str]:
        """Partitions on disk plus those opened in memory and not yet committed: one per UTC
        hour ("2026-11-28T05"), and whole days ("2026-11-28") written by earlier versions."""
        d = self.dir / "days"
        names = {p.stem for p in d.glob("????-??-??.json")}
        names |= {p.stem for p in d.glob("????-??-??T??.json")}
        names |= {p.name[: -len(EVENTS_SUFFIX)] for p in d.glob(f"????-??-??*{EVENTS_SUFFIX}")}
        return sorted(names | set(self._days))

    def ingest(self, messages: Iterable[MessageEvent]) -> IngestResult:
        """Count each message once per state it is seen in, and keep its feed events.

        Re-reading an overlapping window is harmless: a message already
        indexed in the same state changes nothing; one whose state moved on
        (deferred → soft-bounced) moves its count from the old state to the new.
        Writes are batched per day because TinyDB re-keys a whole table on
        every single insert.
        """
        result = IngestResult()
        with self._lock:
            whole_days = {n for n in self._day_names() if "T" not in n}
            for m in messages:
                ts = m.ts.astimezone(UTC)
                day, hour = ts.date().isoformat(), f"{ts.hour:02d}"
                name = f"{day}T{hour}"
                if day in whole_days and m.message_id in self._day(day).index:
                    name = day  # counted in an older whole-day file: it stays counted there
                part = self._day(name)
                ip, sub, dom = m.source_ip, m.subaccount, sender_domain(m.sender)
                now = pack(ip, m.state, sub)
                prev = part.index.get(m.message_id)
                if prev is None:
                    part.index[m.message_id] = now
                    part.bump(ip, hour, m.state, sub, dom, 1)
                    result.new_messages += 1
                elif prev != now:
                    old_ip, old_state, old_sub = prev.split("\t", 2)
                    part.bump(old_ip, hour, old_state, old_sub, dom, -1)  # a message's sender
                    part.bump(ip, hour, m.state, sub, dom, 1)  # does not change
                    part.index[m.message_id] = now
                    result.changed += 1
                if m.is_feed_event and m.key not in part.event_keys:
                    part.pending.append(m)
                    part.event_keys.add(m.key)
                    result.new_events.append(m)
            self.generation += 1
        return result

    def ip_counts(self, since: datetime, until: datetime) -> dict[str, Counter[str]]:
        """Messages per sending IP and state, summed over whole hours in [since, until]."""
        lo = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hi = until.astimezone(UTC)
        totals: dict[str, Counter[str]] = defaultdict(Counter)
        with self._lock:
            for name in self._day_names():
                day = date.fromisoformat(name[:10])
                if not (lo.date() <= day <= hi.date()):
                    continue
                if "T" in name:  # an hour partition outside the window is not even opened
                    hour_start = datetime.fromisoformat(f"{name}:00").replace(tzinfo=UTC)
                    if not lo <= hour_start <= hi:
                        continue
                for ip, hours in self._counters_of(name).ips.items():
                    for hour, states in hours.items():
                        start = datetime(day.year, day.month, day.day, int(hour), tzinfo=UTC)
                        if lo <= start <= hi:
                            totals[ip].update(states)
        return dict(totals)

    def subaccount_counts(self, since: date, until: date) -> dict[str, Counter[str]]:
        totals: dict[str, Counter[str]] = defaultdict(Counter)
        with self._lock:
            for name in self._day_names():
                if since <= date.fromisoformat(name[:10]) <= until:
                    for sub, states in self._counters_of(name).subs.items():
                        totals[sub].update(states)
        return dict(totals)

    def domain_counts(self, since: date, until: date) -> dict[date, DayDomains]:
        """Messages per sender domain and state, for each UTC day in [since, until] that
        holds any; a day is partial where some of it was counted before this version
        counted sender domains."""
        out: dict[date, DayDomains] = {}
        with self._lock:
            for name in self._day_names():
                day = date.fromisoformat(name[:10])
                if since <= day <= until:
                    c = self._counters_of(name)
                    got = out.setdefault(day, DayDomains())
                    for dom, states in c.doms.items():
                        got.counts.setdefault(dom, Counter()).update(states)
                    got.whole = got.whole and c.doms_whole
        return out

    def _evict(self) -> None:
        """Close the least recently used clean partitions beyond OPEN_PARTITIONS, keeping
        their (small) counters: an index of a busy hour holds tens of thousands of ids."""
        for name in list(self._days):
            if len(self._days) <= OPEN_PARTITIONS:
                break
            day = self._days[name]
            if day.clean:
                self._counters[name] = day.counts
                day.db.close()
                del self._days[name]

    def prune(self) -> int:
        """Drop day files and history older than the retention window; returns files removed.
        A read-only store removes nothing: the files are its owner's."""
        if self.read_only:
            return 0
        cutoff = (self.clock() - timedelta(days=self.retention_days)).date()
        removed = 0
        with self._lock:
            for name in self._day_names():
                if date.fromisoformat(name[:10]) < cutoff:
                    part = self._days.pop(name, None)
                    if part:
                        part.db.close()
                    self._counters.pop(name, None)
                    if self._feed is not None:
                        self._feed.drop_parts([name])
                    self._feed_unread.discard(name)
                    self._feed_read.pop(name, None)
                    (self.dir / "days" / f"{name}.json").unlink(missing_ok=True)
                    (self.dir / "days" / f"{name}{EVENTS_SUFFIX}").unlink(missing_ok=True)
                    (self.dir / "days" / f"{name}{COUNTS_SUFFIX}").unlink(missing_ok=True)
                    removed += 1
            limit = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC).timestamp()
            hist = self.db.table("history")
            old = [d.doc_id for d in hist.all() if d.get("t", 0) < limit]
            if old:
                hist.remove(doc_ids=old)
        return removed

    def _move_events_out(self) -> None:
        """Schema 1 kept feed events inside the partition files: move them to their own
        files. Each step is atomic and the whole is repeated after a crash (the events file
        is rewritten from the table until the table is gone), so nothing is lost or doubled."""
        from console.wire import parse_message

        d = self.dir / "days"
        names = sorted(
            {
                p.stem
                for pattern in ("????-??-??.json", "????-??-??T??.json")
                for p in d.glob(pattern)
            }
        )
        for name in names:
            db = self._open_db(d / f"{name}.json")
            try:
                if "events" not in db.tables():
                    continue
                lines = []
                for doc in db.table("events").all():
                    m = parse_message(doc.get("raw"))
                    if m is not None and m.is_feed_event:
                        lines.append(event_line(m))
                write_atomically(d / f"{name}{EVENTS_SUFFIX}", b"".join(lines))
                db.drop_table("events")
                self._flush(db)
            finally:
                db.close()
        log.info("moved the feed events of %d partitions to their own files", len(names))
