"""The CUDA sources shipped with the package, and the launch shape of every kernel.

Why here and not in the backend: the launch geometry is fixed by the kernels' own code
(tile sizes, threads per block), so it sits beside the `.cu` files; the pycuda backend and
the nvcc compile test both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

SOURCE_FILES = ("doublify.cu", "matmul.cu")


@dataclass(frozen=True)
class MatmulLaunch:
    """How to launch one matmul kernel: its CUDA name, block shape and tile of C per block."""

    function: str
    block: tuple[int, int, int]
    tile_rows: int  # rows of C one block computes
    tile_cols: int  # columns of C one block computes

    def grid(self, n: int, p: int) -> tuple[int, int, int]:
        """Blocks needed to cover an n×p result."""
        return (-(-p // self.tile_cols), -(-n // self.tile_rows), 1)


#: Rung name -> launch; must match the tile constants in matmul.cu.
MATMUL_LAUNCHES: dict[str, MatmulLaunch] = {
    "naive": MatmulLaunch("matmul_naive", (16, 16, 1), 16, 16),
    "tiled": MatmulLaunch("matmul_tiled", (32, 32, 1), 32, 32),
    "blocktiled": MatmulLaunch("matmul_blocktiled", (256, 1, 1), 128, 128),
    "warptiled": MatmulLaunch("matmul_warptiled", (128, 1, 1), 128, 128),
}

DOUBLIFY_FUNCTION = "doublify"
DOUBLIFY_BLOCK = (16, 16, 1)

#: CUDA's limit on gridDim.y (and z); gridDim.x may be far larger.
MAX_GRID_Y = 65535


def doublify_grid(rows: int, cols: int) -> tuple[int, int, int]:
    """Blocks of 16×16 needed to cover a rows×cols array."""
    return (-(-cols // DOUBLIFY_BLOCK[0]), -(-rows // DOUBLIFY_BLOCK[1]), 1)


def read_source(filename: str) -> str:
    """The text of one shipped `.cu` file."""
    if filename not in SOURCE_FILES:
        raise ValueError(f"no kernel source {filename!r}; shipped: {', '.join(SOURCE_FILES)}")
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


def source_path(filename: str):
    """A filesystem path to one shipped `.cu` file (for nvcc)."""
    return resources.as_file(resources.files(__package__).joinpath(filename))
