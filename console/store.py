"""Persistent state in TinyDB: snapshots, reputation history, events and per-IP counters.

Layout under the state directory:

    lock                 held (flock) by the one writer
    state.json           meta (schema), snapshots, history, cursors, seed runs,
                         alerts (open and recent history), the audit log of actions
    dmarc/YYYY-MM-DD.json  DMARC aggregate reports by the UTC day they end, deduplicated by
                         (reporter, report id); dmarc.json of earlier versions is split
                         into these once
    days/YYYY-MM-DDTHH.json  one file per UTC hour of message send time, holding that
                         hour's message index and its counters (a poll rewrites only the
                         hours it touched); days/YYYY-MM-DD.json files from earlier
                         versions are still read, and keep counting the messages they
                         hold, until retention removes them
    days/<partition>.events.jsonl  that partition's feed events, appended: one line each,
                         `[key, time, kind, customer, search text]` TAB the Mandrill item
    days/<partition>.counts.json   a copy of its counters, stamped with the partition
                         file's mtime and size, so counting a week does not parse a
                         week of indexes (rebuilt when the stamp no longer matches)

A message's index entry and the counters it feeds live in the same file, so
one atomic rename keeps them consistent: a crash can lose a poll's work
(re-read from Mandrill next time) but never double-count or half-count it.
Events are appended and fsynced *before* that rename, and a line whose key is
already in the file is never appended again, so a crash between the two loses
nothing and duplicates nothing; a torn last line is cut off when the file is
next opened for writing. Events live apart from the index so that the feed can
be read (and searched, see `analysis.feed.FeedIndex`) without loading the
index, and an index can be rewritten without rewriting the events.
Nothing is published to the screen before `commit()` has written it.

The console opens the store before its first frame, and building the model's
classes takes longer than drawing that frame: the model and the wire parser
are imported in the functions that build objects, after it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import MemoryStorage, Storage

from console import stateshape
from console.analysis.feed import FeedIndex, FeedRow
from console.codec import decode, encode
from console.dmarcstore import LEGACY, DmarcStore, day_files
from console.files import FileRefused, read_regular
from console.limits import STATE_FILE_BYTES
from console.stateshape import Shapes
from console.timeutil import Clock, system_clock

if TYPE_CHECKING:
    from console.model import Alert, AuditEntry, DmarcReport, FeedPage, MessageEvent, SeedRun

log = logging.getLogger(__name__)

#: 2: feed events moved out of the partition files into their own appended files.
SCHEMA_VERSION = 2
EVENTS_SUFFIX = ".events.jsonl"
COUNTS_SUFFIX = ".counts.json"  # a partition's counters again, readable without its index
#: Partitions kept open (index in memory) between polls: the newest hours, which each
#: poll touches again; older ones are read again when a rescan reaches them.
OPEN_PARTITIONS = 6
#: Full events read back for the screen, kept for the next keystroke.
EVENT_CACHE = 4096


SEED_RUNS_KEPT = 60
ALERTS_KEPT = 500  # resolved alerts kept as history
AUDIT_KEPT = 5000


def _shapes_for(path: Path) -> Shapes:
    """Which shape a state file must have, by its name."""
    if path.name.startswith(LEGACY) or path.parent.name == "dmarc":
        return stateshape.DMARC
    if path.parent.name == "days":
        return stateshape.PARTITION
    return stateshape.STATE


def _read_docs(path: Path, table: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One table's documents from a state file another process may be writing, read without
    the lock (writes are atomic renames, so a reader sees a whole file, old or new), and
    what was wrong with the file. CorruptStateError when none of it can be read."""
    storage = AtomicJSONStorage(str(path), read_only=True)
    data = storage.read()
    docs = (data or {}).get(table) or {}
    problems = [f"{path.name}: {p}" for p in storage.damage]
    return list(docs.values()), problems


def _decode_docs(tp: Any, docs: Iterable[dict[str, Any]], warnings: list[str]) -> list[Any]:
    out = []
    bad = 0
    for d in docs:
        try:
            out.append(decode(tp, d["data"]))
        except (KeyError, TypeError, ValueError):
            bad += 1  # one unreadable record must not hide the rest
    if bad:
        warnings.append(f"{bad} stored {tp.__name__} record(s) unreadable; skipped")
    return out


def read_dmarc_reports(
    state_dir: Path, since: datetime | None = None
) -> tuple[list[DmarcReport] | None, list[str]]:
    """DMARC reports a console (maybe running now) stored that end at or after `since`,
    and any reading problem; None (not []) when a file of the window cannot be read at
    all: unknown is not "no reports". Only the days of the window are read."""
    from console.model import DmarcReport

    lo = since.timestamp() if since is not None else float("-inf")
    files = day_files(state_dir, since)
    if os.path.lexists(state_dir / LEGACY):  # an earlier version's single file
        files.append(state_dir / LEGACY)
    out: list[DmarcReport] = []
    warnings: list[str] = []
    for path in files:
        try:
            docs, problems = _read_docs(path, "reports")
        except CorruptStateError as exc:
            return None, [f"DMARC reports unreadable: {exc}"]
        warnings += problems
        out += _decode_docs(DmarcReport, (d for d in docs if d["end"] >= lo), warnings)
    return out, warnings


class StoreError(Exception):
    """The state directory cannot be used; the message says why and what to do."""


class StoreLockedError(StoreError):
    pass


class CorruptStateError(StoreError):
    pass


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file behind.

    TinyDB's JSONStorage truncates and rewrites in place, so a crash mid-write
    loses everything; here each write goes to a temp file, is fsynced, and is
    renamed over the old one.
    """

    def __init__(self, path: str, read_only: bool = False, shapes: Shapes | None = None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.shapes = shapes if shapes is not None else _shapes_for(self.path)
        #: what the last read dropped for having the wrong shape (the rest was kept)
        self.damage: list[str] = []

    def read(self) -> dict[str, dict[str, Any]] | None:
        if not os.path.lexists(self.path):
            return None
        try:
            text = read_regular(self.path, STATE_FILE_BYTES)
        except FileRefused as exc:
            if not os.path.lexists(self.path):
                return None  # removed between the look and the read
            raise CorruptStateError(f"{self.path}: {exc}") from None
        if not text.strip():
            return None
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise CorruptStateError(f"{self.path}: {exc}") from None
        if not isinstance(data, dict):
            raise CorruptStateError(f"{self.path}: not a TinyDB document")
        clean, self.damage = stateshape.clean(data, self.shapes)
        return clean

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.read_only:
            raise StoreError("the state is open read-only")
        # ASCII escapes keep any text, even a lone surrogate from a hostile bounce, writable.
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()
        _write_atomically(self.path, payload)

    def close(self) -> None:
        pass


class _Cache(CachingMiddleware):
    """Writes only on flush(): one atomic file write per poll instead of one per record."""

    WRITE_CACHE_SIZE = 1 << 62

    def __init__(self, storage_cls: type[Storage]) -> None:
        super().__init__(storage_cls)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        # CachingMiddleware flushes on close; here only commit() writes, so closing
        # after a failed poll can never persist half of it.
        self.storage.close()


@dataclass
class IngestResult:
    """What one poll added, so the pipeline raises alerts on new events only."""

    new_events: list[MessageEvent] = field(default_factory=list)
    new_messages: int = 0
    changed: int = 0


def pack(ip: str, state: str, sub: str) -> str:
    """A message's index entry: what its count depends on."""
    return f"{ip}\t{state}\t{sub}"


def _read_json(path: Path) -> Any:
    """A small JSON file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _event_line(m: MessageEvent) -> bytes:
    """One feed event as stored: a small JSON head the feed reads, TAB, the Mandrill item.
    ASCII escapes keep tabs and newlines inside strings out of the framing."""
    head = [m.key, m.event_ts.timestamp(), m.kind, m.subaccount, m.haystack]
    return b"%s\t%s\n" % (
        json.dumps(head, separators=(",", ":"), ensure_ascii=True).encode(),
        json.dumps(dict(m.raw), separators=(",", ":"), ensure_ascii=True).encode(),
    )


def _read_feed_rows(path: Path, part: str, start: int = 0) -> tuple[list[FeedRow], int, int]:
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


def _read_keys(path: Path) -> set[str]:
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


def _repair_tail(path: Path) -> None:
    """Cut a line a crash left half-written, so the next append starts on a line of its own."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            back = min(size, 1 << 20)
            while True:
                fh.seek(size - back)
                cut = fh.read(back).rfind(b"\n")
                if cut >= 0 or back == size:
                    break
                back = min(size, back * 4)
            keep = size - back + cut + 1 if cut >= 0 else 0
            fh.truncate(keep)
            log.warning("%s: cut a half-written last line (%d bytes)", path.name, size - keep)
    except FileNotFoundError:
        pass


def _append_lines(path: Path, lines: list[bytes]) -> tuple[list[int], int]:
    """Append and fsync; returns each line's offset (the feed's pointer to it) and the end."""
    created = not path.exists()
    offsets = []
    with open(path, "ab") as fh:
        pos = fh.seek(0, os.SEEK_END)
        for line in lines:
            offsets.append(pos)
            pos += len(line)
        fh.write(b"".join(lines))
        fh.flush()
        os.fsync(fh.fileno())
    if created:
        _fsync_dir(path.parent)
    return offsets, pos


def _write_atomically(path: Path, payload: bytes, durable: bool = True) -> None:
    """Temp file, (fsync,) rename, (fsync of the directory): readers see the old file or
    the new one, never half of one; `durable` also survives a power cut."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(payload)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class _Day:
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
        self.dirty = False

    @property
    def event_keys(self) -> set[str]:
        """Keys of the events already stored for this partition, read when first needed."""
        if self._event_keys is None:
            self._event_keys = _read_keys(self.events_path)
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

    def bump(self, ip: str, hour: str, state: str, sub: str, n: int) -> None:
        cell = self.ips.setdefault(ip, {}).setdefault(hour, {})
        cell[state] = cell.get(state, 0) + n
        if cell[state] <= 0:
            del cell[state]
        scell = self.subs.setdefault(sub, {})
        scell[state] = scell.get(state, 0) + n
        if scell[state] <= 0:
            del scell[state]
        self.dirty = True

    def save_counters(self) -> None:
        doc = {"ips": self.ips, "subs": self.subs}
        if self.counter_doc is None:
            self.counter_doc = self.counter_table.insert(doc)
        else:
            self.counter_table.update(doc, doc_ids=[self.counter_doc])


class Store:
    """The one writer of a state directory (see module docstring for the layout)."""

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
        self._days: OrderedDict[str, _Day] = OrderedDict()  # least recently used first
        #: counters of partitions not held open (they are small; the index is not)
        self._counters: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
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

    # -- lifecycle -----------------------------------------------------------------

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
        except OSError as exc:
            self.close()
            raise StoreError(f"Cannot set up {self.dir / 'dmarc'}: {exc}") from None
        return self

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
                        lines.append(_event_line(m))
                _write_atomically(d / f"{name}{EVENTS_SUFFIX}", b"".join(lines))
                db.drop_table("events")
                self._flush(db)
            finally:
                db.close()
        log.info("moved the feed events of %d partitions to their own files", len(names))

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
                rows, _, end = _read_feed_rows(path, name, start)
                feed.add(rows)
                self._feed_read[name] = end

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

    def _open_db(self, path: Path) -> TinyDB:
        """Open one file. One that cannot be read at all (not JSON, a directory, no
        permission) is moved aside and started afresh; one with records of the wrong shape
        keeps the rest, and the original is copied aside. Either way the warning says so,
        and a read-only viewer, whose files these are not, shows what it can."""
        db = TinyDB(str(path), storage=_Cache(AtomicJSONStorage), read_only=self.read_only)
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
            return TinyDB(str(path), storage=_Cache(AtomicJSONStorage))
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

    @staticmethod
    def _flush(db: TinyDB) -> None:
        db.storage.flush()  # type: ignore[attr-defined]

    @property
    def db(self) -> TinyDB:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

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
                    lines = [_event_line(m) for m in day.pending]
                    offsets, end = _append_lines(day.events_path, lines)
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
                        self._write_counts(name, stamp, day.ips, day.subs)
            self._flush(self.db)
            self._evict()

    def _evict(self) -> None:
        """Close the least recently used clean partitions beyond OPEN_PARTITIONS, keeping
        their (small) counters: an index of a busy hour holds tens of thousands of ids."""
        for name in list(self._days):
            if len(self._days) <= OPEN_PARTITIONS:
                break
            day = self._days[name]
            if day.clean:
                self._counters[name] = (day.ips, day.subs)
                day.db.close()
                del self._days[name]

    # -- snapshots, history, cursors -----------------------------------------------------

    def put_snapshot(self, source: str, value: Any, polled_at: datetime) -> None:
        with self._lock:
            table = self.db.table("snapshots")
            doc = {"source": source, "polled_at": polled_at.isoformat(), "data": encode(value)}
            found = [d.doc_id for d in table.all() if d.get("source") == source]
            if found:
                table.update(doc, doc_ids=found[:1])
            else:
                table.insert(doc)

    def get_snapshot(self, source: str, tp: Any) -> tuple[Any, datetime] | None:
        with self._lock:
            for d in self.db.table("snapshots").all():
                if d.get("source") == source:
                    try:
                        return decode(tp, d["data"]), datetime.fromisoformat(d["polled_at"])
                    except (KeyError, TypeError, ValueError) as exc:
                        self.warnings.append(f"Stored {source} snapshot unreadable ({exc})")
                        return None
        return None

    def add_history(self, series: str, when: datetime, value: float) -> None:
        with self._lock:
            self.db.table("history").insert({"s": series, "t": when.timestamp(), "v": value})

    def history(self, series: str, since: datetime | None = None) -> list[tuple[datetime, float]]:
        with self._lock:
            lo = since.timestamp() if since else float("-inf")
            rows = [
                (d["t"], d["v"])
                for d in self.db.table("history").all()
                if d.get("s") == series and d.get("t", 0) >= lo
            ]
        rows.sort()
        return [(datetime.fromtimestamp(t, UTC), v) for t, v in rows]

    def last_history(self, series: str) -> tuple[datetime, float] | None:
        with self._lock:
            best: tuple[float, float] | None = None
            for d in self.db.table("history").all():
                if d.get("s") == series and (best is None or d.get("t", 0) >= best[0]):
                    best = (d["t"], d["v"])
        return (datetime.fromtimestamp(best[0], UTC), best[1]) if best else None

    def get_cursor(self, name: str) -> int | None:
        with self._lock:
            for d in self.db.table("cursors").all():
                if d.get("name") == name:
                    return int(d["value"])
        return None

    def set_cursor(self, name: str, value: int) -> None:
        with self._lock:
            table = self.db.table("cursors")
            found = [d.doc_id for d in table.all() if d.get("name") == name]
            if found:
                table.update({"value": value}, doc_ids=found[:1])
            else:
                table.insert({"name": name, "value": value})

    # -- seed runs -------------------------------------------------------------------

    def _append_bounded(self, table_name: str, when: datetime, value: Any, keep: int) -> None:
        """Add a timed record and drop the oldest beyond `keep` (seed runs, the audit log)."""
        with self._lock:
            table = self.db.table(table_name)
            table.insert({"t": when.timestamp(), "data": encode(value)})
            docs = sorted(table.all(), key=lambda d: d.get("t", 0))
            if len(docs) > keep:
                table.remove(doc_ids=[d.doc_id for d in docs[: len(docs) - keep]])

    def add_seed_run(self, run: SeedRun, keep: int = SEED_RUNS_KEPT) -> None:
        """Keep the newest `keep` runs; the panel's strip shows the last 14."""
        self._append_bounded("seed_runs", run.run_at, run, keep)

    def seed_runs(self, limit: int = SEED_RUNS_KEPT) -> list[SeedRun]:
        """The newest `limit` runs, oldest first."""
        from console.model import SeedRun

        with self._lock:
            docs = sorted(self.db.table("seed_runs").all(), key=lambda d: d.get("t", 0))
        out: list[SeedRun] = self._decode(SeedRun, docs[-limit:])
        return out

    # -- DMARC aggregate reports (a file per day: see console/dmarcstore.py) -------------

    def add_dmarc_reports(
        self, reports: Iterable[DmarcReport], *, flush: bool = True
    ) -> tuple[list[DmarcReport], int]:
        """Store new reports; (those added, how many were known) — a report is identified by
        (reporter, report id). One write per day touched (`flush`); a batch of files can
        write once at its end with `flush_dmarc`."""
        return self._dmarc.add(reports, flush=flush)

    def flush_dmarc(self) -> None:
        self._dmarc.flush()

    def dmarc_reports(self, since: datetime | None = None) -> list[DmarcReport]:
        """The stored reports ending at or after `since`; only their days are read."""
        return self._dmarc.reports(since)

    def prune_dmarc(self, retention_days: int) -> int:
        return self._dmarc.prune(self.clock() - timedelta(days=retention_days))

    # -- alerts and the audit log ------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """Every stored alert, open and resolved, oldest opened first."""
        from console.model import Alert

        with self._lock:
            docs = list(self.db.table("alerts").all())
        out: list[Alert] = self._decode(Alert, docs)
        return sorted(out, key=lambda a: a.opened_at)

    def _decode(self, tp: Any, docs: Iterable[dict[str, Any]]) -> list[Any]:
        """Stored records of one type; what cannot be read is said once, not at every read
        (the console reads its alerts at every evaluation)."""
        problems: list[str] = []
        out = _decode_docs(tp, docs, problems)
        self.warnings.extend(p for p in problems if p not in self.warnings)
        return out

    def put_alerts(self, alerts: Iterable[Alert], keep_resolved: int = ALERTS_KEPT) -> None:
        """Replace the alert set: all open ones and the newest resolved ones."""
        items = list(alerts)
        done = sorted(
            (a for a in items if a.resolved_at is not None),
            key=lambda a: a.resolved_at or a.opened_at,
        )[-keep_resolved:]
        kept = [a for a in items if a.resolved_at is None] + done
        with self._lock:
            table = self.db.table("alerts")
            table.truncate()
            table.insert_multiple({"id": a.id, "data": encode(a)} for a in kept)

    def add_audit(self, entry: AuditEntry, keep: int = AUDIT_KEPT) -> None:
        self._append_bounded("audit", entry.at, entry, keep)

    def audit(self) -> list[AuditEntry]:
        """The audit log, oldest first."""
        from console.model import AuditEntry

        with self._lock:
            docs = sorted(self.db.table("audit").all(), key=lambda d: d.get("t", 0))
        out: list[AuditEntry] = self._decode(AuditEntry, docs)
        return out

    # -- messages, events, counters ----------------------------------------------------

    def _day(self, day: str) -> _Day:
        part = self._days.get(day)
        if part is None:
            d = self.dir / "days"
            events = d / f"{day}{EVENTS_SUFFIX}"
            if not self.read_only:
                _repair_tail(events)
            part = _Day(self._open_db(d / f"{day}.json"), events)
            self._days[day] = part
            self._counters.pop(day, None)
        else:
            self._days.move_to_end(day)
        return part

    def _counters_of(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A partition's counters without keeping its index in memory."""
        part = self._days.get(name)
        if part is not None:
            return part.ips, part.subs
        cached = self._counters.get(name)
        if cached is None:
            stamp = self._counters_stamp[name] = self._stamp(name)  # before reading: never too new
            side = _read_json(self.dir / "days" / f"{name}{COUNTS_SUFFIX}")
            if isinstance(side, dict) and stamp is not None and side.get("stamp") == list(stamp):
                c: dict[str, Any] = side
            else:  # no sidecar, or one older than the partition: read the partition itself
                docs = self._open_db(self.dir / "days" / f"{name}.json")
                try:
                    c = next(iter(docs.table("counters", cache_size=0).all()), {})
                finally:
                    docs.close()
                if not self.read_only and stamp is not None:
                    self._write_counts(name, stamp, c.get("ips", {}), c.get("subs", {}))
            cached = self._counters[name] = (c.get("ips", {}), c.get("subs", {}))
        return cached

    def _write_counts(
        self, name: str, stamp: tuple[int, int], ips: dict[str, Any], subs: dict[str, Any]
    ) -> None:
        """The counters' sidecar: a copy that can be read without parsing the index beside
        them. Derived data, so no fsync: a lost or stale one (its stamp no longer that of
        the partition file) is simply rebuilt from the partition."""
        path = self.dir / "days" / f"{name}{COUNTS_SUFFIX}"
        payload = json.dumps({"stamp": list(stamp), "ips": ips, "subs": subs}).encode()
        try:
            _write_atomically(path, payload, durable=False)
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
                ip, sub = m.source_ip, m.subaccount
                now = pack(ip, m.state, sub)
                prev = part.index.get(m.message_id)
                if prev is None:
                    part.index[m.message_id] = now
                    part.bump(ip, hour, m.state, sub, 1)
                    result.new_messages += 1
                elif prev != now:
                    old_ip, old_state, old_sub = prev.split("\t", 2)
                    part.bump(old_ip, hour, old_state, old_sub, -1)
                    part.bump(ip, hour, m.state, sub, 1)
                    part.index[m.message_id] = now
                    result.changed += 1
                if m.is_feed_event and m.key not in part.event_keys:
                    part.pending.append(m)
                    part.event_keys.add(m.key)
                    result.new_events.append(m)
            self.generation += 1
        return result

    # -- the feed --------------------------------------------------------------------

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
                rows, n, end = _read_feed_rows(self.dir / "days" / f"{name}{EVENTS_SUFFIX}", name)
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
                on_disk = _read_keys(day.events_path) if day.pending and self.read_only else ()
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
                ips, _ = self._counters_of(name)
                for ip, hours in ips.items():
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
                    for sub, states in self._counters_of(name)[1].items():
                        totals[sub].update(states)
        return dict(totals)

    # -- retention -----------------------------------------------------------------

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
