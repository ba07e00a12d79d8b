"""The package version, also when running from a source tree that was never installed.

Why: the GPU host runs the project from `PYTHONPATH=.../src` (nothing can be installed
there), where `importlib.metadata` knows no `mnist-trainer`; the version then comes from
the pyproject.toml beside `src/`.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def read_version() -> str:
    """The installed distribution's version, else the source tree's, else '0+unknown'."""
    try:
        return version("mnist-trainer")
    except PackageNotFoundError:
        pass
    try:
        with (Path(__file__).resolve().parents[2] / "pyproject.toml").open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"
