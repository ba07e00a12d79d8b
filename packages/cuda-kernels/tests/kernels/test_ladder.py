"""kernels/ladder.py, the one record of the kernels' launch facts, and what the sources and
the backends derive from it."""

import re

import pytest

import cuda_kernels
from cuda_kernels.kernels import read_source
from cuda_kernels.kernels.ladder import (
    FASTEST,
    FASTEST_FIRST,
    LADDER,
    SOURCE_FILES,
    fastest_first,
    launches_in,
    nvcc_define_flags,
)


def test_the_ladder_in_rung_order_and_the_named_fastest_first():
    assert tuple(LADDER) == cuda_kernels.KERNELS
    assert FASTEST_FIRST[0] == FASTEST and sorted(FASTEST_FIRST) == sorted(LADDER)


def test_an_appended_rung_is_not_the_default_until_named_fastest():
    ladder = ("naive", "tiled", "blocktiled", "warptiled", "tensorcore")
    assert fastest_first(ladder, "warptiled") == (
        "warptiled", "tensorcore", "blocktiled", "tiled", "naive"
    )
    assert fastest_first(ladder, "tensorcore")[0] == "tensorcore"
    with pytest.raises(ValueError, match="'wmma' is not in the ladder"):
        fastest_first(ladder, "wmma")


@pytest.mark.parametrize("rung", list(LADDER))
def test_launch_shapes(rung):
    launch = LADDER[rung]
    assert 32 <= launch.threads <= 1024  # whole warps, within CUDA's block limit
    assert launch.grid(1, 1) == (1, 1, 1)
    # one block past a tile's rows, two tiles of columns: (columns of C, rows of C)
    assert launch.grid(launch.tile_rows + 1, 2 * launch.tile_cols) == (2, 2, 1)


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
