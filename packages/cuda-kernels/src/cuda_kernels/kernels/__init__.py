"""The CUDA sources shipped with the package (`*.cu`, package data) and how to read them.

The launch facts of every kernel (names, order, block shapes, tile constants) live in
`cuda_kernels.kernels.ladder`; the names below that come from it are kept for callers of
this module.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path

from cuda_kernels.kernels.ladder import (
    DOUBLIFY,
    LADDER,
    MAX_GRID_Y,
    SOURCE_FILES,
    Launch,
    nvcc_define_flags,
)

# Older names of the same facts.
MatmulLaunch = Launch
MATMUL_LAUNCHES = LADDER
DOUBLIFY_FUNCTION = DOUBLIFY.function
DOUBLIFY_BLOCK = DOUBLIFY.block


def doublify_grid(rows: int, cols: int) -> tuple[int, int, int]:
    """Blocks needed to cover a rows×cols array with doublify."""
    return DOUBLIFY.grid(rows, cols)


def read_source(filename: str) -> str:
    """The text of one shipped `.cu` file."""
    return _resource(filename).read_text(encoding="utf-8")


def source_path(filename: str) -> AbstractContextManager[Path]:
    """A filesystem path to one shipped `.cu` file (for nvcc), as a context manager."""
    return resources.as_file(_resource(filename))


def _resource(filename: str):
    if filename not in SOURCE_FILES:
        raise ValueError(f"no kernel source {filename!r}; shipped: {', '.join(SOURCE_FILES)}")
    return resources.files(__package__).joinpath(filename)


__all__ = [
    "DOUBLIFY_BLOCK",
    "DOUBLIFY_FUNCTION",
    "MATMUL_LAUNCHES",
    "MAX_GRID_Y",
    "SOURCE_FILES",
    "MatmulLaunch",
    "doublify_grid",
    "nvcc_define_flags",
    "read_source",
    "source_path",
]
