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
from pathlib import Path

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


def read_regular_file(
    path: str | Path, what: str = "the file", max_bytes: int = MAX_FILE_BYTES, private: bool = False
) -> bytes:
    """The bytes of the regular file `path` (at most `max_bytes`); ValueError naming
    `what` (e.g. "the auth token file") when it is missing, unreadable, not a regular file,
    bigger, or (`private`, on POSIX) open to group or others."""
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
        if private and os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(
                f"{what} {path} is open to group or others (mode {stat.S_IMODE(mode):04o}); "
                f"run `chmod 600 {path}`"
            )
        if _NONBLOCK:
            os.set_blocking(descriptor, True)  # a regular file: reads as usual from here
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(max_bytes + 1)
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise ValueError(f"{what} {path} is over {max_bytes} bytes; is it the right file?")
    return data
