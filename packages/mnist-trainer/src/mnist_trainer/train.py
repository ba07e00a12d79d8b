"""`fit()`: set up a run, train epoch by epoch, then test once and write the report.

Run folder (written by rank 0 only; see `runfolder` for how):
  config.json, metrics.jsonl (one line per epoch, appended), metrics.json (final),
  model.pt (best-validation weights, BatchNorm folded in), checkpoint.pt and
  checkpoint.prev.pt (every epoch), loss.png, accuracy.png, confusion.png, and
  tensorboard/ when asked for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import data as data_module
from . import distributed
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .config import TrainConfig, cpu_cores
from .errors import ConfigError, ServiceUnavailableError
from .model import fold_batch_norm, model_from_record, save_model
from .runfolder import METRICS_NAME, RunFolder
from .scoring import evaluate
from .trainer import Split, Trainer

Log = Callable[[str], None]


@dataclass
class Run:
    """What set-up made: the trainer over its data, the folder it owns, the test split."""

    config: TrainConfig
    workers: distributed.Workers
    folder: RunFolder
    trainer: Trainer
    test: Split
    tensorboard: Any = None  # a SummaryWriter when --tensorboard was given

    @property
    def checkpoint_path(self) -> Path:
        return self.folder / CHECKPOINT_NAME


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
        train_epochs(run, log, on_epoch_end)
        return write_report(run, log, plots)


# --- set-up ----------------------------------------------------------------------------------


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
    """Own the run folder, load the data, build (or restore) the trainer; clean up after."""
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
        service, writer, trainer, finished = None, None, None, False
        try:
            trainer = Trainer(config, train, val, device, workers, progress)
            if config.matmul_service is not None:
                from .remote import attach_service

                service = attach_service(trainer.model, config)
            if resume:
                trainer.restore(load_checkpoint(checkpoint), str(checkpoint))
            folder.write_json("config.json", config.to_dict())
            folder.sync_metrics(trainer.history)
            if tensorboard and workers.is_main:
                from .tensorboard import open_writer

                writer = open_writer(folder / "tensorboard")
            if workers.is_main:
                if resume:
                    log(f"resumed {out} after epoch {trainer.epoch}")
                where = f"{device}" + (f" + matmul service {service.describe()}" if service else "")
                log(
                    f"training {len(train)} images, validating on {len(val)}, testing on "
                    f"{len(test)}; data from {dataset.source}; {where}; "
                    f"{workers.world_size} process(es), {torch.get_num_threads()} thread(s) each"
                )
            yield Run(config, workers, folder, trainer, test, writer)
            finished = True
        finally:
            if writer is not None:
                writer.close()
            if service is not None:
                service.close()
            distributed.stop()
            if not (finished or resume) and (trainer is None or trainer.epoch == 0):
                # nothing to resume: leave the folder as it was found, so it can start again
                folder.remove_files(("config.json", METRICS_NAME, "tensorboard"))


# --- the epoch loop --------------------------------------------------------------------------


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


def train_epochs(
    run: Run, log: Log, on_epoch_end: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """Train the remaining epochs; after each, checkpoint, then append its metrics line."""
    trainer, folder = run.trainer, run.folder
    while trainer.epoch < run.config.epochs:
        try:
            row = trainer.run_epoch()
        except ServiceUnavailableError as exc:
            kept = (
                f"last good checkpoint {run.checkpoint_path} (epoch {trainer.epoch}); resume "
                "with --resume, through a service or locally with --no-matmul-service"
                if run.checkpoint_path.exists()
                else "no checkpoint yet"
            )
            raise ServiceUnavailableError(f"{exc}; {kept}") from exc
        blob = trainer.checkpoint()
        if run.workers.is_main:
            save_checkpoint(blob, run.checkpoint_path)
            folder.append_metrics(row)
            if run.tensorboard is not None:
                from .tensorboard import add_epoch

                add_epoch(run.tensorboard, row)
            log(summary_line(row, run.config.epochs))
        distributed.barrier(run.workers)
        if on_epoch_end is not None:
            on_epoch_end(row)


# --- the report ------------------------------------------------------------------------------


def write_report(run: Run, log: Log, plots: bool = True) -> dict[str, Any]:
    """Score the best weights (as model.pt holds them) on the test set once; write model.pt,
    metrics.json and the plots."""
    trainer, config = run.trainer, run.config
    # The network that ships: the best weights with BatchNorm folded in (Linear + activation).
    best = model_from_record(trainer.best_state, "the best weights")
    model = fold_batch_norm(best).to(run.test.images.device)
    started = time.perf_counter()
    result = evaluate(model, run.test.images, run.test.labels, config.eval_batch_size)
    seconds = trainer.seconds + time.perf_counter() - started
    val_accuracies = [r["val_accuracy"] for r in trainer.history if r["val_accuracy"] is not None]
    metrics = {
        "test_accuracy": result.accuracy,
        "test_loss": result.loss,
        "best_val_accuracy": max(val_accuracies) if val_accuracies else None,
        "epochs": trainer.epoch,
        "seconds": seconds,
        "config": config.to_dict(),
    }
    if run.workers.is_main:
        save_model(model, run.folder / "model.pt")
        run.folder.write_json("metrics.json", metrics)
        if plots:
            from .plots import write_plots

            write_plots(
                run.folder.path, trainer.history, run.test.labels, result.predictions, config
            )
        log(
            f"test accuracy {result.accuracy:.4f}  test loss {result.loss:.4f}  "
            f"({seconds:.1f}s in all); run folder {run.folder.path}"
        )
    return metrics
