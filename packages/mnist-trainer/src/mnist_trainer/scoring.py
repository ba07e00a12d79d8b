"""Reporting a model's score: per-class accuracy, the confusion matrix, the text report.

The score itself (loss, accuracy, predictions) comes from `train.evaluate`, the one path
for validation, the test set and `mnist-train evaluate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .data import CLASS_NAMES

if TYPE_CHECKING:
    from .train import Evaluation


def confusion_matrix(labels: torch.Tensor, predictions: torch.Tensor) -> np.ndarray:
    """counts[true, predicted] over the 10 classes."""
    flat = labels.cpu().to(torch.int64) * 10 + predictions.cpu().to(torch.int64)
    return torch.bincount(flat, minlength=100).reshape(10, 10).numpy()


def per_class_accuracy(counts: np.ndarray) -> np.ndarray:
    """Share of each true class predicted correctly (the diagonal over the row sums)."""
    return np.diag(counts) / np.maximum(1, counts.sum(axis=1))


SHORT_NAMES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Boot")  # fmt: skip


def format_report(evaluation: Evaluation, labels: torch.Tensor) -> str:
    """Accuracy, per-class accuracy and the confusion matrix as plain text."""
    counts = confusion_matrix(labels, evaluation.predictions)
    correct, total = int(np.trace(counts)), int(counts.sum())
    lines = [
        f"test accuracy {evaluation.accuracy:.4f} ({correct}/{total})  loss {evaluation.loss:.4f}",
        "",
        "per-class accuracy:",
    ]
    for name, accuracy in zip(CLASS_NAMES, per_class_accuracy(counts), strict=True):
        lines.append(f"  {name:<12} {accuracy:.3f}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted class):"]
    lines.append(" " * 13 + "".join(f"{name:>9}" for name in SHORT_NAMES))
    for name, row in zip(CLASS_NAMES, counts, strict=True):
        lines.append(f"  {name:<11}" + "".join(f"{int(c):>9}" for c in row))
    return "\n".join(lines)
