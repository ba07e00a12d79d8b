"""Atomic writes: a reader (or a resumed run) only ever sees a complete file.

We write to a temporary file in the same folder, flush it to disk, then `os.replace` it
over the old one. A kill at any moment leaves either the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """`torch.save` to `path` via a temp file and rename."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint written by `atomic_save`."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(
            f"{path}: no checkpoint to resume from; run without --resume to start fresh"
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc
    if not isinstance(blob, dict) or "epoch" not in blob:
        raise CheckpointError(f"{path}: not a checkpoint written by mnist-trainer")
    return blob
