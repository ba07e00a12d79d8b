"""Runs the real .cu kernel source on the CPU to check index arithmetic without a GPU.

`cpu_emulation/harness.cpp` compiles matmul.cu and doublify.cu as plain C++20 with a small
shim (`cuda_shim.h`): one std::thread per CUDA thread, std::barrier for __syncthreads, blocks
run in turn. It launches each kernel with the grid and block shapes the pycuda backend uses
(`cuda_kernels.kernels.ladder`, which also names the kernels it compiles in), on an output
filled with NaN, and we compare with a float64
reference. This catches wrong tile indexing, missing edge guards, a launch shape that does
not match the kernel, and a missing barrier in the double-buffered loop (as a race that
changes results) - not speed, and not GPU-only effects (alignment faults, bank conflicts).
"""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cuda_kernels.kernels import source_path
from cuda_kernels.kernels.ladder import DOUBLIFY, LADDER, nvcc_define_flags

HERE = Path(__file__).parent / "cpu_emulation"
CXX = shutil.which("g++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no C++20 compiler (g++ or clang++) found")

# (n, m, p): tile multiples, odd shapes, m not a multiple of 4 (scalar-load path), m < BK,
# p not a multiple of 4 (scalar stores), several k-tiles (double buffering), single elements.
SHAPES = [
    (1, 1, 1),
    (5, 3, 7),
    (128, 16, 128),
    (130, 36, 132),
    (131, 33, 129),
    (64, 70, 200),
    (257, 20, 8),
]


def compile_harness(out: Path, defines: list[str], *flags: str) -> subprocess.CompletedProcess:
    kernels = " ".join(f"X({launch.function})" for launch in LADDER.values())
    with source_path("matmul.cu") as matmul, source_path("doublify.cu") as doublify:
        return subprocess.run(
            [CXX, "-std=c++20", "-O1", "-fno-strict-aliasing", "-pthread", f"-I{HERE}",
             f'-DKERNEL_SOURCE_MATMUL="{matmul}"', f'-DKERNEL_SOURCE_DOUBLIFY="{doublify}"',
             f"-DMATMUL_KERNELS={kernels}", *defines, *flags, str(HERE / "harness.cpp"),
             "-o", str(out)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("harness") / "harness"
    defines = nvcc_define_flags("matmul.cu") + nvcc_define_flags("doublify.cu")
    proc = compile_harness(out, defines)
    if proc.returncode != 0 and "barrier" in proc.stderr and "No such file" in proc.stderr:
        pytest.skip(f"{CXX} lacks C++20 <barrier>")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("source", ["matmul.cu", "doublify.cu"])
def test_a_missing_define_stops_the_compile(tmp_path, source):
    other = "doublify.cu" if source == "matmul.cu" else "matmul.cu"
    proc = compile_harness(tmp_path / "harness.ii", nvcc_define_flags(other), "-E")
    assert proc.returncode != 0
    assert f"{source} needs" in proc.stderr and "nvcc_define_flags" in proc.stderr


def run_kernel(harness, tmp_path, function, grid, block, a, b=None, p=1) -> np.ndarray:
    a.tofile(tmp_path / "a.bin")
    if b is not None:
        b.tofile(tmp_path / "b.bin")
    out = tmp_path / "c.bin"
    n, m = a.shape
    proc = subprocess.run(
        [str(harness), function, str(grid[0]), str(grid[1]), str(block[0]), str(block[1]),
         str(tmp_path), str(out), str(n), str(m), str(p)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return np.fromfile(out, dtype=np.float32).reshape(n, p if b is not None else m)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("kernel", list(LADDER))
def test_matmul_kernel_source_on_cpu(harness, tmp_path, kernel, shape):
    n, m, p = shape
    rng = np.random.default_rng(n * 7919 + m * 31 + p)
    a = rng.uniform(-1, 1, size=(n, m)).astype(np.float32)
    b = rng.uniform(-1, 1, size=(m, p)).astype(np.float32)
    launch = LADDER[kernel]
    c = run_kernel(harness, tmp_path, launch.function, launch.grid(n, p), launch.block, a, b, p)
    reference = a.astype(np.float64) @ b.astype(np.float64)
    assert not np.isnan(c).any(), f"{kernel} left {np.isnan(c).sum()} elements unwritten"
    error = np.max(np.abs(c - reference)) / np.max(np.abs(reference))
    assert error < 1e-5, f"{kernel} {shape}: relative error {error:.3g}"


@pytest.mark.parametrize("shape", [(1, 1), (16, 16), (17, 33), (40, 3)])
def test_doublify_kernel_source_on_cpu(harness, tmp_path, shape):
    x = np.random.default_rng(5).uniform(-1, 1, size=shape).astype(np.float32)
    y = run_kernel(harness, tmp_path, DOUBLIFY.function, DOUBLIFY.grid(*shape), DOUBLIFY.block, x)
    np.testing.assert_array_equal(y, 2 * x)
