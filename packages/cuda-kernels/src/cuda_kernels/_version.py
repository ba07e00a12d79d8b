"""The package version, also when the package runs from a source tree without being installed.

Why: on the GPU host the project runs from `PYTHONPATH=.../src` (no pip install), where
`importlib.metadata` knows no `cuda-kernels` distribution; the version then comes from the
package's own pyproject.toml beside `src/`.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "cuda-kernels"


def read_version() -> str:
    """The installed distribution's version, else the source tree's, else '0+unknown'."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        with pyproject.open("rb") as f:
            return str(tomllib.load(f)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"
