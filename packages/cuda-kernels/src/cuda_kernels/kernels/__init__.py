"""The CUDA sources shipped with the package (`*.cu`, package data) and how to read them.

The launch facts of every kernel (names, order, block shapes, tile constants) live in
`cuda_kernels.kernels.ladder`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path

from cuda_kernels.kernels.ladder import SOURCE_FILES


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


__all__ = ["read_source", "source_path"]
