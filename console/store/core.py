"""`Store`, the one writer of a state dir: opening it (lock, schema, migration),
committing a poll's work in the order that keeps a crash harmless, following another
writer when read-only, and closing."""

from __future__ import annotations

import fcntl
import os

from console.analysis.feed import FeedRow
from console.store.feed import Feed
from console.store.files import StoreError, StoreLockedError, append_lines
from console.store.partition import event_line
from console.store.tables import Tables

#: 2: feed events moved out of the partition files into their own appended files.
SCHEMA_VERSION = 2


class Store(Feed, Tables):
    """The one writer of a state directory (see console/store/__init__.py for the layout)."""

    def open(self) -> Store:
        if not self.read_only:  # a reader of a state dir that does not exist sees it empty
            try:
                self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                (self.dir / "days").mkdir(exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StoreError(f"Cannot create the state directory {self.dir}: {exc}") from None
        if not self.read_only:
            self._acquire_lock()
        self._db = self._open_db(self.dir / "state.json")
        meta = self._db.table("meta")
        docs = meta.all()
        if not docs:
            if not self.read_only:
                meta.insert({"schema": SCHEMA_VERSION})
                self._flush(self._db)
        else:
            schema = docs[0].get("schema")
            if not isinstance(schema, int) or schema > SCHEMA_VERSION:
                self.close()
                raise StoreError(
                    f"{self.dir / 'state.json'} was written by a newer mailops (schema {schema}); "
                    f"this version reads {SCHEMA_VERSION}. Upgrade, or use another state_dir."
                )
            if schema < 2 and self.read_only:
                self.warnings.append(
                    "The state was written by an earlier mailops: its stored feed events show "
                    "once the console that owns it runs this version"
                )
            elif schema < 2:
                self._move_events_out()
                meta.update({"schema": SCHEMA_VERSION}, doc_ids=[docs[0].doc_id])
                self._flush(self._db)
        try:
            self._dmarc.open()
            self._tlsrpt.open()
        except OSError as exc:
            self.close()
            raise StoreError(f"Cannot set up the report directories in {self.dir}: {exc}") from None
        return self

    def close(self) -> None:
        with self._lock:
            self._drop_files()
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _acquire_lock(self) -> None:
        path = self.dir / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise StoreLockedError(
                f"The state directory {self.dir} is in use by another mailops (pid {holder}); "
                "stop it or give this one --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def commit(self) -> None:
        """Write everything changed since the last commit: events first (appended and
        fsynced), then each partition's index and counters, then the state file.

        A read-only store writes nothing: what its polls brought stays in memory on top of
        the files (`check` reads the console's state this way), and no partition holding
        it is closed."""
        if self.read_only:
            return
        with self._lock:
            for name, day in self._days.items():
                if day.pending:
                    lines = [event_line(m) for m in day.pending]
                    offsets, end = append_lines(day.events_path, lines)
                    if self._feed is not None and name not in self._feed_unread:
                        rows = [
                            FeedRow.of(m, name, o)
                            for m, o in zip(day.pending, offsets, strict=True)
                        ]
                        self._feed.add(rows)
                        self._feed_read[name] = end
                    day.pending = []
            for name, day in self._days.items():
                if day.dirty:
                    day.save_index()
                    day.save_counters()
                    self._flush(day.db)
                    day.dirty = False
                    stamp = self._stamp(name)
                    if stamp is not None:
                        self._write_counts(name, stamp, day.counts)
            self._flush(self.db)
            self._evict()

    def reload(self) -> None:
        """Read the files again (a read-only view follows the owner's writes this way)."""
        with self._lock:
            # counters of partition files the owner has not rewritten since are still right
            unchanged = {
                n: c
                for n, c in self._counters.items()
                if self._counters_stamp.get(n) == self._stamp(n)
            }
            self._drop_files(keep_feed=self._feed is not None)  # read, or being read
            self._counters.update(unchanged)
            self._db = self._open_db(self.dir / "state.json")
            if self._feed_loaded:
                self._read_feed_tails()

    def _drop_files(self, keep_feed: bool = False) -> None:
        """Close every open file and forget what was read from it (but for the feed index,
        when asked: a reader brings it up to date from the files' new tails instead)."""
        for day in self._days.values():
            day.db.close()
        self._days.clear()
        self._counters.clear()
        if not keep_feed:
            self._event_cache.clear()
            self._feed, self._feed_unread, self._feed_loaded = None, set(), False
            self._feed_read = {}
        if self._db is not None:
            self._db.close()
            self._db = None
        self._dmarc.close()
        self._tlsrpt.close()
