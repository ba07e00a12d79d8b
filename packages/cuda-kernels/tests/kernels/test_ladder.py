"""kernels/ladder.py, the one record of the kernels' launch facts, and what the sources and
the backends derive from it."""

import re

import pytest

import cuda_kernels
from cuda_kernels.kernels import read_source
from cuda_kernels.kernels.ladder import (
    FASTEST_FIRST,
    LADDER,
    SOURCE_FILES,
    launches_in,
    nvcc_define_flags,
)


def test_the_ladder_in_rung_order_and_fastest_first():
    assert tuple(LADDER) == cuda_kernels.KERNELS == ("naive", "tiled", "blocktiled", "warptiled")
    assert FASTEST_FIRST == ("warptiled", "blocktiled", "tiled", "naive")



@pytest.mark.parametrize(
    ("rung", "block", "tile"),
    [("naive", (16, 16, 1), 16), ("tiled", (32, 32, 1), 32),
     ("blocktiled", (256, 1, 1), 128), ("warptiled", (128, 1, 1), 128)],
)  # fmt: skip
def test_launch_shapes(rung, block, tile):
    launch = LADDER[rung]
    assert launch.block == block and launch.threads == block[0] * block[1]
    assert launch.grid(1, 1) == (1, 1, 1)
    assert launch.grid(tile + 1, 2 * tile) == (2, 2, 1)  # (columns of C, rows of C)


def test_define_flags_name_every_constant_once():
    flags = nvcc_define_flags("matmul.cu")
    assert "-DTILE=32" in flags and "-DBT_THREADS=256" in flags and "-DWT_THREADS=128" in flags
    assert len({flag.split("=")[0] for flag in flags}) == len(flags)
    assert nvcc_define_flags("doublify.cu") == ["-DDOUBLIFY_BLOCK=16"]
    with pytest.raises(ValueError, match=r"no kernel source 'gemm\.cu'"):
        nvcc_define_flags("gemm.cu")


@pytest.mark.parametrize("source", SOURCE_FILES)
def test_the_sources_use_the_defines_and_state_their_launch_bounds(source):
    text = read_source(source)
    kernels = re.findall(r'extern "C" __global__ void (?:__launch_bounds__\((.+?)\)\s*)?(\w+)\(',
                         text)  # fmt: skip
    assert {name for _, name in kernels} == {launch.function for launch in launches_in(source)}
    assert all(bounds for bounds, _ in kernels), "every kernel states __launch_bounds__"
    for flag in nvcc_define_flags(source):
        name = flag.removeprefix("-D").split("=")[0]
        assert f"#define {name} " not in text, f"{name} must come from ladder.py only"
        assert name in text
