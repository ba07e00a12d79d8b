"""The MLP, and saving/loading it so that anyone can evaluate it with nothing else.

The input normalisation lives inside the model (as buffers), so a saved model takes raw
images in [0, 1], shaped (N, 28, 28) or (N, 784), and returns (N, 10) logits.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .data import PIXEL_MEAN, PIXEL_STD
from .errors import CheckpointError

MODEL_FORMAT = "mnist-trainer-model/1"
_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


class Normalize(nn.Module):
    """Flatten images and standardise pixels with the training-set mean and std."""

    def __init__(self, mean: float = PIXEL_MEAN, std: float = PIXEL_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3 and x.shape[1:] == (28, 28):
            x = x.reshape(x.shape[0], 784)
        if x.dim() != 2 or x.shape[1] != 784:
            raise ValueError(
                f"expected images shaped (N, 28, 28) or (N, 784), got {tuple(x.shape)}"
            )
        return (x.float() - self.mean) / self.std


class MLP(nn.Sequential):
    """Normalize, then [Linear, BatchNorm, activation, Dropout] per hidden layer, then Linear."""

    def __init__(
        self,
        hidden_sizes: Sequence[int] = (1024, 1024),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = True,
    ) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
        layers: list[nn.Module] = [Normalize()]
        width = 784
        for size in hidden_sizes:
            # A Linear followed by BatchNorm needs no bias: BatchNorm's shift replaces it.
            layers.append(nn.Linear(width, size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, 10))
        super().__init__(*layers)
        self.arch: dict[str, Any] = {
            "hidden_sizes": [int(h) for h in hidden_sizes],
            "activation": activation,
            "dropout": float(dropout),
            "batch_norm": bool(batch_norm),
        }


def save_model(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write the architecture and weights (a plain dict, loadable with weights_only)."""
    from .checkpoint import atomic_save

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save({"format": MODEL_FORMAT, "arch": model.arch, "state_dict": state}, path)


def load_model(path: str | os.PathLike[str], map_location: str = "cpu") -> MLP:
    """Load a saved model in eval mode: (N, 28, 28) or (N, 784) floats in [0, 1] -> logits.

    Accepts a run's `model.pt`, or its `checkpoint.pt` (then the best weights so far).
    """
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: no such file; pass a run folder's model.pt") from exc
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read as a saved model ({exc})") from exc
    if isinstance(blob, dict) and "best_model" in blob:  # a training checkpoint
        blob = blob["best_model"]
    if not isinstance(blob, dict) or blob.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path}: not a model saved by mnist-trainer ({MODEL_FORMAT})")
    model = MLP(**blob["arch"])
    model.load_state_dict(blob["state_dict"])
    return model.eval()
