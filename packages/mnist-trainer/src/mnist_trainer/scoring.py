"""Scoring a model on a labelled set: loss, accuracy, per-class accuracy, confusion matrix.

Shared by training (validation each epoch, the test set once at the end), by
`mnist-train evaluate` and by the notebook, so every number is computed one way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import CLASS_NAMES


@dataclass
class Evaluation:
    loss: float  # mean cross-entropy, no label smoothing
    accuracy: float
    predictions: torch.Tensor  # (N,) int64 on the CPU


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000
) -> Evaluation:
    """Score `model` in eval mode on images (N, 28, 28) in [0, 1] and int64 labels (N,)."""
    was_training = model.training
    model.eval()
    total_loss, predictions = 0.0, []
    for start in range(0, len(labels), batch_size):
        logits = model(images[start : start + batch_size])
        total_loss += F.cross_entropy(
            logits, labels[start : start + batch_size], reduction="sum"
        ).item()
        predictions.append(logits.argmax(1))
    model.train(was_training)
    predicted = torch.cat(predictions) if predictions else labels[:0]
    n = max(1, len(labels))
    correct = (predicted == labels).sum().item()
    return Evaluation(total_loss / n, correct / n, predicted.cpu())


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
