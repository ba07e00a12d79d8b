"""The training loop: `fit()` trains, selects on validation, tests once, writes the run folder.

Run folder (written by rank 0 only):
  config.json, metrics.jsonl (one line per epoch), metrics.json (final), model.pt
  (best-validation weights), checkpoint.pt (atomic, every epoch), loss.png,
  accuracy.png, confusion.png.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import data as data_module
from . import distributed, progress
from .augment import augment
from .checkpoint import atomic_save, load_checkpoint
from .config import TrainConfig
from .errors import CheckpointError, ConfigError, ServiceUnavailableError
from .model import MLP, MODEL_FORMAT, save_model
from .schedule import learning_rate

# Options that change only how a run computes, not what: a resumed run may change them.
RUNTIME_OPTIONS = frozenset(
    {"device", "threads", "eval_batch_size", "matmul_service", "service_timeout", "service_retries"}
)
CHECKPOINT_FORMAT = "mnist-trainer-checkpoint/1"


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


@dataclass
class Evaluation:
    loss: float
    accuracy: float
    predictions: torch.Tensor


def resolve_device(name: str, remote: bool) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is usable here; use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() and not remote else "cpu"
    return torch.device(name)


def cpu_threads(requested: int, workers: distributed.Workers) -> int:
    """Threads per process: as asked, or the usable cores shared among local workers."""
    if requested:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers.local_world_size)


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


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, batch_size: int) -> Evaluation:
    """Mean cross-entropy (no smoothing) and accuracy over a whole split, in eval mode."""
    was_training = model.training
    model.eval()
    total_loss, predictions = 0.0, []
    for start in range(0, len(split), batch_size):
        logits = model(split.images[start : start + batch_size])
        labels = split.labels[start : start + batch_size]
        total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
        predictions.append(logits.argmax(1))
    model.train(was_training)
    predicted = torch.cat(predictions) if predictions else split.labels[:0]
    n = max(1, len(split))
    correct = (predicted == split.labels).sum().item()
    return Evaluation(total_loss / n, correct / n, predicted.cpu())


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
        self.best_state = self._model_state()
        self.network: nn.Module = self.model
        if workers.distributed:
            self.network = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )

    def _model_state(self) -> dict[str, Any]:
        state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        return {"format": MODEL_FORMAT, "arch": self.model.arch, "state_dict": state}

    def train_one_epoch(self) -> tuple[float, float]:
        config, workers = self.config, self.workers
        self.network.train()
        order = torch.randperm(len(self.train_split), generator=self.shuffle_generator)
        order = order[workers.rank :: workers.world_size].to(self.device)
        loss_sum, correct, seen = 0.0, 0, 0
        bar = progress.bar(
            range(self.steps_per_epoch),
            enabled=self.progress and workers.is_main,
            desc=f"epoch {self.epoch + 1}/{config.epochs}",
            leave=False,
        )
        for i in bar:
            step = self.epoch * self.steps_per_epoch + i
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(
                    step, self.total_steps, config.lr, config.schedule, config.warmup_fraction
                )
            index = order[i * self.local_batch : (i + 1) * self.local_batch]
            images = augment(
                self.train_split.images[index],
                config.shift_pixels,
                config.flip,
                self.augment_generator,
            )
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
                bar.set_postfix(loss=f"{loss.item():.4f}")
        bar.close()
        if not math.isfinite(loss_sum):
            raise ConfigError("training diverged (loss is not finite): lower --lr")
        loss_sum, correct, seen = distributed.sum_across(
            [loss_sum, float(correct), float(seen)], workers, self.device
        )
        return loss_sum / seen, correct / seen

    def run_epoch(self) -> dict[str, Any]:
        started = time.perf_counter()
        train_loss, train_accuracy = self.train_one_epoch()
        lr = self.optimizer.param_groups[0]["lr"]
        row: dict[str, Any] = {
            "epoch": self.epoch + 1,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "val_loss": None,
            "val_accuracy": None,
            "lr": lr,
        }
        if len(self.val):
            evaluation = evaluate(self.model, self.val, self.config.eval_batch_size)
            row["val_loss"], row["val_accuracy"] = evaluation.loss, evaluation.accuracy
        # Without a validation set the latest weights are the ones kept.
        score = row["val_accuracy"] if row["val_accuracy"] is not None else float(self.epoch)
        if score > self.best_val_accuracy:
            self.best_val_accuracy = score
            self.best_state = self._model_state()
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
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "seconds": self.seconds,
            "config": self.config.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "shuffle_rng": self.shuffle_generator.get_state(),
            "rng": rng,
            "history": self.history,
            "best_val_accuracy": self.best_val_accuracy,
            "best_model": self.best_state,
        }

    def restore(self, blob: dict[str, Any]) -> None:
        saved = TrainConfig.from_dict(blob["config"])
        differing = [
            name
            for name, value in self.config.to_dict().items()
            if name not in RUNTIME_OPTIONS and saved.to_dict()[name] != value
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
        self.model.load_state_dict(blob["model"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.shuffle_generator.set_state(blob["shuffle_rng"])
        mine = blob["rng"][self.workers.rank]
        torch.set_rng_state(mine["torch"])
        if self.device.type == "cuda" and mine["cuda"]:
            torch.cuda.set_rng_state_all(mine["cuda"])
        self.augment_generator.set_state(mine["augment"])
        self.epoch, self.seconds = blob["epoch"], blob["seconds"]
        self.history = list(blob["history"])
        self.best_val_accuracy = blob["best_val_accuracy"]
        self.best_state = blob["best_model"]


class RunFolder:
    """The files of one run; writes are no-ops on workers other than rank 0."""

    def __init__(self, path: Path, writer: bool) -> None:
        self.path, self.writer = path, writer

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> None:
        if self.writer:
            tmp = self.path / f".{name}.tmp"
            tmp.write_text(json.dumps(obj, indent=2) + "\n")
            os.replace(tmp, self.path / name)

    def write_history(self, history: list[dict[str, Any]]) -> None:
        if self.writer:
            tmp = self.path / ".metrics.jsonl.tmp"
            tmp.write_text("".join(json.dumps(row) + "\n" for row in history))
            os.replace(tmp, self.path / "metrics.jsonl")


def summary_line(row: dict[str, Any], epochs: int) -> str:
    val = (
        f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.4f}"
        if row["val_accuracy"] is not None
        else "no val"
    )
    return (
        f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} "
        f"acc {row['train_accuracy']:.4f}  {val}  lr {row['lr']:.2e}  {row['seconds']:.1f}s"
    )


def fit(
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    dataset: data_module.FashionMNIST | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    progress: bool = True,
    plots: bool = True,
    log: Callable[[str], None] = print,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train per `config`, write the run folder `out_dir`, return the final metrics."""
    config.validate()
    workers = distributed.from_environment()
    device = resolve_device(config.device, remote=config.matmul_service is not None)
    if device.type == "cuda" and workers.distributed:
        device = torch.device("cuda", workers.local_rank)  # one GPU per local worker
        torch.cuda.set_device(device)
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(config.threads, workers))
    folder = RunFolder(Path(out_dir), writer=workers.is_main)
    checkpoint_path = folder / "checkpoint.pt"
    if not resume and checkpoint_path.exists():
        raise ConfigError(
            f"{out_dir} already holds a run: pass --resume to continue it, or pick a new --out"
        )
    if workers.is_main:
        folder.path.mkdir(parents=True, exist_ok=True)
        for stale in folder.path.glob(".*.tmp"):  # half-written files of a killed run
            stale.unlink()

    if dataset is None:
        dataset = data_module.load(data_dir, allow_download, progress and workers.is_main)
    train_x, train_y, val_x, val_y = data_module.split_train_val(
        dataset.train_images, dataset.train_labels, config.val_size
    )
    if config.train_subset:
        train_x, train_y = train_x[: config.train_subset], train_y[: config.train_subset]
    train = Split.from_arrays(train_x, train_y, device)
    val = Split.from_arrays(val_x, val_y, device)
    test = Split.from_arrays(dataset.test_images, dataset.test_labels, device)

    distributed.start(workers, device)
    service = None
    try:
        trainer = Trainer(config, train, val, device, workers, progress)
        if config.matmul_service is not None:
            from .remote import attach_service

            service = attach_service(trainer.model, config)
        if resume:
            trainer.restore(load_checkpoint(checkpoint_path))
            if workers.is_main:
                log(f"resumed {out_dir} after epoch {trainer.epoch}")
        folder.write_json("config.json", config.to_dict())
        if workers.is_main:
            where = f"{device}" + (f" + matmul service {service.describe()}" if service else "")
            log(
                f"training {len(train)} images, validating on {len(val)}, testing on "
                f"{len(test)}; data from {dataset.source}; {where}; "
                f"{workers.world_size} process(es), {torch.get_num_threads()} thread(s) each"
            )
        while trainer.epoch < config.epochs:
            try:
                row = trainer.run_epoch()
            except ServiceUnavailableError as exc:
                kept = (
                    f"last good checkpoint {checkpoint_path} (epoch {trainer.epoch}); "
                    "resume with --resume"
                    if checkpoint_path.exists()
                    else "no checkpoint yet"
                )
                raise ServiceUnavailableError(f"{exc}; {kept}") from exc
            blob = trainer.checkpoint()
            if workers.is_main:
                atomic_save(blob, checkpoint_path)
                folder.write_history(trainer.history)
                log(summary_line(row, config.epochs))
            distributed.barrier(workers)
            if on_epoch_end is not None:
                on_epoch_end(row)

        trainer.model.load_state_dict(trainer.best_state["state_dict"])
        started = time.perf_counter()
        result = evaluate(trainer.model, test, config.eval_batch_size)
        seconds = trainer.seconds + time.perf_counter() - started
        val_accuracies = [
            r["val_accuracy"] for r in trainer.history if r["val_accuracy"] is not None
        ]
        metrics = {
            "test_accuracy": result.accuracy,
            "test_loss": result.loss,
            "best_val_accuracy": max(val_accuracies) if val_accuracies else None,
            "epochs": trainer.epoch,
            "seconds": seconds,
            "config": config.to_dict(),
        }
        if workers.is_main:
            save_model(trainer.model, folder / "model.pt")
            folder.write_json("metrics.json", metrics)
            if plots:
                from .plots import write_plots

                write_plots(folder.path, trainer.history, test.labels.cpu(), result.predictions)
            log(
                f"test accuracy {result.accuracy:.4f}  test loss {result.loss:.4f}  "
                f"({seconds:.1f}s in all); run folder {out_dir}"
            )
        return metrics
    finally:
        if service is not None:
            service.close()
        distributed.stop()
