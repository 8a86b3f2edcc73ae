"""DMARC aggregate reports on disk: one TinyDB file per UTC day of a report's end.

A busy domain collects 100,000 records in a quarter, and one file holding them
all (as earlier versions kept in `dmarc.json`) had to be read and parsed whole
to tell whether a report was known (17 s for one re-imported report) or to
summarise last week. Here a report's day file is the only place it can be, so
telling a known report reads that one day, and a 7-day summary reads 8 days.
`dmarc.json` of earlier versions is split into day files once by the writer;
a read-only viewer reads it as it is until then.

Each record keeps its key ("k", reporter and report id) and end time ("end")
beside the encoded report, so dedupe and windows never decode a report.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinydb import TinyDB

from console.codec import decode, encode

if TYPE_CHECKING:
    from console.model import DmarcReport

log = logging.getLogger(__name__)

DIRECTORY = "dmarc"
LEGACY = "dmarc.json"
TABLE = "reports"


def day_of(end: float) -> str:
    """The day file a report ending at `end` (a timestamp) lives in."""
    return datetime.fromtimestamp(end, UTC).date().isoformat()


def day_files(d: Path, since: datetime | None = None) -> list[Path]:
    """The day files on disk in the reports' directory `d`, oldest first; with `since`,
    only days that can hold a report ending at or after it."""
    first = since.astimezone(UTC).date().isoformat() if since is not None else ""
    return sorted(p for p in d.glob("????-??-??.json") if p.stem >= first)


class DmarcStore:
    """The reports of one state dir, for the Store that owns it (its lock, its way of
    opening a file, which sets damage aside and warns). DMARC aggregate reports by
    default; TLS reports (`directory="tlsrpt", kind="TlsReport"`) are kept the same way:
    any class of console.model with a `key` and an `end`."""

    def __init__(
        self,
        state_dir: Path,
        open_db: Callable[[Path], TinyDB],
        flush: Callable[[TinyDB], None],
        lock: threading.RLock,
        *,
        read_only: bool,
        warnings: list[str],
        directory: str = DIRECTORY,
        kind: str = "DmarcReport",
    ) -> None:
        self.dir = state_dir / directory
        self.kind = kind
        #: only DMARC reports had a single file in earlier versions
        self.legacy = state_dir / (LEGACY if directory == DIRECTORY else f"{directory}.legacy")
        self._open_db = open_db
        self._flush = flush
        self._lock = lock
        self.read_only = read_only
        self._warnings = warnings
        self._days: dict[str, TinyDB] = {}
        self._keys: dict[str, set[str]] = {}  # day → keys held, read when first needed
        self._dirty: set[str] = set()
        self._decoded: dict[tuple[str, int], DmarcReport] = {}
        self._bad: set[tuple[str, int]] = set()

    # -- files ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory and split a `dmarc.json` of an earlier version into days."""
        if self.read_only:
            return
        self.dir.mkdir(exist_ok=True, mode=0o700)
        if self.legacy.exists() or self.legacy.is_symlink():
            self._split_legacy()

    def _split_legacy(self) -> None:
        """Every record of the old single file into its day file, then the old file goes.
        Re-run after a crash in between, the dedupe by key makes it add nothing twice."""
        db = self._open_db(self.legacy)
        try:
            docs = list(db.table(TABLE).all())
        finally:
            db.close()
        by_day: dict[str, list[dict[str, Any]]] = {}
        for d in docs:
            by_day.setdefault(day_of(d["end"]), []).append(dict(d))
        for day, items in by_day.items():
            keys = self._day_keys(day)
            fresh = [d for d in items if d["k"] not in keys]
            if fresh:
                self._db(day).table(TABLE).insert_multiple(fresh)
                keys.update(d["k"] for d in fresh)
                self._flush(self._db(day))
        try:
            os.remove(self.legacy)
        except OSError as exc:
            log.warning("cannot remove %s after splitting it: %s", self.legacy, exc)
        log.info("split %d DMARC reports of %s into %d day files", len(docs), LEGACY, len(by_day))

    def _db(self, day: str) -> TinyDB:
        db = self._days.get(day)
        if db is None:
            db = self._days[day] = self._open_db(self.dir / f"{day}.json")
        return db

    def _day_keys(self, day: str) -> set[str]:
        keys = self._keys.get(day)
        if keys is None:
            keys = self._keys[day] = {d["k"] for d in self._db(day).table(TABLE).all()}
        return keys

    def close(self) -> None:
        for db in self._days.values():
            db.close()
        self._days.clear()
        self._keys.clear()
        self._dirty.clear()
        self._decoded.clear()
        self._bad.clear()

    # -- reading and writing ------------------------------------------------------------

    def add(self, reports: Iterable[Any], *, flush: bool) -> tuple[list[Any], int]:
        """Store the reports not yet known; (those added, how many were known)."""
        added: list[DmarcReport] = []
        dup = 0
        by_day: dict[str, list[DmarcReport]] = {}
        with self._lock:
            for r in reports:
                day = day_of(r.end.timestamp())
                keys = self._day_keys(day)
                if r.key in keys:
                    dup += 1
                    continue
                keys.add(r.key)
                by_day.setdefault(day, []).append(r)
                added.append(r)
            for day, items in by_day.items():
                ids = self._db(day).table(TABLE).insert_multiple(
                    {"k": r.key, "end": r.end.timestamp(), "data": encode(r)} for r in items
                )
                self._decoded.update(((day, i), r) for i, r in zip(ids, items, strict=True))
                self._dirty.add(day)
            if flush:
                self.flush()
        return added, dup

    def flush(self) -> None:
        with self._lock:
            for day in sorted(self._dirty):
                self._flush(self._db(day))
            self._dirty.clear()

    def _sources(self, since: datetime | None) -> list[str]:
        """The days that can hold reports ending at or after `since` (on disk or in memory)."""
        first = since.astimezone(UTC).date().isoformat() if since is not None else ""
        days = {p.stem for p in day_files(self.dir, since)} | set(self._days)
        return sorted(d for d in days if d >= first and d != LEGACY)

    def reports(self, since: datetime | None) -> list[Any]:
        """Reports ending at or after `since`, each decoded once."""
        from console import model

        kind = getattr(model, self.kind)
        lo = since.timestamp() if since is not None else float("-inf")
        out: list[DmarcReport] = []
        bad = 0
        with self._lock:
            groups = [(day, self._db(day)) for day in self._sources(since)]
            if self.read_only and (self.legacy.exists() or self.legacy.is_symlink()):
                groups.append((LEGACY, self._db_legacy()))
            for day, db in groups:
                for d in db.table(TABLE).all():
                    at = (day, d.doc_id)
                    if d["end"] < lo or at in self._bad:
                        continue
                    r = self._decoded.get(at)
                    if r is None:
                        try:
                            r = decode(kind, d["data"])
                        except (KeyError, TypeError, ValueError):
                            self._bad.add(at)
                            bad += 1
                            continue
                        self._decoded[at] = r
                    out.append(r)
        if bad:
            what = "DMARC" if self.kind == "DmarcReport" else "TLS"
            self._warnings.append(f"{bad} stored {what} report(s) unreadable; skipped")
        return out

    def _db_legacy(self) -> TinyDB:
        db = self._days.get(LEGACY)
        if db is None:
            db = self._days[LEGACY] = self._open_db(self.legacy)
        return db

    def prune(self, cutoff: datetime) -> int:
        """Remove reports that ended before `cutoff`: whole day files, and the older records
        of the day it falls in."""
        edge = cutoff.astimezone(UTC).date().isoformat()
        removed = 0
        with self._lock:
            for path in day_files(self.dir):
                day = path.stem
                if day > edge:
                    break
                if day < edge:
                    removed += len(self._db(day).table(TABLE))
                    self._forget(day)
                    path.unlink(missing_ok=True)
                    continue
                table = self._db(day).table(TABLE)
                old = [d.doc_id for d in table.all() if d["end"] < cutoff.timestamp()]
                if old:
                    table.remove(doc_ids=old)
                    self._flush(self._db(day))
                    self._forget(day)
                    removed += len(old)
        return removed

    def _forget(self, day: str) -> None:
        db = self._days.pop(day, None)
        if db is not None:
            db.close()
        self._keys.pop(day, None)
        self._dirty.discard(day)
        for at in [a for a in self._decoded if a[0] == day]:
            del self._decoded[at]
