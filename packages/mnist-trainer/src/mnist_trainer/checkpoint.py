"""Sealed files: checkpoints and saved models that carry a digest of their own content.

Why: torch's file format has no checksum of its own, so a few flipped bytes inside a
tensor load without complaint and silently change the weights. Before saving we compute
a SHA-256 over the whole content (every tensor's dtype, shape and bytes, every key and
value) and store it under `sha256`; loading recomputes it and refuses a file that does not
match. The files stay plain dicts that `torch.load(..., weights_only=True)` reads.

Checkpoints are written atomically; the one they replace is kept as `checkpoint.prev.pt`
(a hard link, so it costs no copy), the last good state to fall back on.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .runfolder import TEMP_SUFFIX, atomic_write

DIGEST_KEY = "sha256"
CHECKPOINT_FORMAT = "mnist-trainer-checkpoint/2"
CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"


def _feed(h: Any, obj: Any) -> None:
    """Hash `obj` with its type, so that e.g. 1, 1.0, "1" and True all differ."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(obj.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}|".encode())
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(obj, list | tuple):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}|".encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, str):
        data = obj.encode()
        h.update(f"S{len(data)}|".encode() + data)
    elif isinstance(obj, bytes):
        h.update(f"Y{len(obj)}|".encode() + obj)
    elif obj is None or isinstance(obj, bool | int):
        h.update(f"{type(obj).__name__}:{obj}|".encode())
    elif isinstance(obj, float):
        h.update(f"F{obj.hex()}|".encode())
    else:
        raise TypeError(f"cannot digest a {type(obj).__name__}")


def content_digest(blob: dict[str, Any]) -> str:
    """SHA-256 of everything in `blob` except its stored digest."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in blob.items() if k != DIGEST_KEY})
    return h.hexdigest()


def write_sealed(blob: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Save `blob` with its digest, atomically."""
    buffer = io.BytesIO()
    torch.save({**blob, DIGEST_KEY: content_digest(blob)}, buffer)
    atomic_write(path, buffer.getvalue())


def read_sealed(path: str | os.PathLike[str], what: str, hint: str = "") -> dict[str, Any]:
    """Load a sealed file and check its digest; `what` and `hint` go into the errors."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read
            raise CheckpointError(f"{path}: not a regular file; {hint or f'expected a {what}'}")
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file; {hint or f'expected a {what}'}") from None
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"{path}: cannot be read as a {what} ({str(exc).splitlines()[0]})"
            + (f"; {hint}" if hint else "")
        ) from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path}: not a {what} written by mnist-trainer")
    stored = blob.pop(DIGEST_KEY, None)
    if stored is None:
        raise CheckpointError(
            f"{path}: has no checksum, so it is not a {what} written by this mnist-trainer"
        )
    try:
        actual = content_digest(blob)
    except TypeError as exc:
        raise CheckpointError(f"{path}: not a {what} written by mnist-trainer ({exc})") from None
    if actual != stored:
        raise CheckpointError(
            f"{path}: content does not match its checksum (the file was damaged or changed "
            "after it was written)" + (f"; {hint}" if hint else "")
        )
    return blob


def is_intact(path: Path) -> bool:
    with contextlib.suppress(CheckpointError):
        read_sealed(path, "file")
        return True
    return False


# --- training checkpoints -------------------------------------------------------------------

# What `Run.restore` reads, with the type each entry must have.
_CHECKPOINT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "epoch": int,
    "seconds": (int, float),
    "config": dict,
    "model": dict,
    "optimizer": dict,
    "shuffle_rng": torch.Tensor,
    "rng": list,
    "history": list,
    "best_val_accuracy": (int, float),
    "best_model": dict,
}
_RNG_FIELDS = ("torch", "cuda", "augment")


def save_checkpoint(blob: dict[str, Any], path: Path) -> None:
    """Write a checkpoint; the one it replaces stays as `checkpoint.prev.pt`."""
    if path.exists():
        link = path.with_name(f".{PREVIOUS_NAME}.link{TEMP_SUFFIX}")
        with contextlib.suppress(OSError):  # no hard links here: keep no previous copy
            link.unlink(missing_ok=True)
            os.link(path, link)
            os.replace(link, path.with_name(PREVIOUS_NAME))
    write_sealed({"format": CHECKPOINT_FORMAT, **blob}, path)


def _last_good_state(path: Path) -> str:
    previous = path.with_name(PREVIOUS_NAME)
    if previous.exists() and is_intact(previous):
        return (
            f"the previous epoch's checkpoint {previous} is intact: `mv {previous} {path}`, "
            "then resume"
        )
    model = path.with_name("model.pt")
    if model.exists() and is_intact(model):
        return (
            f"no intact checkpoint is left; {model} (the best weights) is intact: "
            f"`mnist-train evaluate {model}` scores it"
        )
    return "no earlier good state is kept in this folder: start a new run"


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a training checkpoint (digest, format, every entry `restore` needs)."""
    path = Path(path)
    hint = "run without --resume to start fresh"
    if path.exists():
        hint = _last_good_state(path)
    blob = read_sealed(path, "training checkpoint", hint)
    if blob.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: format {blob.get('format')!r} is not {CHECKPOINT_FORMAT!r}; it was "
            "written by another version of mnist-trainer"
        )
    for key, kind in _CHECKPOINT_FIELDS.items():
        if key not in blob:
            raise CheckpointError(f"{path}: lacks {key!r}, so it is not a complete checkpoint")
        if not isinstance(blob[key], kind) or isinstance(blob[key], bool):
            raise CheckpointError(
                f"{path}: {key!r} is a {type(blob[key]).__name__}, not a complete checkpoint"
            )
    for worker_rng in blob["rng"]:
        if not isinstance(worker_rng, dict) or any(k not in worker_rng for k in _RNG_FIELDS):
            raise CheckpointError(f"{path}: its random-number states are incomplete")
    return blob
