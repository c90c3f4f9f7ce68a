"""Reading a file the harness did not write, in bounded time and memory.

Only a regular file is opened: a FIFO blocks its reader until someone writes, a device such
as /dev/zero never ends, and opening some devices does something. The kind is checked with
stat before the open (which is non-blocking besides) and again on the open file, in case the
path was swapped meanwhile; then at most `limit` bytes are read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class RefusedFile(OSError):
    """A file that is not read at all: not a regular file, or larger than its bound. An
    OSError, so that whoever reports unreadable files reports these the same way."""


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file at `path` (links followed), refused when it is another
    kind of file or holds more than `limit` bytes; `what` names it in that message."""
    data = read_start(path, limit + 1)
    if len(data) > limit:
        raise RefusedFile(f"larger than {size(limit)}, the most {what} may hold")
    return data


def read_start(path: Path, count: int) -> bytes:
    """At most the first `count` bytes of the regular file at `path` (links followed)."""
    with open_regular(path) as handle:
        return handle.read(count)


def open_regular(path: Path) -> BinaryIO:
    """The regular file at `path` (links followed), open for reading; RefusedFile, before
    anything is opened, for any other kind of file."""
    _refuse_unless_regular(os.stat(path).st_mode)
    handle = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    try:
        _refuse_unless_regular(os.fstat(handle.fileno()).st_mode)
    except RefusedFile:
        handle.close()
        raise
    return handle


def _refuse_unless_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise RefusedFile(f"not a regular file ({kind_of(mode)})")


def kind_of(mode: int) -> str:
    """What a stat mode says a path is, in the words of a message."""
    if stat.S_ISREG(mode):
        return "a file"
    return next((name for test, name in KINDS if test(mode)), "an unknown kind of file")


def size(count: int) -> str:
    """A byte count as people write limits: 1 MiB, 256 MiB, 1 GiB (else in bytes)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift and count % (1 << shift) == 0:
            return f"{count >> shift} {unit}"
    return f"{count} bytes"
