"""What every part of the store shares: its state in memory, and opening one state file
without trusting it (moved or copied aside when damaged, and said)."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tinydb import TinyDB
from tinydb.storages import MemoryStorage

from console.analysis.feed import FeedIndex
from console.dmarcstore import DmarcStore
from console.store.files import AtomicJSONStorage, CorruptStateError, StoreError, WriteCache
from console.store.partition import Counts, Partition
from console.timeutil import Clock, system_clock

if TYPE_CHECKING:
    from console.model import MessageEvent

log = logging.getLogger(__name__)


class StoreBase:
    """The state of an open state dir; the parts of `Store` build on it."""

    def __init__(
        self,
        state_dir: Path,
        *,
        retention_days: int = 30,
        clock: Clock = system_clock,
        read_only: bool = False,
    ) -> None:
        self.dir = Path(state_dir)
        #: a second instance's view of a state dir another mailops owns: no lock, no writes
        self.read_only = read_only
        self.retention_days = retention_days
        self.clock = clock
        self.warnings: list[str] = []
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        self._db: TinyDB | None = None
        self._days: OrderedDict[str, Partition] = OrderedDict()  # least recently used first
        #: counters of partitions not held open (they are small; the index is not)
        self._counters: dict[str, Counts] = {}
        self._counters_stamp: dict[str, tuple[int, int] | None] = {}
        self._feed: FeedIndex | None = None
        self._feed_unread: set[str] = set()
        #: bumped by every ingest: a view computed at a lower one is older than the mail
        self.generation = 0
        self._feed_loaded = False
        self._feed_read: dict[str, int] = {}  # bytes of each events file in the index
        self._event_cache: OrderedDict[tuple[str, int], MessageEvent] = OrderedDict()
        self._dmarc = DmarcStore(
            self.dir, self._open_db, self._flush, self._lock,
            read_only=read_only, warnings=self.warnings,
        )  # fmt: skip
        self._tlsrpt = DmarcStore(
            self.dir, self._open_db, self._flush, self._lock,
            read_only=read_only, warnings=self.warnings, directory="tlsrpt", kind="TlsReport",
        )  # fmt: skip

    @property
    def db(self) -> TinyDB:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    @staticmethod
    def _flush(db: TinyDB) -> None:
        db.storage.flush()  # type: ignore[attr-defined]

    def _open_db(self, path: Path) -> TinyDB:
        """Open one file. One that cannot be read at all (not JSON, a directory, no
        permission) is moved aside and started afresh; one with records of the wrong shape
        keeps the rest, and the original is copied aside. Either way the warning says so,
        and a read-only viewer, whose files these are not, shows what it can."""
        db = TinyDB(str(path), storage=WriteCache(AtomicJSONStorage), read_only=self.read_only)
        try:
            db.tables()
        except CorruptStateError as exc:
            db.close()
            if self.read_only:  # not ours to move: show nothing from it, and say so
                self.warnings.append(f"State file {path.name} is unreadable ({exc})")
                return TinyDB(storage=MemoryStorage)
            aside = self._set_aside(path, exc, move=True)
            msg = f"State file {path.name} was unreadable ({exc}); moved aside to {aside.name}"
            log.warning("%s", msg)
            self.warnings.append(msg)
            return TinyDB(str(path), storage=WriteCache(AtomicJSONStorage))
        damage = db.storage.storage.damage  # type: ignore[attr-defined]
        if damage:
            what = "; ".join(damage)
            if self.read_only:
                self.warnings.append(f"State file {path.name}: {what}; shown without them")
                return db
            aside = self._set_aside(path, CorruptStateError(what), move=False)
            db.storage.storage.write(db.storage.cache)  # type: ignore[attr-defined]
            msg = (
                f"State file {path.name}: {what}; the rest was kept, the original copied "
                f"aside to {aside.name}"
            )
            log.warning("%s", msg)
            self.warnings.append(msg)
        return db

    def _set_aside(self, path: Path, why: Exception, *, move: bool) -> Path:
        """Move (or copy) a damaged file to `<name>.corrupt-<time>`; a StoreError that says
        what to do when even that is impossible."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        try:
            if move:
                os.replace(path, aside)
            else:
                shutil.copyfile(path, aside)
        except OSError as exc:
            raise StoreError(
                f"{why}; it cannot be {'moved' if move else 'copied'} aside either "
                f"({exc.strerror or exc}). Repair or remove {path} by hand (or give this "
                "mailops another --state-dir), then start it again."
            ) from None
        return aside
