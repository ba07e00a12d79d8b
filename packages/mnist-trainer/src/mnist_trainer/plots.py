"""The run's PNG plots: loss and accuracy per epoch (train and val), and the test confusion.

Figures are rendered to memory and written with `atomic_write`, like every file of a run.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TrainConfig
from .data import CLASS_NAMES
from .runfolder import atomic_write
from .scoring import confusion_matrix


def _figure(figsize: tuple[float, float], dpi: int) -> Any:
    # A bare Figure, not pyplot: no display needed, and the caller's pyplot backend (in a
    # notebook, say) is left as it was.
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def smoothing_floor(label_smoothing: float, classes: int = 10) -> float:
    """The lowest training loss label smoothing allows: the entropy of the smoothed target."""
    if label_smoothing <= 0:
        return 0.0
    true, other = 1 - label_smoothing + label_smoothing / classes, label_smoothing / classes
    return -(true * math.log(true) + (classes - 1) * other * math.log(other))


def loss_note(config: TrainConfig) -> str:
    """Why train loss sits above validation loss, in this run's numbers."""
    regularisers = [f"dropout {config.dropout:g}"] if config.dropout else []
    if config.flip or config.shift_pixels:
        regularisers.append("augmented images")
    under = f", under {' and '.join(regularisers)}" if regularisers else ""
    if config.label_smoothing > 0:
        floor = smoothing_floor(config.label_smoothing)
        return (
            f"Train loss is the training objective: label smoothing {config.label_smoothing:g} "
            f"(it cannot go below {floor:.2f}){under}.\nValidation loss is plain "
            "cross-entropy in eval mode, so the two are not comparable level for level."
        )
    return f"Train loss is measured during training{under}; validation loss in eval mode."


def curve_png(
    history: Sequence[dict[str, Any]],
    metric: str,
    note: str | None = None,
    floor: float | None = None,
    dpi: int = 120,
) -> bytes:
    """Train and validation `metric` ("loss" or "accuracy") per epoch, as PNG bytes."""
    epochs = [row["epoch"] for row in history]
    fig = _figure((6, 4.4 if note else 4), dpi)
    ax = fig.subplots()
    ax.plot(epochs, [row[f"train_{metric}"] for row in history], "o-", ms=3, label="train")
    val = [(r["epoch"], r[f"val_{metric}"]) for r in history if r[f"val_{metric}"] is not None]
    if val:
        ax.plot(*zip(*val, strict=True), "s-", ms=3, label="validation")
    if floor:
        ax.axhline(floor, ls=":", color="gray", label=f"lowest possible train loss ({floor:.2f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"Fashion-MNIST MLP: {metric} per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, va="bottom", ha="left", wrap=True)
        fig.tight_layout(rect=(0, 0.09, 1, 1))
    else:
        fig.tight_layout()
    return _png(fig)


def confusion_png(labels: torch.Tensor, predictions: torch.Tensor, dpi: int = 120) -> bytes:
    """The test-set confusion matrix with class names and counts, as PNG bytes."""
    counts = confusion_matrix(labels, predictions)
    accuracy = np.trace(counts) / max(1, counts.sum())
    fig = _figure((7.5, 6.5), dpi)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(10), CLASS_NAMES, rotation=45, ha="right")
    ax.set_yticks(range(10), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Test set confusion (accuracy {accuracy:.4f})")
    threshold = counts.max() / 2
    for i in range(10):
        for j in range(10):
            color = "white" if counts[i, j] > threshold else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=color)
    fig.tight_layout()
    return _png(fig)


def write_plots(
    folder: Path,
    history: Sequence[dict[str, Any]],
    test_labels: torch.Tensor,
    test_predictions: torch.Tensor,
    config: TrainConfig | None = None,
) -> None:
    """Write loss.png (annotated when `config` is given), accuracy.png and confusion.png."""
    note = loss_note(config) if config is not None else None
    floor = smoothing_floor(config.label_smoothing) if config is not None else None
    atomic_write(folder / "loss.png", curve_png(history, "loss", note, floor))
    atomic_write(folder / "accuracy.png", curve_png(history, "accuracy"))
    atomic_write(folder / "confusion.png", confusion_png(test_labels, test_predictions))
