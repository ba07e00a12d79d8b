"""Matplotlib set-up shared by the examples: a file backend, and where figures go."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_out_argument(parser: argparse.ArgumentParser, example: str) -> None:
    """`--out DIR` (alias `--figs`): where figures go, by default `runs/<example>/`."""
    default = Path("runs") / example
    parser.add_argument(
        "--out", "--figs", type=Path, default=default, help=f"output folder (default {default})"
    )


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return path
