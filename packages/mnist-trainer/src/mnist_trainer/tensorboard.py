"""Optional TensorBoard log of the per-epoch metrics (`mnist-train --tensorboard`).

TensorBoard is an optional extra: the trainer never needs it, so it is imported only here,
and only when asked for.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .errors import ConfigError

MISSING = (
    "--tensorboard needs the tensorboard package: in the workspace run "
    "`uv run --package mnist-trainer --extra tensorboard mnist-train ...`; elsewhere install "
    "mnist-trainer with its `tensorboard` extra"
)


def check_available() -> None:
    """Raise ConfigError (one line, with the fix) when tensorboard is not installed."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(MISSING)


def open_writer(folder: Path) -> Any:
    """A SummaryWriter writing event files into `folder`."""
    check_available()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(folder))


def add_epoch(writer: Any, row: dict[str, Any]) -> None:
    """One epoch's train/validation loss and accuracy and the learning rate."""
    epoch = row["epoch"]
    for split in ("train", "val"):
        for metric in ("loss", "accuracy"):
            value = row.get(f"{split}_{metric}")
            if value is not None:
                writer.add_scalar(f"{metric}/{split}", value, epoch)
    writer.add_scalar("lr", row["lr"], epoch)
    writer.flush()
