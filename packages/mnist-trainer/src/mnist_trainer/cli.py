"""`mnist-train`: the command line over `train.fit`.

Errors a user can fix come out as one line on stderr and a non-zero exit code, never a
traceback: 2 for bad flags, 1 for everything else (data, service, checkpoint), 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .config import ACTIVATIONS, DEVICES, OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig, preset
from .errors import ConfigError, TrainerError

PROG = "mnist-train"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage text stays in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of layer widths, e.g. 1024,1024"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer widths must be positive integers, got {text!r}")
    return sizes


def build_parser() -> argparse.ArgumentParser:
    # Defaults are SUPPRESS so that we know which flags were given: the preset (or, with
    # --resume, the run's config.json) supplies the rest.
    parser = OneLineParser(
        prog=PROG,
        description="Train an MLP on Fashion-MNIST; see the package README for the run folder.",
        argument_default=argparse.SUPPRESS,
    )
    add = parser.add_argument
    add("--preset", choices=tuple(PRESETS), help="recipe to start from (default: fast)")
    add("--data-dir", help="folder with the four official IDX files (.gz or not)")
    add("--no-download", action="store_true", help="fail instead of downloading the data")
    add("--out", help="run folder (default: runs/PRESET-TIMESTAMP)")
    add("--resume", action="store_true", help="continue the run in --out from checkpoint.pt")
    add("--epochs", type=int, help="passes over the training set")
    add("--batch-size", dest="batch_size", type=int, help="images per optimizer step (global)")
    add("--hidden", dest="hidden_sizes", type=_hidden_sizes, help="widths, e.g. 1024,1024")
    add("--activation", choices=ACTIVATIONS)
    add("--dropout", type=float, help="dropout after each hidden layer, in [0, 1)")
    add("--no-batch-norm", dest="batch_norm", action="store_false")
    add("--optimizer", choices=OPTIMIZERS)
    add("--lr", type=float, help="peak learning rate")
    add("--weight-decay", dest="weight_decay", type=float)
    add("--schedule", choices=SCHEDULES, help="learning-rate schedule (per step)")
    add(
        "--warmup-fraction",
        dest="warmup_fraction",
        type=float,
        help="onecycle: share of steps warming up",
    )
    add("--label-smoothing", dest="label_smoothing", type=float)
    add("--shift", dest="shift_pixels", type=int, help="random shift, pixels each way (0: off)")
    add("--flip", dest="flip", action="store_true", help="random horizontal flips")
    add("--no-flip", dest="flip", action="store_false")
    add("--val-size", dest="val_size", type=int, help="training images held out for selection")
    add("--seed", type=int)
    add("--device", choices=DEVICES)
    add("--threads", type=int, help="CPU threads per process (0: cores / local processes)")
    add("--train-subset", dest="train_subset", type=int, help="train on the first N images only")
    add("--eval-batch-size", dest="eval_batch_size", type=int)
    add(
        "--matmul-service",
        dest="matmul_service",
        help="HOST:PORT[,HOST:PORT...] of the cuda-kernels service, or 'embedded'",
    )
    add("--service-timeout", dest="service_timeout", type=float, help="seconds per remote call")
    add("--service-retries", dest="service_retries", type=int, help="retries before giving up")
    add("--no-progress", action="store_true", help="no progress bars (summary lines only)")
    add("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _version() -> str:
    from . import __version__

    return __version__


RUN_OPTIONS = {"preset", "data_dir", "no_download", "out", "resume", "no_progress"}


def config_from_args(args: dict[str, Any]) -> TrainConfig:
    """The preset (or the resumed run's config.json) with the given flags on top."""
    overrides = {k: v for k, v in args.items() if k not in RUN_OPTIONS}
    if args.get("resume"):
        path = Path(args["out"]) / "config.json"
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"{path} not found: --resume needs the --out of an earlier run"
            ) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
        if "preset" in args and args["preset"] != saved.get("preset"):
            raise ConfigError("--preset cannot change on --resume; drop it")
        return TrainConfig.from_dict({**saved, **overrides}).validate()
    return preset(args.get("preset", "fast"), **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    if args.get("resume") and "out" not in args:
        print(f"{PROG}: error: --resume needs --out RUN_DIR (the run to continue)", file=sys.stderr)
        return 2
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    out = args.get("out") or f"runs/{config.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Idle OpenMP threads sleep instead of spinning: on a busy machine (our 2-core CI and
    # dev boxes are shared) spinning threads starve the working ones and an epoch can take
    # 10x longer. Must be set before torch loads OpenMP; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .train import fit  # torch loads here, after the flags are known to be good

    try:
        fit(
            config,
            out,
            resume=bool(args.get("resume")),
            data_dir=args.get("data_dir"),
            allow_download=not args.get("no_download"),
            progress=not args.get("no_progress") and sys.stderr.isatty(),
        )
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except TrainerError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; continue with `{PROG} --out {out} --resume`", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0
