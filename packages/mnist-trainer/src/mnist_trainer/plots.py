"""The run's PNG plots: loss and accuracy per epoch (train and val), and the test confusion."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import CLASS_NAMES


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def _curve(path: Path, history: Sequence[dict[str, Any]], metric: str, ylabel: str) -> None:
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.plot(epochs, [row[f"train_{metric}"] for row in history], "o-", label="train")
    val = [
        (row["epoch"], row[f"val_{metric}"]) for row in history if row[f"val_{metric}"] is not None
    ]
    if val:
        ax.plot(*zip(*val, strict=True), "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(f"Fashion-MNIST MLP: {ylabel} per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor) -> np.ndarray:
    """counts[true, predicted] over the 10 classes."""
    flat = labels.to(torch.int64) * 10 + predictions.to(torch.int64)
    return torch.bincount(flat, minlength=100).reshape(10, 10).numpy()


def _confusion(path: Path, labels: torch.Tensor, predictions: torch.Tensor) -> None:
    plt = _pyplot()
    counts = confusion_matrix(labels, predictions)
    accuracy = np.trace(counts) / max(1, counts.sum())
    fig, ax = plt.subplots(figsize=(7.5, 6.5), dpi=120)
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
    fig.savefig(path)
    plt.close(fig)


def write_plots(
    folder: Path,
    history: Sequence[dict[str, Any]],
    test_labels: torch.Tensor,
    test_predictions: torch.Tensor,
) -> None:
    """Write loss.png, accuracy.png and confusion.png into `folder`."""
    _curve(folder / "loss.png", history, "loss", "loss")
    _curve(folder / "accuracy.png", history, "accuracy", "accuracy")
    _confusion(folder / "confusion.png", test_labels, test_predictions)
