"""The MLP, and saving/loading it so that anyone can evaluate it with nothing else.

The input normalisation lives inside the model (as buffers), so a saved model takes raw
images in [0, 1], shaped (N, 28, 28) or (N, 784), and returns (N, 10) logits.

The model that ships (`model.pt`) is Linear layers and activations only: in eval mode a
BatchNorm is a fixed affine map, so `fold_batch_norm` folds each one into the Linear before
it with PyTorch's own `fuse_linear_bn_eval`, and dropout (the identity in eval mode) goes.
Checkpoints keep the network as trained, BatchNorm and all, so that `--resume` continues it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_linear_bn_eval

from .checkpoint import CHECKPOINT_NAME, is_intact, read_sealed, write_sealed
from .config import check_hidden_sizes, check_memory, parameter_count
from .data import PIXEL_MEAN, PIXEL_STD
from .errors import CheckpointError, ConfigError

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


def model_record(model: MLP) -> dict[str, Any]:
    """The one saved-model format: architecture and a CPU copy of the weights."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"format": MODEL_FORMAT, "arch": dict(model.arch), "state_dict": state}


def fold_batch_norm(model: MLP) -> MLP:
    """The same function in eval mode as Linear + activation layers only (see the module)."""
    kept: list[nn.Module] = []
    for layer in (copy.deepcopy(m).eval() for m in model):  # `model` keeps its own mode
        if isinstance(layer, nn.BatchNorm1d):
            kept[-1] = fuse_linear_bn_eval(kept[-1], layer)
        elif not isinstance(layer, nn.Dropout):
            kept.append(layer)
    arch = model.arch
    folded = MLP(arch["hidden_sizes"], arch["activation"], dropout=0.0, batch_norm=False)
    folded.load_state_dict(nn.Sequential(*kept).state_dict())
    was_folded = bool(arch["batch_norm"] or arch.get("batch_norm_folded"))
    folded.arch = {**arch, "dropout": 0.0, "batch_norm": False, "batch_norm_folded": was_folded}
    return folded.to(next(model.parameters()).device).eval()


def _checked_arch(arch: Any, source: str) -> dict[str, Any]:
    """The record's architecture, its sizes bounded before anything is built from them."""
    if not isinstance(arch, dict) or not isinstance(arch.get("hidden_sizes"), list | tuple):
        raise CheckpointError(f"{source}: the saved model has no architecture record")
    sizes = arch["hidden_sizes"]
    if not all(isinstance(h, int) and not isinstance(h, bool) for h in sizes):
        raise CheckpointError(f"{source}: its layer widths {sizes!r} are not integers")
    try:
        check_hidden_sizes(sizes, f"{source}: its hidden layers")
        check_memory(f"{source} (hidden layers {list(sizes)})", 8 * parameter_count(sizes))
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    return arch


def model_from_record(record: Any, source: str) -> MLP:
    """Rebuild the model of `model_record`; `source` names the file in errors."""
    if not isinstance(record, dict) or record.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{source}: not a model saved by mnist-trainer ({MODEL_FORMAT})")
    arch = _checked_arch(record.get("arch"), source)
    try:
        model = MLP(arch["hidden_sizes"], arch["activation"], arch["dropout"], arch["batch_norm"])
        model.arch = dict(arch)
        model.load_state_dict(record["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{source}: the saved model does not fit together ({message})"
        ) from None
    return model.eval()


def save_model(model: MLP, path: str | os.PathLike[str]) -> None:
    """Write the architecture and weights, sealed with their digest (`weights_only` loadable).

    Give it the folded model (`fold_batch_norm`): that is the one `model.pt` holds."""
    write_sealed(model_record(model), path)


def load_model(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> MLP:
    """Load a saved model in eval mode: (N, 28, 28) or (N, 784) floats in [0, 1] -> logits.

    Accepts a run folder, its `model.pt` (BatchNorm folded in), or its `checkpoint.pt` (then
    the best weights so far, as trained). The file's checksum is verified first: a damaged
    file is refused, never loaded.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    checkpoint = path.with_name(CHECKPOINT_NAME)
    hint = (
        f"{checkpoint} holds the same best weights and loads too"
        if path.name == "model.pt" and checkpoint.exists() and is_intact(checkpoint)
        else "pass a run folder, its model.pt or its checkpoint.pt"
    )
    blob = read_sealed(path, "saved model", hint)
    if "best_model" in blob:  # a training checkpoint
        blob = blob["best_model"]
    return model_from_record(blob, str(path)).to(map_location)
