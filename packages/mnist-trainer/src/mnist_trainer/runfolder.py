"""The run folder: one owner at a time, and files that are either complete or absent.

Why this module: a run folder is read back by `--resume`, by `mnist-train evaluate` and by
people, possibly while a run writes it. Three rules keep it trustworthy:

- one trainer per folder: an exclusive `fcntl` lock on `.lock`, held for the whole run.
  The kernel drops it when the process dies, even by kill -9, so a crashed run never
  blocks its own `--resume`;
- every file but `metrics.jsonl` is replaced atomically by `atomic_write` (temp file in
  the same folder, fsync, rename, fsync of the folder): a kill at any moment leaves the
  old file or the new one;
- `metrics.jsonl` is appended and flushed once per epoch, so `tail -f` can follow it;
  on resume it is cut back to the checkpoint's epochs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

from .errors import RunFolderError

LOCK_NAME = ".lock"
METRICS_NAME = "metrics.jsonl"
# What a run leaves behind: a folder holding any of these is a run, never a fresh --out.
RUN_FILES = ("config.json", METRICS_NAME, "metrics.json", "model.pt", "checkpoint.pt",
             "checkpoint.prev.pt", "loss.png", "accuracy.png", "confusion.png",
             "tensorboard")  # fmt: skip
# Our temp files are `.NAME.RANDOM.mnist-train.tmp`: no other program's file matches, so
# cleaning up after a killed run deletes only what a run of ours began to write.
TEMP_SUFFIX = ".mnist-train.tmp"
Content = bytes | str | Callable[[BinaryIO], None]


@cache
def _default_file_mode() -> int:
    # mkstemp makes 0600 files; a run's files should get the mode any new file would get.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], content: Content) -> None:
    """Replace `path` with `content` (bytes, text, or a function writing to a binary file).

    Raises `RunFolderError` naming the file when it cannot be written (disk full, no
    permission); the previous version of the file is then left as it was.
    """
    path = Path(path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
        )
        os.fchmod(fd, _default_file_mode())
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def metrics_text(history: Sequence[dict[str, Any]]) -> str:
    """`metrics.jsonl` for these epochs: one JSON object per line."""
    return "".join(json.dumps(row) + "\n" for row in history)


class RunFolder:
    """The files of one run. Writes are no-ops on data-parallel workers other than rank 0."""

    def __init__(self, path: Path, writer: bool = True) -> None:
        self.path, self.writer = Path(path), writer
        self._lock_fd: int | None = None

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def run_files(self) -> list[str]:
        """The files of a run (finished or not) already in this folder."""
        return [name for name in RUN_FILES if os.path.lexists(self.path / name)]

    # --- ownership ----------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[RunFolder]:
        """Create the folder and hold its lock until the block ends (rank 0 only)."""
        if not self.writer:
            yield self
            return
        if os.path.lexists(self.path) and not self.path.is_dir():
            what = (
                "a symbolic link that loops or leads nowhere"
                if self.path.is_symlink()
                else "not a folder"
            )
            raise RunFolderError(f"--out {self.path} is {what}: pick another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(
                f"cannot create the run folder {self.path}: {exc.strerror or exc}"
            ) from exc
        self._acquire()
        try:
            yield self
        finally:
            self._release()

    def _acquire(self) -> None:
        lock_path = self.path / LOCK_NAME
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunFolderError(f"cannot use {self.path}: {exc.strerror or exc}") from exc
        try:
            import fcntl
        except ImportError:  # no fcntl (Windows): run unlocked rather than not at all
            self._lock_fd = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunFolderError(
                f"{self.path} is in use by {holder}; wait for that run to end, or pick "
                "another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"mnist-train pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def remove_stale_temp_files(self) -> None:
        """Delete half-written temp files left by a run of ours killed mid-write (only those)."""
        if self.writer:
            for stale in self.path.glob(f".*{TEMP_SUFFIX}"):
                stale.unlink(missing_ok=True)

    # --- files ----------------------------------------------------------------------------

    def write(self, name: str, content: Content) -> None:
        if self.writer:
            atomic_write(self.path / name, content)

    def remove_files(self, names: Sequence[str]) -> None:
        """Delete files this run wrote (when it stops before its first epoch ends)."""
        if self.writer:
            for name in names:
                path = self.path / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def write_json(self, name: str, obj: Any) -> None:
        self.write(name, json.dumps(obj, indent=2) + "\n")

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Add one epoch's line to metrics.jsonl and push it to disk."""
        if not self.writer:
            return
        path = self.path / METRICS_NAME
        try:
            with path.open("a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def sync_metrics(self, history: Sequence[dict[str, Any]]) -> None:
        """Make metrics.jsonl hold exactly `history` (the checkpoint's epochs).

        Lines past the checkpoint (a run killed between its metrics line and its
        checkpoint) are cut off in place, so a `tail -f` on the file keeps following it.
        """
        if not self.writer:
            return
        path = self.path / METRICS_NAME
        expected = metrics_text(history)
        try:
            current = path.read_text() if path.exists() else ""
            if current == expected:
                return
            if current.startswith(expected):
                os.truncate(path, len(expected.encode()))
            elif expected.startswith(current) and current:
                with path.open("a") as f:
                    f.write(expected[len(current) :])
            else:
                atomic_write(path, expected)
        except (OSError, UnicodeDecodeError) as exc:
            raise RunFolderError(f"cannot update {path}: {exc}") from exc
