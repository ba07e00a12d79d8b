"""Every fact about launching the shipped kernels, stated once: names, order, the fastest,
shapes, tiles.

Why one module: several places must agree on these facts. The pycuda backend launches the
kernels with them; the `.cu` sources receive them as `-D` defines built here
(`nvcc_define_flags`), so a tile size cannot drift between Python and CUDA (a missing
define is a compile error, `#error` in the source); the tests compile the source with nvcc
or run it on the CPU with the same defines and the same list of kernels; the precompiled
fatbins and their manifest are built from them. Adding a matmul kernel is its code in
`matmul.cu` and one entry of `LADDER`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

#: CUDA's limit on gridDim.y (and z); gridDim.x may be far larger.
MAX_GRID_Y = 65535
WARP_SIZE = 32


@dataclass(frozen=True)
class Launch:
    """How one kernel runs: its CUDA name and source file, its block shape, the tile of
    the output one block covers, and the compile-time constants its source needs."""

    function: str
    source: str
    block: tuple[int, int, int]
    tile_rows: int  # output rows one block computes
    tile_cols: int  # output columns one block computes
    defines: Mapping[str, int] = field(default_factory=dict)

    @property
    def threads(self) -> int:
        """Threads per block: the kernel's `__launch_bounds__`."""
        return math.prod(self.block)

    def grid(self, rows: int, cols: int) -> tuple[int, int, int]:
        """Blocks needed to cover a rows×cols output."""
        return (-(-cols // self.tile_cols), -(-rows // self.tile_rows), 1)


def _naive(block: int = 16) -> Launch:
    """version 1: one thread per element of C."""
    defines = {"NAIVE_BLOCK": block}
    return Launch("matmul_naive", "matmul.cu", (block, block, 1), block, block, defines)


def _tiled(tile: int = 32) -> Launch:
    """version 2: TILE×TILE shared-memory tiles, one thread per element of C."""
    return Launch("matmul_tiled", "matmul.cu", (tile, tile, 1), tile, tile, {"TILE": tile})


def _blocktiled(bm: int = 128, bn: int = 128, bk: int = 8, tm: int = 8, tn: int = 8) -> Launch:
    """version 3: a BM×BN tile per block, a TM×TN block of C per thread."""
    threads = (bm // tm) * (bn // tn)
    defines = dict(BT_BM=bm, BT_BN=bn, BT_BK=bk, BT_TM=tm, BT_TN=tn, BT_THREADS=threads)
    return Launch("matmul_blocktiled", "matmul.cu", (threads, 1, 1), bm, bn, defines)


def _warptiled(
    bm: int = 128,
    bn: int = 128,
    bk: int = 16,
    wm: int = 64,
    wn: int = 64,
    wniter: int = 4,
    tm: int = 8,
    tn: int = 4,
) -> Launch:
    """version 4: BM×BN per block, WM×WN per warp, WNITER sub-tiles of TM×TN per thread."""
    threads = (bm // wm) * (bn // wn) * WARP_SIZE
    defines = dict(WT_BM=bm, WT_BN=bn, WT_BK=bk, WT_WM=wm, WT_WN=wn, WT_WNITER=wniter)
    defines.update(WT_TM=tm, WT_TN=tn, WT_THREADS=threads)
    return Launch("matmul_warptiled", "matmul.cu", (threads, 1, 1), bm, bn, defines)


#: The matmul ladder in rung order: each rung is meant to be faster than the one before
#: (BENCHMARKS.md holds the measurements).
LADDER: Mapping[str, Launch] = {
    "naive": _naive(),
    "tiled": _tiled(),
    "blocktiled": _blocktiled(),
    "warptiled": _warptiled(),
}
KERNELS: tuple[str, ...] = tuple(LADDER)
#: The default kernel: the fastest rung as measured, named rather than implied by position,
#: so a new rung becomes the default only when its measurements say so and this line changes.
FASTEST = "warptiled"


def fastest_first(kernels: tuple[str, ...], fastest: str) -> tuple[str, ...]:
    """`fastest`, then the other rungs from the last to the first (each rung is meant to
    beat the one before it); a backend's kernel list, whose first is its default."""
    if fastest not in kernels:
        raise ValueError(f"the fastest kernel {fastest!r} is not in the ladder {kernels}")
    return (fastest, *(name for name in reversed(kernels) if name != fastest))


FASTEST_FIRST: tuple[str, ...] = fastest_first(KERNELS, FASTEST)

#: y = 2·x, one thread per element in square blocks.
DOUBLIFY = Launch("doublify", "doublify.cu", (16, 16, 1), 16, 16, {"DOUBLIFY_BLOCK": 16})

#: Not a task kernel: the benchmark's wait, queued before a timed batch (see spin.cu).
SPIN = Launch("spin_wait", "spin.cu", (1, 1, 1), 1, 1, {"SPIN_THREADS": 1})

SOURCE_FILES: tuple[str, ...] = ("doublify.cu", "matmul.cu", "spin.cu")


def launches_in(source: str) -> list[Launch]:
    """The kernels compiled from one shipped `.cu` file."""
    if source not in SOURCE_FILES:
        raise ValueError(f"no kernel source {source!r}; shipped: {', '.join(SOURCE_FILES)}")
    return [launch for launch in (*LADDER.values(), DOUBLIFY, SPIN) if launch.source == source]


def nvcc_define_flags(source: str) -> list[str]:
    """`-DNAME=value` for every constant `source` needs: pass them to nvcc (or pycuda's
    `SourceModule(options=...)`, or a C++ compiler running the source on the CPU)."""
    defines: dict[str, int] = {}
    for launch in launches_in(source):
        defines.update(launch.defines)
    return [f"-D{name}={value}" for name, value in defines.items()]
