"""Command-line pieces shared by the examples: where figures go, and checked numbers."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_out_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """`--out DIR`: where figures go, by default `runs/<example>/`."""
    default = Path("runs") / example
    parser.add_argument(
        "--out", type=Path, default=default, help=f"output folder (default {default})"
    )


def positive_int(text: str) -> int:
    """An argparse type: a count of at least 1 (argparse prints one line and exits 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value
