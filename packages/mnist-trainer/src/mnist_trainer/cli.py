"""`mnist-train`: train (the bare command), `evaluate` a saved model, `predict` images,
`tune` the recipe on validation data.

Errors a user can fix come out as one line on stderr and a non-zero exit code, never a
traceback (`--debug` shows it): 2 for bad flags, 1 for everything else (data, service,
checkpoint, run folder), 130 when interrupted (Ctrl-C), 143 when terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

from .config import (
    ACTIVATIONS,
    DEVICES,
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    TrainConfig,
    TuneSettings,
    cpu_cores,
    parse_hidden_sizes,
    preset,
)
from .errors import ConfigError, TrainerError

PROG = "mnist-train"
# Flags that say how to run this command, not what to train: never part of config.json.
RUN_OPTIONS = {"preset", "from_study", "data_dir", "no_download", "out", "resume",
               "no_progress", "tensorboard", "debug"}  # fmt: skip
TUNE_MISSING = (
    "needs Optuna: in the workspace run `uv run --package mnist-trainer --extra tune "
    "mnist-train ...`; elsewhere install mnist-trainer with its `tune` extra"
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the program is, so that it stops the way Ctrl-C does."""


def _raise_terminated(signum: int, frame: Any) -> NoReturn:
    raise Terminated


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while numpy and torch are imported, then act on them.

    An exception raised inside those imports can be swallowed there (torch imports numpy
    from C and goes on without it), leaving a half-imported module that fails minutes
    later. Held, the signal stops the program as soon as the imports are done.
    """
    if threading.current_thread() is not threading.main_thread():  # only it gets signals
        yield
        return
    caught: list[int] = []
    # A signal the process was started to ignore (Ctrl-C in a background job) stays ignored.
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) != signal.SIG_IGN]
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in held}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        raise Terminated if caught[0] == signal.SIGTERM else KeyboardInterrupt


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage text stays in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_hidden_sizes(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def invocation() -> str:
    """How this program was started, as a user would type it again."""
    program = "python -m mnist_trainer" if sys.argv[0].endswith("__main__.py") else PROG
    return f"uv run --package mnist-trainer {program}" if os.environ.get("UV") else program


# --- train ---------------------------------------------------------------------------------

TRAIN_HELP = f"""Train an MLP on Fashion-MNIST and write a run folder (see the package README).
Other commands: `{PROG} evaluate RUN_DIR_OR_MODEL` scores a saved model on the test set,
`{PROG} predict MODEL IMAGE...` classifies images, `{PROG} tune --out DIR` searches the
recipe on validation data. The defaults shown are the `fast` preset's; `--preset best`
sets {", ".join(f"{name}={value}" for name, value in PRESETS["best"].items())}."""


def _default(name: str) -> str:
    value = getattr(TrainConfig(), name)
    if value is None or name == "preset":
        return ""
    if isinstance(value, tuple):
        value = ",".join(map(str, value))
    return f" (default: {value})"


def build_parser() -> argparse.ArgumentParser:
    # Defaults are SUPPRESS so that we know which flags were given: the preset (or, with
    # --resume, the run's config.json) supplies the rest. The help shows the fast defaults.
    parser = OneLineParser(prog=PROG, description=TRAIN_HELP, argument_default=argparse.SUPPRESS)

    def add(*flags: str, dest: str | None = None, help: str = "", **kwargs: Any) -> None:
        name = dest or flags[0].lstrip("-").replace("-", "_")
        if name in TrainConfig.__dataclass_fields__ and kwargs.get("action") is None:
            help += _default(name)
        parser.add_argument(*flags, **({"dest": dest} if dest else {}), help=help, **kwargs)

    add("--preset", choices=tuple(PRESETS), help="recipe to start from (default: fast)")
    add("--from-study", help="start from the best recipe of this `tune` folder, trained on "
        "all training images (--val-size 0) unless flags say otherwise")  # fmt: skip
    add("--data-dir", help="folder with the four official IDX files (.gz or not); only there")
    add("--no-download", action="store_true", help="fail instead of downloading the data")
    add("--out", help="run folder (default: runs/PRESET-TIMESTAMP)")
    add("--resume", action="store_true", help="continue the run in --out from checkpoint.pt")
    add("--epochs", type=int, help="passes over the training set")
    add("--batch-size", type=int, help="images per optimizer step (global)")
    add("--hidden", dest="hidden_sizes", type=_hidden_sizes, help="layer widths")
    add("--activation", choices=ACTIVATIONS)
    add("--dropout", type=float, help="dropout after each hidden layer, in [0, 1)")
    add("--no-batch-norm", dest="batch_norm", action="store_false",
        help="no BatchNorm after the hidden Linear layers (default: BatchNorm on)")  # fmt: skip
    add("--optimizer", choices=OPTIMIZERS)
    add("--lr", type=float, help="peak learning rate")
    add("--weight-decay", type=float, help="on weight matrices only")
    add("--schedule", choices=SCHEDULES, help="learning-rate schedule (per step)")
    add("--warmup-fraction", type=float, help="onecycle: share of steps warming up")
    add("--label-smoothing", type=float)
    add("--shift", dest="shift_pixels", type=int, help="random shift, pixels each way (0: off)")
    add("--flip", dest="flip", action="store_true", help="random horizontal flips (default: on)")
    add("--no-flip", dest="flip", action="store_false")
    add("--val-size", type=int, help="training images held out for model selection")
    add("--seed", type=int)
    add("--device", choices=DEVICES)
    add("--threads", type=int, help="CPU threads per process (0: cores / local processes)")
    add("--train-subset", type=int, help="train on the first N images only (0: all)")
    add("--eval-batch-size", type=int)
    add("--matmul-service", help="HOST:PORT[,HOST:PORT...] of the cuda-kernels service, or "
        "'embedded' (default: products computed locally)")  # fmt: skip
    add("--no-matmul-service", dest="matmul_service", action="store_const", const=None,
        help="compute locally, e.g. to --resume a remote run without its service")  # fmt: skip
    add("--matmul-service-token-file", help="file holding the service's bearer token")
    add("--matmul-service-tls-ca", help="PEM file of the CA that signed the service's certificate")
    add("--matmul-service-tls-server-name", help="name to check in the service's certificate")
    add("--service-timeout", type=float,
        help="seconds a remote call may take in all, waiting for an unreachable (restarting) "
        "service included")  # fmt: skip
    add("--service-retries", type=int,
        help="retries with backoff within each try (a busy or unreachable service)")  # fmt: skip
    add("--no-progress", action="store_true", help="no progress bars (summary lines only)")
    add("--tensorboard", action="store_true",
        help="also log the metrics for TensorBoard into RUN_DIR/tensorboard")  # fmt: skip
    add("--debug", action="store_true", help="show the traceback of an error")
    add("--version", action="version", version=f"%(prog)s {version('mnist-trainer')}")
    return parser


def config_from_args(args: dict[str, Any]) -> TrainConfig:
    """The preset (or the resumed run's config.json) with the given flags on top."""
    overrides = {k: v for k, v in args.items() if k not in RUN_OPTIONS}
    if "from_study" in args:
        if args.get("resume") or "preset" in args:
            raise ConfigError("--from-study starts a new run from a study: drop --resume/--preset")
        _require_optuna("--from-study")
        from .tune import best_config

        return best_config(Path(args["from_study"]), **overrides)
    if not args.get("resume"):
        return preset(args.get("preset", "fast"), **overrides)
    path = Path(args["out"]) / "config.json"
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: --resume needs the --out of an earlier run") from None
    except OSError as exc:
        raise TrainerError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: not a run's config (a JSON object is expected)")
    if "preset" in args and args["preset"] != saved.get("preset"):
        raise ConfigError("--preset cannot change on --resume; drop it")
    return TrainConfig.from_dict({**saved, **overrides}, str(path)).validate()


def _interrupted_hint(args: dict[str, Any], out: str, argv: Sequence[str]) -> str:
    """What to type after Ctrl-C: resume when an epoch finished, else start again."""
    if (Path(out) / "checkpoint.pt").exists():
        command = ["--out", out, "--resume"]
        if "data_dir" in args:
            command += ["--data-dir", args["data_dir"]]
        if args.get("no_download"):
            command.append("--no-download")
        return f"continue with `{invocation()} {shlex.join(command)}`"
    again = list(argv) if "out" in args else [*argv, "--out", out]
    again = [a for a in again if a != "--resume"]
    return (
        "no epoch had finished, so there is nothing to resume; start again with "
        f"`{invocation()} {shlex.join(again)}`"
    )


def train_main(argv: Sequence[str]) -> int:
    args = vars(build_parser().parse_args(argv))
    if args.get("resume") and "out" not in args:
        print(f"{PROG}: error: --resume needs --out RUN_DIR (the run to continue)", file=sys.stderr)
        return 2
    out = args.get("out")
    if out is not None and not out.strip():
        print(f"{PROG}: error: --out is empty: give the run folder, e.g. --out runs/fast",
              file=sys.stderr)  # fmt: skip
        return 2

    def train() -> int:
        nonlocal out
        config = config_from_args(args)
        out = out or f"runs/{config.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        # Idle OpenMP threads sleep instead of spinning: on a busy machine spinning threads
        # starve the working ones and an epoch can take 10x longer. Must be set before torch
        # loads OpenMP; a user's own setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with signals_held():  # torch loads here, after the flags are known to be good
            if args.get("tensorboard"):
                from .tensorboard import check_available

                check_available()
            from .train import fit

        fit(
            config,
            out,
            resume=bool(args.get("resume")),
            data_dir=args.get("data_dir"),
            allow_download=not args.get("no_download"),
            progress=not args.get("no_progress") and sys.stderr.isatty(),
            tensorboard=bool(args.get("tensorboard")),
            log=lambda line: print(line, flush=True),
        )
        return 0

    def on_interrupt() -> str:
        return _interrupted_hint(args, out, argv) if out else "nothing was written"

    return guarded(train, bool(args.get("debug")), on_interrupt)


# --- evaluate and predict -------------------------------------------------------------------


def evaluate_main(argv: Sequence[str]) -> int:
    parser = OneLineParser(
        prog=f"{PROG} evaluate",
        description="Score a saved model on the Fashion-MNIST test set: accuracy, per-class "
        "accuracy and the confusion matrix.",
    )
    parser.add_argument("model", help="a run folder, or its model.pt or checkpoint.pt")
    parser.add_argument("--data-dir", help="folder with the four official IDX files; only there")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    parser.add_argument("--batch-size", type=int, default=2000, help="(default: 2000)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)

    def evaluate() -> int:
        with signals_held():
            import torch

            from . import data
            from .model import load_model
            from .scoring import format_report
            from .train import evaluate

        model = load_model(args.model)
        test = data.load(args.data_dir, not args.no_download, sys.stderr.isatty(), ("test",))
        images = torch.from_numpy(test.test_images).float() / 255.0
        labels = torch.from_numpy(test.test_labels.astype("int64"))
        result = evaluate(model, images, labels, max(1, args.batch_size))
        print(f"model {args.model}: {_describe(model.arch)}; test set from {test.source}")
        print(format_report(result, labels))
        return 0

    return guarded(evaluate, args.debug)


def predict_main(argv: Sequence[str]) -> int:
    parser = OneLineParser(
        prog=f"{PROG} predict",
        description="Classify images with a saved model: 28x28 grayscale PNGs (a light object "
        "on black, as in Fashion-MNIST; other sizes are refused, colour is converted to gray) "
        "and IDX files of such images (.gz or not). Prints one line per image.",
    )
    parser.add_argument("model", help="a run folder, or its model.pt or checkpoint.pt")
    parser.add_argument("images", nargs="+", help="PNG or IDX files")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)

    def predict() -> int:
        with signals_held():
            from .model import load_model
            from .predict import classify, read_images

        model = load_model(args.model)
        for path in args.images:
            names, images = read_images(Path(path))
            for name, (label, probability) in zip(names, classify(model, images), strict=True):
                print(f"{name}: {label} ({probability:.1%})")
        return 0

    return guarded(predict, args.debug)


# --- tune -------------------------------------------------------------------------------------


def _require_optuna(what: str) -> None:
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        raise ConfigError(f"{what} {TUNE_MISSING}")


def tune_main(argv: Sequence[str]) -> int:
    parser = OneLineParser(
        prog=f"{PROG} tune",
        description="Search the training recipe with Optuna, scoring each trial on validation "
        "images only (the test files are never read). The study is kept in OUT (or --storage) "
        "and shared by every worker pointed at it; re-running continues it. Then "
        f"`{PROG} tune --show OUT` and `{PROG} train --from-study OUT`.",
    )
    parser.add_argument("--out", help="the tune folder: trials/, tune.json, the study file")
    parser.add_argument("--show", metavar="OUT", help="print the best trials of OUT and plot them")
    defaults = TuneSettings()

    def add(flag: str, help: str, **kwargs: Any) -> None:
        name = flag.lstrip("-").replace("-", "_")
        parser.add_argument(flag, default=getattr(defaults, name), help=help, **kwargs)

    add("--trials", "finished trials the study should reach, all workers together "
        "(default: %(default)s)", type=int)  # fmt: skip
    add("--max-epochs", "the longest trial; trials draw their epochs from a quarter of it up "
        "(default: %(default)s)", type=int)  # fmt: skip
    add("--timeout", "start no trial after this many seconds", type=float)
    add("--workers", "worker processes on this machine (default: %(default)s)", type=int)
    add("--storage", "an Optuna storage: an RDB URL such as postgresql://HOST/DB, or a "
        "journal file (default: OUT/study.journal)")  # fmt: skip
    add("--study", "study name (default: %(default)s)")
    add("--val-size", "validation images (default: %(default)s)", type=int)
    add("--train-subset", "train on the first N images only (0: all)", type=int)
    add("--seed", "every trial's seed (default: %(default)s)", type=int)
    add("--threads", "CPU threads per worker (0: cores / workers)", type=int)
    parser.add_argument("--data-dir", help="folder with the training IDX files; only there")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    def tune() -> int:
        if (args.out is None) == (args.show is None):
            raise ConfigError("give --out DIR to run a study, or --show DIR to see one")
        _require_optuna(f"{PROG} tune")
        if args.show is not None:
            from .tune import show

            print(show(Path(args.show)))
            return 0
        given = {f.name: getattr(args, f.name) for f in fields(TuneSettings) if f.name in args}
        settings = TuneSettings(**given, allow_download=not args.no_download).validate()
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_main
        with signals_held():
            from .tune import run_study, run_worker

        log = lambda line: print(line, flush=True)  # noqa: E731
        if args.as_worker:
            run_worker(settings, log)
        else:  # a worker process (with --workers K) is this command with these flags on top
            threads = settings.threads or max(1, cpu_cores() // settings.workers)
            worker = [sys.executable, "-m", "mnist_trainer", "tune", *argv, "--workers", "1",
                      "--threads", str(threads), "--as-worker"]  # fmt: skip
            run_study(settings, worker, log)
        return 0

    def on_interrupt() -> str:
        return f"the study keeps its finished trials; continue with the same `{PROG} tune` command"

    return guarded(tune, args.debug, on_interrupt)


def _describe(arch: dict[str, Any]) -> str:
    widths = "-".join(str(w) for w in [784, *arch["hidden_sizes"], 10])
    norm = ", BatchNorm" if arch["batch_norm"] else ""
    if arch.get("batch_norm_folded"):
        norm = ", BatchNorm folded into the Linear layers"
    return f"{widths} MLP, {arch['activation']}{norm}"


# --- one place for errors -------------------------------------------------------------------


def guarded(
    command: Callable[[], int], debug: bool, on_interrupt: Callable[[], str] | None = None
) -> int:
    """Run `command`; known failures become one line on stderr and an exit code."""

    def fail(code: int, message: str) -> int:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: {message}", file=sys.stderr)
        return code

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        return command()
    except ConfigError as exc:
        return fail(2, f"error: {exc}")
    except TrainerError as exc:
        return fail(1, f"error: {exc}")
    except KeyboardInterrupt as exc:
        hint = on_interrupt() if on_interrupt else "stopped"
        if isinstance(exc, Terminated):
            return fail(128 + signal.SIGTERM, f"terminated (SIGTERM); {hint}")
        return fail(130, f"interrupted; {hint}")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(1, f"error: {where}{exc.strerror or exc}")
    except Exception as exc:  # a bug: still one line, with the way to see more
        hint = "" if debug else "; run again with --debug for the traceback"
        return fail(1, f"internal error: {type(exc).__name__}: {exc}{hint}")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        return evaluate_main(argv[1:])
    if argv and argv[0] == "predict":
        return predict_main(argv[1:])
    if argv and argv[0] == "tune":
        return tune_main(argv[1:])
    if argv and argv[0] == "train":
        argv = argv[1:]
    return train_main(argv)
