"""`cuda-kernels bench-service`: flags -> `ServiceBenchSettings` -> `bench.service`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cuda_kernels.bench.service import ServiceBenchSettings, format_table, run_benchmark
from cuda_kernels.extras import require_extra
from cuda_kernels.settings import add_flags, from_flags

DEFAULT_OUT = Path("runs/bench-service")

NAME = "bench-service"
SUMMARY = "measure the gRPC service: payload throughput, latency, overhead, stalls"
DESCRIPTION = """\
Measure what the gRPC service costs on top of its backend: Doublify payload throughput
(unary and streamed), MatMul round-trip latency with concurrent clients, Health.Check and
small-call latency while --stalled-streams streams are open and stalled, and the same
matmul called in-process. For a local numpy server it also compares numpy's BLAS pinned
to --blas-threads with the library's default threads. Starts a local 'cuda-kernels serve'
unless --target names a running server; that server and the stall measurement need the
'serve' extra (against a --target, --stalled-streams 0 runs without it). Prints a table and
writes the JSON into --out; to refresh the committed CPU results, pass
--out packages/cuda-kernels/benchmarks/results/cpu."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser, ServiceBenchSettings)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the JSON")
    parser.add_argument(
        "--json-name", type=_json_name, default="service.json", help="file name of the JSON"
    )


def run(args: argparse.Namespace) -> int:
    settings = from_flags(ServiceBenchSettings, args)
    if args.target is None or settings.stalled_streams:
        require_extra("serve", args.argv)  # the local server; the health client of the stalls
    results = run_benchmark(settings)
    print(format_table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / args.json_name
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


def _json_name(name: str) -> str:
    if not name.endswith(".json") or "/" in name:
        raise argparse.ArgumentTypeError(f"a plain file name ending in .json, got {name!r}")
    return name
