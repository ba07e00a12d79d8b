"""`mnist-train tune`: an Optuna study over the training recipe, scored on validation only.

Why it is built this way:
- The test split cannot leak into the choice: a worker loads its data with
  `data.load(splits=("train",))`, which neither looks for nor opens the test files, so
  every trial's run has an empty test split and its report has no test score to look at.
- Each trial is a real `fit` run in `OUT/trials/NNNN`, reporting its validation accuracy
  at each tenth of its schedule. Steps are tenths, not epochs, because trials train for
  different numbers of epochs: under a one-cycle or cosine schedule epoch 5 of 10 and
  epoch 5 of 40 are not comparable, 50% of each is. Optuna's median pruner stops a trial
  whose validation accuracy is below the median of earlier trials at the same tenth.
- The study lives in a storage that many processes share: by default Optuna's journal
  file `OUT/study.journal` (no server), or any `--storage` Optuna accepts (an RDB URL for
  several machines). `tune.json` in OUT names it, for `--show` and `train --from-study`.
- A killed worker loses only its running trial: trials record the worker's host and pid,
  and every worker, before each trial, marks RUNNING trials of dead workers on its own
  host as failed. An RDB storage also gets Optuna's heartbeats, for other hosts' workers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from . import data, train
from .checkpoint import CHECKPOINT_NAME, PREVIOUS_NAME
from .config import RUNTIME_OPTIONS, TrainConfig, TuneSettings
from .errors import ConfigError, TrainerError
from .runfolder import RunFolder, atomic_write

STUDY_FILE = "study.journal"
SETTINGS_FILE = "tune.json"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# What decides which trials a study runs (kept in tune.json): it continues only with these.
SHAPING = ("study", "storage", "max_epochs", "val_size", "train_subset", "seed")
# Keys of a trial's config that say which data it saw, not how it trained: `train
# --from-study` resets them (to train on all training images), flags may set them again.
DATA_OPTIONS = ("train_subset", "val_size")
Log = Callable[[str], None]


def suggest(trial: optuna.Trial, max_epochs: int) -> dict[str, Any]:
    """The search space: every knob of the recipe, as `TrainConfig` fields."""
    depth = trial.suggest_int("depth", 1, 3)
    width = trial.suggest_categorical("width", [512, 1024, 1536])
    return {
        "hidden_sizes": (width,) * depth,
        "activation": trial.suggest_categorical("activation", ["relu", "gelu", "silu"]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "lr": trial.suggest_float("lr", 3e-4, 1e-2, log=True),
        "schedule": trial.suggest_categorical("schedule", ["onecycle", "cosine"]),
        "weight_decay": trial.suggest_float("weight_decay", 1e-3, 0.3, log=True),
        "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        "shift_pixels": trial.suggest_int("shift_pixels", 0, 2),
        "flip": trial.suggest_categorical("flip", [True, False]),
        "batch_size": trial.suggest_categorical("batch_size", [128, 256, 512]),
        "epochs": trial.suggest_int("epochs", max(1, max_epochs // 4), max_epochs),
    }


def baseline(max_epochs: int) -> dict[str, Any]:
    """The default (`fast`) recipe as the search space's parameters: every study's first
    trial, so that its table shows what tuning gained over the defaults."""
    fast = TrainConfig()
    names = ("activation", "dropout", "lr", "schedule", "weight_decay", "label_smoothing",
             "shift_pixels", "flip", "batch_size")  # fmt: skip
    return {
        "depth": len(fast.hidden_sizes),
        "width": fast.hidden_sizes[0],
        **{name: getattr(fast, name) for name in names},
        "epochs": min(fast.epochs, max_epochs),
    }


def storage_for(out: Path, url: str | None) -> optuna.storages.BaseStorage:
    """The journal file in OUT by default; an RDB URL (with heartbeats) or a journal path."""
    if url and "://" in url:
        with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    path = Path(url) if url else out / STUDY_FILE
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    return optuna.storages.JournalStorage(backend)


@dataclass
class OpenStudy:
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    shaping: dict[str, Any]  # tune.json: what decides which trials the study runs


def open_study(out: Path, create: TuneSettings | None = None) -> OpenStudy:
    """Load the study of the tune folder `out` (create it from `create` when given)."""
    # Our own line per trial instead; Optuna's warning for a failed trial is a traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = out / SETTINGS_FILE
    saved = read_settings(path) if path.is_file() else None
    if create is None and saved is None:
        raise ConfigError(f"{out} is not a tune folder (no {SETTINGS_FILE}): run `tune` first")
    shaping = {k: v for k, v in asdict(create).items() if k in SHAPING} if create else saved
    if saved is not None and shaping != saved:
        changed = sorted(k for k in SHAPING if shaping.get(k) != saved.get(k))
        raise ConfigError(
            f"{out} holds a study made with other {', '.join(changed)} ({path}): give the "
            "same values to continue it, or pick a new --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        storage = storage_for(out, shaping["storage"])
        how = {
            "study_name": shaping["study"],
            "storage": storage,
            "sampler": optuna.samplers.TPESampler(multivariate=True, constant_liar=True),
            "pruner": optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3),
        }
        # Only a new study is created: creating one that exists writes to a journal file
        # (a committed study would change each time it is read).
        if saved is None:
            study = optuna.create_study(**how, direction="maximize", load_if_exists=True)
        else:
            study = optuna.load_study(**how)
    except KeyError:
        raise ConfigError(f"{out}: its storage has no study {shaping['study']!r}") from None
    except (ImportError, ValueError, OSError, SQLAlchemyError) as exc:  # a bad URL or driver
        where = shaping["storage"] or out / STUDY_FILE
        raise ConfigError(
            f"cannot open the study's storage {where}: {str(exc).splitlines()[0]}"
        ) from None
    if saved is None:  # only once the storage opened: a typo in --storage leaves nothing
        study.enqueue_trial(baseline(shaping["max_epochs"]), skip_if_exists=True)
        atomic_write(path, json.dumps(shaping, indent=2) + "\n")
    return OpenStudy(study, storage, shaping)


def read_settings(path: Path) -> dict[str, Any]:
    try:
        saved = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); pick a new --out") from None
    if not isinstance(saved, dict) or set(saved) != set(SHAPING):
        raise ConfigError(f"{path}: not a tune folder's settings (keys {list(SHAPING)})")
    return saved


def _alive(pid: int) -> bool:
    """Whether process `pid` of this host runs (a zombie, killed but not reaped, does not)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def fail_dead_trials(opened: OpenStudy, log: Log) -> None:
    """Mark failed the RUNNING trials whose worker on this host has died."""
    host = socket.gethostname()
    study, storage = opened.study, opened.storage
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == host and isinstance(pid, int) and not _alive(pid):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            if storage.set_trial_state_values(trial_id, TrialState.FAIL):
                log(f"trial {trial.number}: its worker (pid {pid}) died; marked failed")


def reporter(trial: optuna.Trial, epochs: int) -> Callable[[dict[str, Any]], None]:
    """The per-epoch callback: validation accuracy at each new tenth of the schedule, and a
    stop when the pruner says so."""
    reported: set[int] = set()

    def report(row: dict[str, Any]) -> None:
        tenth = 10 * row["epoch"] // epochs
        if tenth not in reported:
            reported.add(tenth)
            trial.report(row["val_accuracy"], tenth)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {row['epoch']}")

    return report


def objective_for(
    settings: TuneSettings, opened: OpenStudy, dataset: data.FashionMNIST, log: Log
) -> Callable[[optuna.Trial], float]:
    """The function Optuna calls for each trial: one real training run, validation only."""
    out, shaping = Path(settings.out), opened.shaping

    def objective(trial: optuna.Trial) -> float:
        fail_dead_trials(opened, log)
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        folder = RunFolder(out / "trials" / f"{trial.number:04d}")
        try:
            config = TrainConfig(
                **suggest(trial, shaping["max_epochs"]),
                val_size=shaping["val_size"],
                train_subset=shaping["train_subset"],
                seed=shaping["seed"],
                threads=settings.threads,
            ).validate()
            trial.set_user_attr("config", config.to_dict())
            metrics = train.fit(
                config,
                folder.path,
                dataset=dataset,
                progress=False,
                plots=False,
                log=lambda line: log(f"trial {trial.number}: {line}"),
                on_epoch_end=reporter(trial, config.epochs),
            )
        except ConfigError as exc:  # a diverged or unfit recipe: the trial fails, not the study
            log(f"trial {trial.number} failed: {exc}")
            raise
        finally:  # a trial is never resumed: keep its model.pt and metrics, not checkpoints
            folder.remove_files((CHECKPOINT_NAME, PREVIOUS_NAME))
        return metrics["best_val_accuracy"]

    return objective


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_worker(settings: TuneSettings, log: Log = print) -> None:
    """One worker: trials until the study has `settings.trials` finished (or the timeout)."""
    opened = open_study(Path(settings.out), settings)
    study = opened.study
    fail_dead_trials(opened, log)
    if finished_count(study) >= settings.trials:
        log(f"the study already has {finished_count(study)} finished trials (--trials "
            f"{settings.trials}); raise --trials to run more")  # fmt: skip
        return
    dataset = data.load(settings.data_dir, settings.allow_download, False, ("train",))
    stop_at = optuna.study.MaxTrialsCallback(settings.trials, states=FINISHED)
    study.optimize(
        objective_for(settings, opened, dataset, log),
        timeout=settings.timeout,
        callbacks=[stop_at, lambda study, trial: log(trial_line(trial))],
        catch=(ConfigError,),
    )


def trial_line(trial: optuna.trial.FrozenTrial) -> str:
    value = "-" if trial.value is None else f"val accuracy {trial.value:.4f}"
    return f"trial {trial.number} {trial.state.name.lower()}: {value}"


def run_study(settings: TuneSettings, worker: Sequence[str], log: Log = print) -> None:
    """`tune`: one worker in this process, or `settings.workers` processes running the
    command `worker` sharing the study; then the best trials."""
    open_study(Path(settings.out), settings)  # settles tune.json before workers race to it
    if settings.workers == 1:
        run_worker(settings, log)
    else:
        workers = [subprocess.Popen(worker) for _ in range(settings.workers)]
        try:
            codes = [process.wait() for process in workers]
        finally:
            for process in workers:
                if process.poll() is None:
                    process.terminate()
                    process.wait()
        if any(codes):
            raise TrainerError(f"tune workers exited with codes {codes}; re-run to continue")
    log(show(Path(settings.out), plots=False))


# --- results ---------------------------------------------------------------------------------


def show(out: Path, plots: bool = True, top: int = 10) -> str:
    """The best complete trials as a table (a pruned trial's score is from before it was
    stopped, so it is not ranked); with `plots`, Optuna's plots as PNGs in `out`."""
    study = open_study(out).study
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    counts = {state.name.lower(): sum(t.state == state for t in trials) for state in TrialState}
    tally = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    lines = [f"study {study.study_name!r}: {tally}", "trial  val acc  epochs  recipe"]
    for trial in sorted(complete, key=lambda t: t.value, reverse=True)[:top]:
        config = trial.user_attrs["config"]
        lines.append(f"{trial.number:>5}  {trial.value:.4f}  {config['epochs']:>6}  "
                     f"{describe_recipe(config)}")  # fmt: skip
    if plots and len(complete) >= 2:
        lines.append(f"plots: {', '.join(write_plots(study, out))}")
    return "\n".join(lines)


def describe_recipe(config: dict[str, Any]) -> str:
    widths = "x".join(map(str, config["hidden_sizes"]))
    return (
        f"{widths} {config['activation']} dropout {config['dropout']:.2f} lr {config['lr']:.2e} "
        f"{config['schedule']} wd {config['weight_decay']:.3f} smooth "
        f"{config['label_smoothing']:.2f} shift {config['shift_pixels']} "
        f"flip {'on' if config['flip'] else 'off'} batch {config['batch_size']}"
    )


def write_plots(study: optuna.Study, out: Path) -> list[str]:
    """Optuna's own matplotlib plots of the study, as PNG files in `out`."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for name, plot in (("history", plots.plot_optimization_history),
                           ("importances", plots.plot_param_importances),
                           ("intermediate", plots.plot_intermediate_values)):  # fmt: skip
            axes = plot(study)
            path = out / f"study-{name}.png"
            axes.figure.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(axes.figure)
            written.append(str(path))
    return written


def best_config(out: Path, **overrides: Any) -> TrainConfig:
    """The best trial's recipe, to train on all training images (or as `overrides` say)."""
    study = open_study(out).study
    try:
        best = study.best_trial
    except ValueError:
        raise ConfigError(f"{out}: the study has no finished trial yet") from None
    recipe = {k: v for k, v in best.user_attrs["config"].items() if k not in RUNTIME_OPTIONS}
    recipe.update(dict.fromkeys(DATA_OPTIONS, 0), preset="fast")
    return TrainConfig.from_dict({**recipe, **overrides}, f"{out} trial {best.number}").validate()
