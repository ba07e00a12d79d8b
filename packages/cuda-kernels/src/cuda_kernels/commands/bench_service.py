"""`cuda-kernels bench-service`: flags -> `ServiceBenchSettings` -> `bench.service`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cuda_kernels.backends import BACKEND_NAMES
from cuda_kernels.commands import UsageError, add_command, read_if_given
from cuda_kernels.extras import require_extra
from cuda_kernels.rpc.protocol.auth import read_token_file

DEFAULT_OUT = Path("runs/bench-service")

SUMMARY = "measure the gRPC service: payload throughput, latency, overhead, stalls"
DESCRIPTION = """\
Measure what the gRPC service costs on top of its backend: Doublify payload throughput
(unary and streamed), MatMul round-trip latency with concurrent clients, Health.Check and
small-call latency while --stalled-streams streams are open and stalled, and the same
matmul called in-process. For a local numpy server it also compares numpy's BLAS pinned
to --blas-threads with the library's default threads. Starts a local 'cuda-kernels serve'
(needs the 'serve' extra) unless --target names a running server. Prints a table and
writes the JSON into --out; to refresh the committed CPU results, pass
--out packages/cuda-kernels/benchmarks/results/cpu."""


def add_to(subparsers: argparse._SubParsersAction) -> None:
    """Register `bench-service` on the `cuda-kernels` parser."""
    add = add_command(subparsers, "bench-service", SUMMARY, DESCRIPTION, run).add_argument
    add("--target", help="host:port of a running server; none given: start a local one")
    add("--backend", choices=BACKEND_NAMES, default="auto", help="backend of the local server")
    add("--token-file", type=Path, help="bearer token for --target")
    add("--tls-ca", type=Path, help="CA certificate (PEM) for --target")
    add("--sizes-mib", type=int, nargs="+", default=[1, 16, 64], help="Doublify payload sizes")
    add("--clients", type=int, nargs="+", default=[1, 8, 32], help="concurrent MatMul clients")
    add("--matmul-size", type=int, default=256, help="n of the n×n MatMul")
    add("--calls", type=int, default=200, help="timed calls per client")
    add("--repeats", type=int, default=5, help="timed calls per payload size")
    add("--blas-threads", type=int, default=1,
        help="numpy BLAS threads of the local server (0: the library's default)")
    add("--stalled-streams", type=int, default=64,
        help="stalled streams held open while health is timed (0: skip)")
    add("--no-blas-comparison", action="store_true",
        help="skip the local servers with and without BLAS pinning")
    add("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    add("--json-name", default="service.json", help="file name of the JSON")


def run(args: argparse.Namespace) -> int:
    """Run the service benchmark, print its table, write the JSON."""
    if args.target is None:  # before the import: the benchmark's modules need it too
        require_extra("serve", args.argv)  # for the local server
    from cuda_kernels.bench.service import (
        ServiceBenchSettings,
        check_json_name,
        format_table,
        run_benchmark,
        write_results,
    )

    if args.target is None and (args.token_file or args.tls_ca):
        raise UsageError("--token-file and --tls-ca apply to --target only")
    settings = ServiceBenchSettings(
        sizes_mib=tuple(args.sizes_mib),
        clients=tuple(args.clients),
        matmul_size=args.matmul_size,
        calls_per_client=args.calls,
        repeats=args.repeats,
        backend=args.backend,
        target=args.target,
        token=read_if_given(args.token_file, read_token_file),
        tls_ca=read_if_given(args.tls_ca),
        blas_threads=args.blas_threads,
        stalled_streams=args.stalled_streams,
        compare_blas=not args.no_blas_comparison,
    )
    try:
        settings.check()
        check_json_name(args.json_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    results = run_benchmark(settings)
    print(format_table(results))
    path = write_results(results, args.out, args.json_name)
    print(f"\nwrote {path}", file=sys.stderr)
    return 0
