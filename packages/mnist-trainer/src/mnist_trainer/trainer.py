"""`Trainer`: one run's model, optimizer, random streams and history, an epoch at a time.

Everything a run needs to continue exactly where it stopped is in `checkpoint()`, and
`restore()` puts it back: the learning rate is a pure function of the step, the data
order and the augmentation come from explicit generators, so an interrupted-then-resumed
CPU run computes the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import distributed
from .augment import augment
from .config import RUNTIME_OPTIONS, TrainConfig
from .errors import CheckpointError, ConfigError
from .model import MLP, model_record
from .schedule import learning_rate
from .scoring import evaluate


@dataclass
class Split:
    """Images as float tensors in [0, 1] shaped (N, 28, 28), labels as int64 tensors."""

    images: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray, device: torch.device) -> Split:
        tensor = torch.from_numpy(np.ascontiguousarray(images)).to(device)
        return cls(tensor.float().div_(255.0), torch.from_numpy(labels.astype(np.int64)).to(device))

    def __len__(self) -> int:
        return len(self.labels)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD; weight decay on weight matrices only, not on biases or norm scales."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)


class Trainer:
    """One run: owns the model, optimizer, random streams and history, epoch by epoch."""

    def __init__(
        self,
        config: TrainConfig,
        train: Split,
        val: Split,
        device: torch.device,
        workers: distributed.Workers,
        progress: bool,
    ) -> None:
        self.config, self.train_split, self.val, self.device = config, train, val, device
        self.workers, self.progress = workers, progress
        if config.batch_size % workers.world_size:
            raise ConfigError(
                f"--batch-size {config.batch_size} must divide evenly among "
                f"{workers.world_size} processes"
            )
        self.local_batch = config.batch_size // workers.world_size
        self.steps_per_epoch = (len(train) // workers.world_size) // self.local_batch
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"{len(train)} training images are fewer than one batch of "
                f"{config.batch_size}: lower --batch-size or raise --train-subset"
            )
        self.total_steps = self.steps_per_epoch * config.epochs
        torch.manual_seed(config.seed)  # identical initial weights on every worker
        self.model = MLP(
            config.hidden_sizes, config.activation, config.dropout, config.batch_norm
        ).to(device)
        self.optimizer = build_optimizer(self.model, config)
        self.shuffle_generator = torch.Generator().manual_seed(config.seed)
        self.augment_generator = torch.Generator().manual_seed(
            config.seed * 1000 + workers.rank + 1
        )
        torch.manual_seed(config.seed * 1000 + workers.rank)  # dropout differs per worker
        self.epoch = 0
        self.seconds = 0.0
        self.history: list[dict[str, Any]] = []
        self.best_val_accuracy = -1.0
        self.best_state = model_record(self.model)
        self.network: nn.Module = self.model
        if workers.distributed:
            self.network = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )

    def _set_learning_rate(self, step: int) -> None:
        config = self.config
        rate = learning_rate(
            step, self.total_steps, config.lr, config.schedule, config.warmup_fraction
        )
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def train_one_epoch(self) -> tuple[float, float]:
        """One pass over this worker's shard; returns the mean loss and accuracy (all workers)."""
        config, workers = self.config, self.workers
        self.network.train()
        order = torch.randperm(len(self.train_split), generator=self.shuffle_generator)
        order = order[workers.rank :: workers.world_size].to(self.device)
        loss_sum, correct, seen = 0.0, 0, 0
        steps = tqdm(
            range(self.steps_per_epoch),
            disable=not (self.progress and workers.is_main),
            desc=f"epoch {self.epoch + 1}/{config.epochs}",
            leave=False,
        )
        for i in steps:
            self._set_learning_rate(self.epoch * self.steps_per_epoch + i)
            index = order[i * self.local_batch : (i + 1) * self.local_batch]
            images = augment(
                self.train_split.images[index], config.shift_pixels, config.flip,
                self.augment_generator,
            )  # fmt: skip
            labels = self.train_split.labels[index]
            logits = self.network(images)
            loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
            if i % 20 == 0:
                steps.set_postfix(loss=f"{loss.item():.4f}")
        steps.close()
        if not math.isfinite(loss_sum):
            raise ConfigError("training diverged (loss is not finite): lower --lr")
        loss_sum, correct, seen = distributed.sum_across(
            [loss_sum, float(correct), float(seen)], workers, self.device
        )
        return loss_sum / seen, correct / seen

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch, score it on validation, keep the best weights; returns its row."""
        started = time.perf_counter()
        train_loss, train_accuracy = self.train_one_epoch()
        row: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": None,
            "val_accuracy": None,
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        if len(self.val):
            result = evaluate(self.model, self.val.images, self.val.labels,
                              self.config.eval_batch_size)  # fmt: skip
            row["val_loss"], row["val_accuracy"] = result.loss, result.accuracy
        # Without a validation set the latest weights are the ones kept.
        score = row["val_accuracy"] if row["val_accuracy"] is not None else float(self.epoch)
        if score > self.best_val_accuracy:
            self.best_val_accuracy = score
            self.best_state = model_record(self.model)
        row["seconds"] = time.perf_counter() - started
        self.seconds += row["seconds"]
        self.epoch += 1
        self.history.append(row)
        return row

    # --- checkpoints -------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this epoch ended (all workers' RNGs)."""
        rng = distributed.gather_objects(
            {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                "augment": self.augment_generator.get_state(),
            },
            self.workers,
        )
        return {
            "epoch": self.epoch,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "model": model_record(self.model)["state_dict"],
            "optimizer": self.optimizer.state_dict(),
            "shuffle_rng": self.shuffle_generator.get_state(),
            "rng": rng,
            "history": self.history,
            "best_val_accuracy": self.best_val_accuracy,
            "best_model": self.best_state,
        }

    def restore(self, blob: dict[str, Any], source: str = "checkpoint") -> None:
        """Continue from `checkpoint()`'s blob; refuse one made with another recipe."""
        saved = TrainConfig.from_dict(blob["config"], source).to_dict()
        differing = [
            name
            for name, value in self.config.to_dict().items()
            if name not in RUNTIME_OPTIONS and saved[name] != value
        ]
        if differing:
            raise CheckpointError(
                f"the checkpoint was made with different {', '.join(differing)}; resume with "
                "the run's own config.json (drop those flags) or start a new --out folder"
            )
        if len(blob["rng"]) != self.workers.world_size:
            raise CheckpointError(
                f"the checkpoint was made by {len(blob['rng'])} processes, not "
                f"{self.workers.world_size}: resume with the same number of processes"
            )
        try:
            self.model.load_state_dict(blob["model"])
            self.optimizer.load_state_dict(blob["optimizer"])
            self.shuffle_generator.set_state(blob["shuffle_rng"])
            mine = blob["rng"][self.workers.rank]
            torch.set_rng_state(mine["torch"])
            if self.device.type == "cuda" and mine["cuda"]:
                torch.cuda.set_rng_state_all(mine["cuda"])
            self.augment_generator.set_state(mine["augment"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{source}: does not fit this run ({str(exc).splitlines()[0]})"
            ) from None
        self.epoch, self.seconds = blob["epoch"], blob["seconds"]
        self.history = list(blob["history"])
        self.best_val_accuracy = blob["best_val_accuracy"]
        self.best_state = blob["best_model"]
