"""`cuda-kernels bench`: flags -> `BenchSettings` -> `BenchRun` -> results in `--out`."""

from __future__ import annotations

import argparse
from pathlib import Path

from cuda_kernels.bench import report
from cuda_kernels.bench.kernels import BenchRun, BenchSettings
from cuda_kernels.extras import require_extra
from cuda_kernels.settings import add_flags, from_flags

NAME = "bench"
SUMMARY = "validate and time doublify and the matmul ladder against cuBLAS and numpy"
DESCRIPTION = """\
Validate doublify and the matmul kernels, then time them beside cuBLAS and numpy.

Every kernel is first checked against a float64 reference on fresh random inputs, odd
shapes included (error = max|C - C_ref| / max|C_ref| < 1e-4); a kernel that fails is
reported, not timed, and the command exits 1. Then each is timed (CUDA events on the GPU,
wall clock for numpy; median of --repeats), and doublify beside a copy of the same bytes.
Prints a table and writes results.json, table.txt and three PNG plots into --out.
Without a GPU only numpy is measured. The plots need the 'bench' extra (matplotlib)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for results.json, table.txt and PNGs"
    )
    add_flags(parser, BenchSettings)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; 1 when a kernel failed validation, else 0."""
    settings = from_flags(BenchSettings, args)
    require_extra("bench", args.argv)
    bench_run = BenchRun(settings).run()
    results = bench_run.as_json()
    written = report.write_outputs(results, args.out)
    print(report.summary(results))
    print(f"wrote {', '.join(path.name for path in written)} into {args.out}")
    return 1 if bench_run.failed else 0
