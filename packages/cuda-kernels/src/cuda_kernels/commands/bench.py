"""`cuda-kernels bench`: flags -> `BenchSettings` -> `BenchRun` -> results in `--out`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cuda_kernels.backends import BACKEND_NAMES
from cuda_kernels.bench import report
from cuda_kernels.bench.kernels import (
    ALL_KERNELS,
    DEFAULT_DOUBLIFY_SIZES_CPU,
    DEFAULT_DOUBLIFY_SIZES_GPU,
    DEFAULT_SIZES,
    DOUBLIFY_N,
    BenchRun,
    BenchSettings,
)
from cuda_kernels.commands import UsageError, add_command
from cuda_kernels.extras import require_extra

SUMMARY = "validate and time doublify and the matmul ladder against cuBLAS and numpy"
DESCRIPTION = """\
Validate doublify and the matmul kernels, then time them beside cuBLAS and numpy.

Every kernel is first checked against a float64 reference on fresh random inputs, odd
shapes included (error = max|C - C_ref| / max|C_ref| < 1e-4); a kernel that fails is
reported, not timed, and the command exits 1. Then each is timed (CUDA events on the GPU,
wall clock for numpy; median of --repeats), and doublify beside a copy of the same bytes.
Prints a table and writes results.json, table.txt and three PNG plots into --out.
Without a GPU only numpy is measured. The plots need the 'bench' extra (matplotlib)."""


def add_to(subparsers: argparse._SubParsersAction) -> None:
    """Register `bench` on the `cuda-kernels` parser."""
    add = add_command(subparsers, "bench", SUMMARY, DESCRIPTION, run).add_argument
    add("--out", type=Path, required=True, help="folder for results.json, table.txt and PNGs")
    add("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N",
        help="square matmul sizes n")
    add("--kernels", nargs="+", default=list(ALL_KERNELS), metavar="K",
        help=f"any of {', '.join(ALL_KERNELS)}")
    doublify_defaults = (
        f"{' '.join(map(str, DEFAULT_DOUBLIFY_SIZES_GPU))} on a GPU, "
        f"{' '.join(map(str, DEFAULT_DOUBLIFY_SIZES_CPU))} on the CPU"
    )
    add("--doublify-sizes", type=int, nargs="+", default=None, metavar="N",
        help=f"n of the n×n doublify sweep, {DOUBLIFY_N} always included; None means "
        f"{doublify_defaults}")
    add("--repeats", type=int, default=20, help="timed runs per measurement (the median counts)")
    add("--warmup", type=int, default=3, help="untimed runs before them")
    add("--numpy-max-n", type=int, default=4096, help="largest n timed for numpy matmul (slow)")
    add("--backend", choices=BACKEND_NAMES, default="auto",
        help="auto: the GPU when usable, else numpy only")
    add("--seed", type=int, default=0, help="random seed of the inputs")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; 1 when a kernel failed validation, else 0."""
    settings = BenchSettings(
        sizes=tuple(args.sizes),
        kernels=tuple(args.kernels),
        doublify_sizes=tuple(args.doublify_sizes) if args.doublify_sizes else None,
        repeats=args.repeats,
        warmup=args.warmup,
        numpy_max_n=args.numpy_max_n,
        backend=args.backend,
        seed=args.seed,
    )
    try:
        settings.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    require_extra("bench", args.argv)
    bench_run = BenchRun(settings).run()
    results = bench_run.as_json()
    written = report.write_outputs(results, args.out)
    print(report.summary(results))
    print(f"wrote {', '.join(path.name for path in written)} into {args.out}")
    return 1 if bench_run.failed else 0
