"""The `bench` subcommand: parse and check the flags, validate, time, report.

Order of work, as in llm.c's dev/cuda: every kernel is first checked against a float64
reference on fresh random inputs (tile multiples and odd shapes); a kernel that fails is
reported and not timed, and the command then exits 1. Timing follows, with cuBLAS and
numpy measured in the same run, so every ratio compares numbers taken minutes apart on the
same machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

import numpy as np

from cuda_kernels import KERNELS, __version__
from cuda_kernels.backends import BackendUnavailableError, get_backend
from cuda_kernels.bench import cpu, report
from cuda_kernels.bench.validate import VALIDATION_SHAPES, Check, check_doublify, check_matmul

BASELINES = ("cublas", "numpy")
ALL_KERNELS = (*KERNELS, *BASELINES)
DEFAULT_SIZES = (256, 512, 1024, 2048, 4096)
DOUBLIFY_N = 4096  # the n = 2^12: a 4096×4096 array
DEFAULT_DOUBLIFY_SIZES_GPU = (1024, 2048, 4096, 8192, 16384)
DEFAULT_DOUBLIFY_SIZES_CPU = (1024, 2048, 4096, 8192)
REFERENCE_MAX_N = 2048  # bench sizes up to this are validated too (float64 reference cost)
NO_GPU_NOTE = (
    "No usable GPU here ({reason}). Only the numpy CPU backend was measured; GPU numbers "
    "need a GPU: run packages/cuda-kernels/benchmarks/gpu_check.sh on an H100/H200."
)


def add_bench_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register `bench` on the `cuda-kernels` parser."""
    parser = subparsers.add_parser(
        "bench",
        help="validate and time doublify and the matmul ladder against cuBLAS and numpy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for results.json + PNGs")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES),
                        metavar="N", help="square matmul sizes n (default: %(default)s)")
    parser.add_argument("--kernels", nargs="+", default=list(ALL_KERNELS), metavar="K",
                        help=f"any of {', '.join(ALL_KERNELS)} (default: all)")
    parser.add_argument("--doublify-sizes", type=int, nargs="+", default=None, metavar="N",
                        help="n of the n×n doublify sweep; 4096 is always included "
                             f"(default GPU {DEFAULT_DOUBLIFY_SIZES_GPU}, "
                             f"CPU {DEFAULT_DOUBLIFY_SIZES_CPU})")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed runs per measurement; the median is reported "
                             "(default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--numpy-max-n", type=int, default=4096,
                        help="largest n timed for numpy matmul, which is slow (default 4096)")
    parser.add_argument("--backend", choices=("auto", "pycuda", "numpy"), default="auto",
                        help="auto: the GPU when usable, else numpy only (default auto)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the inputs")
    parser.set_defaults(func=run_bench)


def _check_args(args: argparse.Namespace) -> None:
    from cuda_kernels.cli import UsageError

    unknown = [k for k in args.kernels if k not in ALL_KERNELS]
    if unknown:
        raise UsageError(
            f"unknown kernel(s) {', '.join(unknown)}; choose from {', '.join(ALL_KERNELS)}"
        )
    for flag, values in (("--sizes", args.sizes), ("--doublify-sizes", args.doublify_sizes or [1])):
        bad = [v for v in values if not 1 <= v <= 65536]
        if bad:
            raise UsageError(f"{flag} must be between 1 and 65536, got {bad}")
    if args.repeats < 1 or args.warmup < 0:
        raise UsageError("--repeats must be >= 1 and --warmup >= 0")
    if args.numpy_max_n < 1:
        raise UsageError("--numpy-max-n must be >= 1")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pick_backend(name: str):
    """(pycuda backend or None, why there is none)."""
    if name == "numpy":
        return None, "--backend numpy was asked for"
    try:
        return get_backend("pycuda"), ""
    except BackendUnavailableError as exc:
        if name == "pycuda":
            raise
        return None, str(exc)


def run_bench(args: argparse.Namespace) -> int:
    """Run the whole benchmark; returns 1 when a kernel failed validation, else 0."""
    _check_args(args)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    gpu, no_gpu_reason = _pick_backend(args.backend)
    numpy_backend = get_backend("numpy")
    sizes = sorted(set(args.sizes))
    doublify_sizes = sorted(
        set(args.doublify_sizes or (DEFAULT_DOUBLIFY_SIZES_GPU if gpu else
                                    DEFAULT_DOUBLIFY_SIZES_CPU)) | {DOUBLIFY_N}
    )
    results: dict = {
        "schema": 1,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cuda_kernels_version": __version__,
        "host": {"python": platform.python_version(), "numpy": np.__version__,
                 "cpu_count": os.cpu_count(), "machine": platform.machine(),
                 "loadavg_1_5_15_at_start": list(os.getloadavg())},
        "settings": {"sizes": sizes, "kernels": list(args.kernels), "repeats": args.repeats,
                     "warmup": args.warmup, "seed": args.seed, "numpy_max_n": args.numpy_max_n,
                     "doublify_sizes": doublify_sizes,
                     "error_measure": "max|C-C_ref|/max|C_ref| against float64"},
        "gpu_note": None,
        "validation": [],
        "matmul": [],
        "doublify": [],
    }
    if gpu is None:
        note = NO_GPU_NOTE.format(reason=no_gpu_reason)
        _log(note)
        results["gpu_note"] = note
        results["device"] = {"name": numpy_backend.device, "backend": "numpy"}
        checks = _run_cpu(args, sizes, doublify_sizes, numpy_backend, rng, results)
    else:
        from cuda_kernels.bench import gpu as gpu_bench

        with gpu.activated():
            results["device"] = {"backend": "pycuda", **gpu_bench.device_facts(gpu)}
            checks = _run_gpu(args, sizes, doublify_sizes, gpu, numpy_backend, rng, results)

    for row in results["matmul"]:
        row["gflops"] = report.gflops(row["n"], row["median_ms"])
    report.add_cublas_shares(results["matmul"])
    json_path = report.write_json(results, args.out)
    plots = report.write_plots(results, args.out)

    failed = [c for c in checks if not c.ok]
    lines = [f"device: {results['device']['name']}"]
    for note in ("gpu_note", "cublas_note"):
        if results.get(note):
            lines.append(results[note])
    lines.append(f"validation: {len(checks) - len(failed)}/{len(checks)} checks passed")
    lines += [f"  FAILED {c.kernel} {c.shape}: error {c.error:.3g} >= {c.tolerance:g}"
              for c in failed]
    lines += ["", "matmul (float32, n×n·n×n):", report.matmul_table(results["matmul"]), "",
              "doublify (float32 n×n, GB/s = bytes read + written per second):",
              report.doublify_table(results["doublify"])]
    table = "\n".join(lines) + "\n"
    (args.out / "table.txt").write_text(table, encoding="utf-8")
    print(table)
    print(f"wrote {json_path}, table.txt and {', '.join(p.name for p in plots)}")
    return 1 if failed else 0


def _record_checks(checks: list[Check], results: dict) -> None:
    results["validation"].extend(c.as_dict() for c in checks)
    for check in checks:
        if not check.ok:
            _log(f"validation FAILED: {check.kernel} {check.shape} error {check.error:.3g}")


def _validation_shapes(sizes: list[int]) -> list[tuple[int, int, int]]:
    return [*VALIDATION_SHAPES, *((n, n, n) for n in sizes if n <= REFERENCE_MAX_N)]


def _doublify_row(n: int, doublify, copy) -> dict:
    moved = 2 * n * n * 4  # read x, write y
    gb_s = report.gb_per_s(moved, doublify.median_ms)
    copy_gb_s = report.gb_per_s(moved, copy.median_ms)
    return {"n": n, "array_mb": n * n * 4 / 1e6, **doublify.as_dict(), "gb_s": gb_s,
            "copy_median_ms": copy.median_ms, "copy_gb_s": copy_gb_s,
            "pct_of_copy": 100.0 * gb_s / copy_gb_s}


def _run_cpu(args, sizes, doublify_sizes, numpy_backend, rng, results) -> list[Check]:
    checks: list[Check] = []
    if "numpy" in args.kernels:
        checks += check_matmul("numpy", numpy_backend.matmul, _validation_shapes(sizes), rng)
    checks += check_doublify(numpy_backend.doublify, [(1, 1), (17, 33), (1000, 1001)], rng)
    _record_checks(checks, results)
    if "numpy" in args.kernels and not any(c.kernel == "numpy" and not c.ok for c in checks):
        _time_numpy(args, sizes, numpy_backend, rng, results)
    for n in doublify_sizes:
        _log(f"timing numpy doublify n={n}")
        doublify, copy = cpu.time_numpy_doublify(numpy_backend, n, args.repeats, args.warmup, rng)
        results["doublify"].append({**_doublify_row(n, doublify, copy), "backend": "numpy"})
    return checks


def _time_numpy(args, sizes, numpy_backend, rng, results) -> None:
    for n in sizes:
        if n > args.numpy_max_n:
            _log(f"skipping numpy matmul at n={n} (> --numpy-max-n {args.numpy_max_n})")
            continue
        _log(f"timing numpy n={n}")
        timing = cpu.time_numpy_matmul(numpy_backend, n, args.repeats, args.warmup, rng)
        results["matmul"].append({"n": n, "kernel": "numpy", "timer": "wall clock",
                                  **timing.as_dict()})


def _run_gpu(args, sizes, doublify_sizes, gpu, numpy_backend, rng, results) -> list[Check]:
    from cuda_kernels.bench import gpu as gpu_bench

    shapes = _validation_shapes(sizes)
    checks: list[Check] = []
    ladder = [k for k in KERNELS if k in args.kernels]
    for kernel in ladder:
        _log(f"validating {kernel}")
        checks += check_matmul(kernel, lambda a, b, k=kernel: gpu.matmul(a, b, k), shapes, rng)
    cublas = None
    if "cublas" in args.kernels:
        cublas, why = gpu_bench.find_cublas()
        if cublas is None:
            _log(f"cuBLAS baseline unavailable: {why}")
            results["cublas_note"] = f"cuBLAS baseline unavailable: {why}"
        else:
            results["device"]["cublas_via"] = cublas.library
            checks += check_matmul("cublas", lambda a, b: gpu_bench.check_cublas(cublas, a, b),
                                   shapes, rng)
    if "numpy" in args.kernels:
        checks += check_matmul("numpy", numpy_backend.matmul, shapes, rng)
    checks += check_doublify(gpu.doublify, [(1, 1), (17, 33), (1000, 1001), (4096, 4096)], rng)
    _record_checks(checks, results)
    broken = {c.kernel for c in checks if not c.ok}

    for n in sizes:
        for kernel in ladder:
            if kernel in broken:
                continue
            _log(f"timing {kernel} n={n}")
            timing = gpu_bench.time_kernel(gpu, kernel, n, args.repeats, args.warmup, rng)
            results["matmul"].append({"n": n, "kernel": kernel, "timer": "cuda events",
                                      **timing.as_dict()})
        if cublas is not None and "cublas" not in broken:
            _log(f"timing cublas n={n}")
            timing = gpu_bench.time_cublas(cublas, n, args.repeats, args.warmup, rng)
            results["matmul"].append({"n": n, "kernel": "cublas", "timer": "cuda events",
                                      **timing.as_dict()})
    if "numpy" in args.kernels and "numpy" not in broken:
        _time_numpy(args, sizes, numpy_backend, rng, results)
    if "doublify" not in broken:
        for n in doublify_sizes:
            _log(f"timing doublify n={n}")
            doublify, copy = gpu_bench.time_doublify_and_copy(
                gpu, n, args.repeats, args.warmup, rng
            )
            results["doublify"].append({**_doublify_row(n, doublify, copy), "backend": "pycuda"})
    return checks
