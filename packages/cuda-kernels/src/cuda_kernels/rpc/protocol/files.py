"""Reading the small files a user names (token, TLS certificate, key, CA): regular files
only, checked before a byte is read.

Why: opening a FIFO for reading blocks until someone writes to it (`serve
--auth-token-file fifo` hung at start-up, printing nothing), a directory fails with a raw
"[Errno 21]", and a device such as /dev/null reads as empty and then drew advice to
`chmod` it. So the file is opened without blocking (`O_NONBLOCK`), and what was opened is
checked with `fstat` (no race with a rename between the check and the read); anything but
a regular file is refused in one sentence that names it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX; elsewhere there are no FIFOs to open
MAX_FILE_BYTES = 1024 * 1024  # a certificate chain is a few KiB; read no further

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words (`mode` from `os.stat`)."""
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


@contextmanager
def open_regular(path: str | Path, what: str) -> Iterator[BinaryIO]:
    """`path` opened for reading in binary, once it is known to be a regular file;
    ValueError naming `what` (e.g. "the auth token file") and the problem otherwise."""
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | _NONBLOCK)
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise ValueError(f"{what} {path} is {kind_of(mode)}, not a regular file; name a file")
        if _NONBLOCK:
            os.set_blocking(descriptor, True)  # a regular file: reads as usual from here
        file = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with file:
        yield file


def read_regular_file(
    path: str | Path, what: str = "the file", max_bytes: int = MAX_FILE_BYTES
) -> bytes:
    """The bytes of the regular file `path` (at most `max_bytes`); ValueError naming
    `what` when it is missing, unreadable, not a regular file, or bigger."""
    with open_regular(path, what) as file:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{what} {path} is over {max_bytes} bytes; is it the right file?")
    return data


__all__ = ["MAX_FILE_BYTES", "kind_of", "open_regular", "read_regular_file"]
