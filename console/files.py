"""Reading a file someone named (in the config or on the command line) without trusting it.

A path can name a FIFO (open would wait for a writer for ever), a device such as
/dev/zero (st_size is 0, the read never ends), a directory, or a file far larger
than anything it should hold. `read_regular` opens without blocking, refuses
what is not a regular file, and caps the read itself, not only the size it stats.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from console.limits import size_text

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(Exception):
    """The file cannot be used; the message says why, in words for the person fixing it."""


def kind_of(mode: int) -> str:
    """What a file is, as a phrase: "a directory", "a named pipe (FIFO)"…"""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; FileRefused otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileRefused("it does not exist") from None
    except IsADirectoryError:
        raise FileRefused("it is a directory, not a file") from None
    except OSError as exc:
        raise FileRefused(f"cannot open it ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"it is {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise FileRefused(
                f"it holds {st.st_size:,} bytes, more than the {size_text(limit)} accepted"
            )
        chunks: list[bytes] = []
        got = 0
        while got <= limit:  # the stat can lie (a file still growing, /proc): cap the read
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise FileRefused(f"it holds more than the {size_text(limit)} accepted")
        return b"".join(chunks)
    except OSError as exc:
        raise FileRefused(f"cannot read it ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text(path: Path, limit: int) -> str:
    """`read_regular` as UTF-8 text."""
    data = read_regular(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"it is not UTF-8 text (byte {exc.start})") from None
