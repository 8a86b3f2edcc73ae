"""The state files themselves: written atomically (temp file, fsync, rename), read
without trusting them (size, shape), appended with fsync; and the errors that say why a
state dir cannot be used. Nothing here knows what the files hold."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from console import stateshape
from console.codec import decode
from console.dmarcstore import DIRECTORY, LEGACY, day_files
from console.files import FileRefused, read_regular
from console.limits import STATE_FILE_BYTES
from console.stateshape import Shapes

if TYPE_CHECKING:
    from console.model import DmarcReport


log = logging.getLogger(__name__)


class StoreError(Exception):
    """The state directory cannot be used; the message says why and what to do."""


class StoreLockedError(StoreError):
    pass


class CorruptStateError(StoreError):
    pass


def shapes_for(path: Path) -> Shapes:
    """Which shape a state file must have, by its name."""
    if path.name.startswith(LEGACY) or path.parent.name in ("dmarc", "tlsrpt"):
        return stateshape.DMARC
    if path.parent.name == "days":
        return stateshape.PARTITION
    return stateshape.STATE


def read_docs(path: Path, table: str) -> tuple[list[dict[str, Any]], list[str]]:
    """One table's documents from a state file another process may be writing, read without
    the lock (writes are atomic renames, so a reader sees a whole file, old or new), and
    what was wrong with the file. CorruptStateError when none of it can be read."""
    storage = AtomicJSONStorage(str(path), read_only=True)
    data = storage.read()
    docs = (data or {}).get(table) or {}
    problems = [f"{path.name}: {p}" for p in storage.damage]
    return list(docs.values()), problems


def decode_docs(tp: Any, docs: Iterable[dict[str, Any]], warnings: list[str]) -> list[Any]:
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
    files = day_files(state_dir / DIRECTORY, since)
    if os.path.lexists(state_dir / LEGACY):  # an earlier version's single file
        files.append(state_dir / LEGACY)
    out: list[DmarcReport] = []
    warnings: list[str] = []
    for path in files:
        try:
            docs, problems = read_docs(path, "reports")
        except CorruptStateError as exc:
            return None, [f"DMARC reports unreadable: {exc}"]
        warnings += problems
        out += decode_docs(DmarcReport, (d for d in docs if d["end"] >= lo), warnings)
    return out, warnings


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a half-written file behind.

    TinyDB's JSONStorage truncates and rewrites in place, so a crash mid-write
    loses everything; here each write goes to a temp file, is fsynced, and is
    renamed over the old one.
    """

    def __init__(self, path: str, read_only: bool = False, shapes: Shapes | None = None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.shapes = shapes if shapes is not None else shapes_for(self.path)
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
        write_atomically(self.path, payload)

    def close(self) -> None:
        pass


class WriteCache(CachingMiddleware):
    """Writes only on flush(): one atomic file write per poll instead of one per record."""

    WRITE_CACHE_SIZE = 1 << 62

    def __init__(self, storage_cls: type[Storage]) -> None:
        super().__init__(storage_cls)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        # CachingMiddleware flushes on close; here only commit() writes, so closing
        # after a failed poll can never persist half of it.
        self.storage.close()


def read_json(path: Path) -> Any:
    """A small JSON file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def repair_tail(path: Path) -> None:
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


def append_lines(path: Path, lines: list[bytes]) -> tuple[list[int], int]:
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
        fsync_dir(path.parent)
    return offsets, pos


def write_atomically(path: Path, payload: bytes, durable: bool = True) -> None:
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
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
