"""Training, in the shape of PyTorch's examples/mnist: `train_one_epoch`, `evaluate`, `fit`.

`fit` sets up a run (`open_run`), then for each epoch: `train_one_epoch`, `evaluate` on
the validation images, keep the best weights, checkpoint; at the end it scores the best
weights on the test set once and writes the report.

Everything a run needs to continue exactly where it stopped is in `Run.checkpoint()`, and
`Run.restore()` puts it back: the learning rate is a pure function of the step, the data
order and the augmentation come from explicit generators, so an interrupted-then-resumed
CPU run computes the same numbers as an uninterrupted one.

Run folder (written by rank 0 only; see `runfolder` for how):
  config.json, metrics.jsonl (one line per epoch, appended), metrics.json (final),
  model.pt (best-validation weights, BatchNorm folded in), checkpoint.pt and
  checkpoint.prev.pt (every epoch), loss.png, accuracy.png, confusion.png, and
  tensorboard/ when asked for.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import data as data_module
from . import distributed
from .augment import augment
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .config import RUNTIME_OPTIONS, TrainConfig, cpu_cores
from .errors import CheckpointError, ConfigError, ServiceUnavailableError
from .model import MLP, fold_batch_norm, model_from_record, model_record, save_model
from .runfolder import METRICS_NAME, RunFolder
from .schedule import learning_rate

Log = Callable[[str], None]


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


# --- the loop ----------------------------------------------------------------------------------


def train_one_epoch(run: Run) -> tuple[float, float]:
    """One pass over this worker's shard; returns the mean loss and accuracy (all workers)."""
    config, workers = run.config, run.workers
    run.network.train()
    order = torch.randperm(len(run.train), generator=run.shuffle_generator)
    order = order[workers.rank :: workers.world_size].to(run.device)
    loss_sum, correct, seen = 0.0, 0, 0
    steps = tqdm(
        range(run.steps_per_epoch),
        disable=not (run.progress and workers.is_main),
        desc=f"epoch {run.epoch + 1}/{config.epochs}",
        leave=False,
    )
    for i in steps:
        rate = learning_rate(run.epoch * run.steps_per_epoch + i, run.total_steps, config.lr,
                             config.schedule, config.warmup_fraction)  # fmt: skip
        for group in run.optimizer.param_groups:
            group["lr"] = rate
        index = order[i * run.local_batch : (i + 1) * run.local_batch]
        images = augment(run.train.images[index], config.shift_pixels, config.flip,
                         run.augment_generator)  # fmt: skip
        labels = run.train.labels[index]
        logits = run.network(images)
        loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        loss_sum += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        if i % 20 == 0:
            steps.set_postfix(loss=f"{loss.item():.4f}")
    steps.close()
    if not math.isfinite(loss_sum):
        raise ConfigError("training diverged (loss is not finite): lower --lr")
    loss_sum, correct, seen = distributed.sum_across(
        [loss_sum, float(correct), float(seen)], workers, run.device
    )
    return loss_sum / seen, correct / seen


@dataclass
class Evaluation:
    loss: float  # mean cross-entropy, no label smoothing
    accuracy: float
    predictions: torch.Tensor  # (N,) int64 on the CPU


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000
) -> Evaluation:
    """Score `model` in eval mode on images (N, 28, 28) in [0, 1] and int64 labels (N,).

    The one scoring path: validation each epoch, the test set at the end, `mnist-train
    evaluate`."""
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
    tensorboard: bool = False,
    log: Log = print,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train per `config`, write the run folder `out_dir`, return the final metrics."""
    config.validate()

    def load_data() -> data_module.FashionMNIST:
        if dataset is not None:
            return dataset
        show = progress and distributed.from_environment().is_main
        return data_module.load(data_dir, allow_download, show)

    with open_run(config, Path(out_dir), resume, load_data, progress, tensorboard, log) as run:
        while run.epoch < config.epochs:
            started = time.perf_counter()
            try:
                train_loss, train_accuracy = train_one_epoch(run)
            except ServiceUnavailableError as exc:
                raise ServiceUnavailableError(f"{exc}; {run.last_good_state()}") from exc
            row: dict[str, Any] = {
                "epoch": run.epoch + 1,
                "train_loss": train_loss,
                "train_accuracy": train_accuracy,
                "val_loss": None,
                "val_accuracy": None,
                "lr": run.optimizer.param_groups[0]["lr"],
            }
            if len(run.val):
                result = evaluate(run.model, run.val.images, run.val.labels,
                                  config.eval_batch_size)  # fmt: skip
                row["val_loss"], row["val_accuracy"] = result.loss, result.accuracy
            # Without a validation set the latest weights are the ones kept.
            score = row["val_accuracy"] if row["val_accuracy"] is not None else float(run.epoch)
            if score > run.best_val_accuracy:
                run.best_val_accuracy, run.best_state = score, model_record(run.model)
            row["seconds"] = time.perf_counter() - started
            run.seconds += row["seconds"]
            run.epoch += 1
            run.history.append(row)
            end_epoch(run, row, log)
            if on_epoch_end is not None:
                on_epoch_end(row)
        return write_report(run, log, plots)


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


def end_epoch(run: Run, row: dict[str, Any], log: Log) -> None:
    """Checkpoint, then append the epoch's metrics line (rank 0), and log its summary."""
    blob = run.checkpoint()
    if run.workers.is_main:
        save_checkpoint(blob, run.folder / CHECKPOINT_NAME)
        run.folder.append_metrics(row)
        if run.tensorboard is not None:
            from .tensorboard import add_epoch

            add_epoch(run.tensorboard, row)
        log(summary_line(row, run.config.epochs))
    distributed.barrier(run.workers)


# --- the run's state: model, optimizer, random streams, history --------------------------------


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


@dataclass
class Run:
    """One run: its data, the folder it owns, the model, optimizer, random streams, history."""

    config: TrainConfig
    workers: distributed.Workers
    folder: RunFolder
    device: torch.device
    train: Split
    val: Split
    test: Split
    progress: bool
    model: MLP = field(init=False)
    network: nn.Module = field(init=False)  # the model, wrapped by DDP for several workers
    optimizer: torch.optim.Optimizer = field(init=False)
    tensorboard: Any = None  # a SummaryWriter when --tensorboard was given
    epoch: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_accuracy: float = -1.0
    best_state: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        config, workers = self.config, self.workers
        if config.batch_size % workers.world_size:
            raise ConfigError(
                f"--batch-size {config.batch_size} must divide evenly among "
                f"{workers.world_size} processes"
            )
        self.local_batch = config.batch_size // workers.world_size
        self.steps_per_epoch = (len(self.train) // workers.world_size) // self.local_batch
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"{len(self.train)} training images are fewer than one batch of "
                f"{config.batch_size}: lower --batch-size or raise --train-subset"
            )
        self.total_steps = self.steps_per_epoch * config.epochs
        torch.manual_seed(config.seed)  # identical initial weights on every worker
        self.model = MLP(
            config.hidden_sizes, config.activation, config.dropout, config.batch_norm
        ).to(self.device)
        self.optimizer = build_optimizer(self.model, config)
        self.shuffle_generator = torch.Generator().manual_seed(config.seed)
        self.augment_generator = torch.Generator().manual_seed(
            config.seed * 1000 + workers.rank + 1
        )
        torch.manual_seed(config.seed * 1000 + workers.rank)  # dropout differs per worker
        self.best_state = model_record(self.model)
        self.network = self.model
        if workers.distributed:
            self.network = nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )

    def last_good_state(self) -> str:
        """Where a run stopped by a failure can continue from."""
        checkpoint = self.folder / CHECKPOINT_NAME
        if not checkpoint.exists():
            return "no checkpoint yet"
        return (
            f"last good checkpoint {checkpoint} (epoch {self.epoch}); resume with --resume, "
            "through a service or locally with --no-matmul-service"
        )

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


# --- set-up ------------------------------------------------------------------------------------


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
    return max(1, cpu_cores() // workers.local_world_size)


def configure_device(config: TrainConfig, workers: distributed.Workers) -> torch.device:
    """The device this worker trains on (one GPU per local worker), and its CPU threads."""
    device = resolve_device(config.device, remote=config.matmul_service is not None)
    if device.type == "cuda" and workers.distributed:
        device = torch.device("cuda", workers.local_rank)
        torch.cuda.set_device(device)
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(config.threads, workers))
    return device


def load_splits(
    config: TrainConfig, dataset: data_module.FashionMNIST, device: torch.device
) -> tuple[Split, Split, Split]:
    """Train (minus the validation images, optionally a subset), validation and test."""
    train_x, train_y, val_x, val_y = data_module.split_train_val(
        dataset.train_images, dataset.train_labels, config.val_size
    )
    if config.train_subset:
        train_x, train_y = train_x[: config.train_subset], train_y[: config.train_subset]
    return (
        Split.from_arrays(train_x, train_y, device),
        Split.from_arrays(val_x, val_y, device),
        Split.from_arrays(dataset.test_images, dataset.test_labels, device),
    )


@contextmanager
def open_run(
    config: TrainConfig,
    out: Path,
    resume: bool,
    load_data: Callable[[], data_module.FashionMNIST],
    progress: bool,
    tensorboard: bool,
    log: Log,
) -> Iterator[Run]:
    """Own the run folder, load the data, build (or restore) the run; clean up after."""
    workers = distributed.from_environment()
    device = configure_device(config, workers)
    folder = RunFolder(out, writer=workers.is_main)
    checkpoint = folder / CHECKPOINT_NAME
    with folder.locked():
        found = folder.run_files()
        if not resume and found:
            how = (
                "pass --resume to continue it, or pick a new --out"
                if CHECKPOINT_NAME in found
                else "pick a new --out (it has no checkpoint.pt to --resume from)"
            )
            raise ConfigError(f"{out} already holds a run's files ({', '.join(found)}): {how}")
        folder.remove_stale_temp_files()
        dataset = load_data()
        train, val, test = load_splits(config, dataset, device)
        distributed.start(workers, device)
        service, run, finished = None, None, False
        try:
            run = Run(config, workers, folder, device, train, val, test, progress)
            if config.matmul_service is not None:
                from .remote import attach_service

                service = attach_service(run.model, config)
            if resume:
                run.restore(load_checkpoint(checkpoint), str(checkpoint))
            folder.write_json("config.json", config.to_dict())
            folder.sync_metrics(run.history)
            if tensorboard and workers.is_main:
                from .tensorboard import open_writer

                run.tensorboard = open_writer(folder / "tensorboard")
            if workers.is_main:
                if resume:
                    log(f"resumed {out} after epoch {run.epoch}")
                where = f"{device}" + (f" + matmul service {service.describe()}" if service else "")
                log(
                    f"training {len(train)} images, validating on {len(val)}, testing on "
                    f"{len(test)}; data from {dataset.source}; {where}; "
                    f"{workers.world_size} process(es), {torch.get_num_threads()} thread(s) each"
                )
            yield run
            finished = True
        finally:
            if run is not None and run.tensorboard is not None:
                run.tensorboard.close()
            if service is not None:
                service.close()
            distributed.stop()
            if not (finished or resume) and (run is None or run.epoch == 0):
                # nothing to resume: leave the folder as it was found, so it can start again
                folder.remove_files(("config.json", METRICS_NAME, "tensorboard"))


# --- the report -------------------------------------------------------------------------------


def write_report(run: Run, log: Log, plots: bool = True) -> dict[str, Any]:
    """Score the best weights (as model.pt holds them) on the test set once; write model.pt,
    metrics.json and the plots. Data without a test split (a tuning trial's) gets no score."""
    config = run.config
    # The network that ships: the best weights with BatchNorm folded in (Linear + activation).
    best = model_from_record(run.best_state, "the best weights")
    model = fold_batch_norm(best).to(run.test.images.device)
    started = time.perf_counter()
    result = None
    if len(run.test):
        result = evaluate(model, run.test.images, run.test.labels, config.eval_batch_size)
    seconds = run.seconds + time.perf_counter() - started
    val_accuracies = [r["val_accuracy"] for r in run.history if r["val_accuracy"] is not None]
    metrics = {
        "test_accuracy": result and result.accuracy,
        "test_loss": result and result.loss,
        "best_val_accuracy": max(val_accuracies) if val_accuracies else None,
        "epochs": run.epoch,
        "seconds": seconds,
        "config": config.to_dict(),
    }
    if run.workers.is_main:
        save_model(model, run.folder / "model.pt")
        run.folder.write_json("metrics.json", metrics)
        if plots and result is not None:
            from .plots import write_plots

            write_plots(run.folder.path, run.history, run.test.labels, result.predictions, config)
        score = "no test split"
        if result is not None:
            score = f"test accuracy {result.accuracy:.4f}  test loss {result.loss:.4f}"
        log(f"{score}  ({seconds:.1f}s in all); run folder {run.folder.path}")
    return metrics
