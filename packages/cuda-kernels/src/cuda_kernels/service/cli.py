"""`cuda-kernels serve` and `cuda-kernels bench-service`, added to the main CLI.

`cuda_kernels.cli` calls `add_subcommands(subparsers)`; each handler returns the exit code
and lets ValueError/RuntimeError/OSError reach the main CLI, which prints them as one line.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from cuda_kernels.backends import BACKEND_NAMES


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add `serve` and `bench-service` to the `cuda-kernels` parser."""
    _add_serve(subparsers)
    _add_bench_service(subparsers)


def _add_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve matmul and doublify over gRPC (cuda_kernels.v1.KernelService)",
        description="Serve KernelService with health checks and reflection until SIGTERM "
        "or SIGINT, then drain: health NOT_SERVING, in-flight calls finish, exit 0.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=50051, help="0 picks a free port")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="auto")
    parser.add_argument(
        "--max-message-mb", type=float, default=64, help="largest unary message (MiB)"
    )
    parser.add_argument(
        "--max-tensor-mb", type=float, default=1024, help="largest tensor on any RPC (MiB)"
    )
    parser.add_argument(
        "--auth-token-file", type=Path, help="require 'authorization: Bearer <file content>'"
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key)")
    parser.add_argument("--tls-key", type=Path, help="PEM private key (with --tls-cert)")
    parser.add_argument("--workers", type=int, default=0, help="serving threads (0: automatic)")
    parser.add_argument(
        "--grace-seconds", type=float, default=10.0, help="time in-flight calls get at shutdown"
    )
    parser.add_argument("--quiet", action="store_true", help="no log line per call")
    parser.set_defaults(func=run_serve)


def _add_bench_service(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench-service",
        help="measure the gRPC service: payload throughput, latency, overhead",
        description="Start a local server (or use --target) and measure Doublify payload "
        "throughput, MatMul latency under concurrency, and the overhead over in-process calls.",
    )
    parser.add_argument("--target", help="an existing server (default: start a local one)")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default="auto",
                        help="backend of the local server")  # fmt: skip
    parser.add_argument("--token-file", type=Path, help="bearer token for --target")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate (PEM) for --target")
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--matmul-size", type=int, default=256)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per client")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per payload size")
    parser.add_argument(
        "--out", type=Path, default=Path("bench-service"), help="folder for the JSON"
    )
    parser.add_argument("--json-name", default="service.json", help="file name of the JSON")
    parser.set_defaults(func=run_bench_service)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT, then drain and return 0."""
    from cuda_kernels.service.server import KernelServer, ServerConfig, read_token_file

    if not args.quiet:
        logging.getLogger("cuda_kernels.service").setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        backend=args.backend,
        max_message_mb=args.max_message_mb,
        max_tensor_mb=args.max_tensor_mb,
        auth_token=read_token_file(args.auth_token_file) if args.auth_token_file else None,
        tls_cert=args.tls_cert.read_bytes() if args.tls_cert else None,
        tls_key=args.tls_key.read_bytes() if args.tls_key else None,
        workers=args.workers,
        grace_seconds=args.grace_seconds,
    )
    config.check()
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    server = KernelServer(config).start()
    backend = server.backend
    print(
        f"listening on {server.address} (backend={backend.name}, device={backend.device})",
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    logging.getLogger("cuda_kernels.service").info(
        "received %s", signal.Signals(received[0]).name
    )
    server.drain()
    return 0


def run_bench_service(args: argparse.Namespace) -> int:
    """Run the service benchmark, print its table, write service.json."""
    from cuda_kernels.service.bench import BenchSettings, format_table, run_benchmark, write_results
    from cuda_kernels.service.server import read_token_file

    if args.target is None and (args.token_file or args.tls_ca):
        raise ValueError("--token-file and --tls-ca apply to --target only")
    settings = BenchSettings(
        sizes_mib=tuple(args.sizes_mib),
        clients=tuple(args.clients),
        matmul_size=args.matmul_size,
        calls_per_client=args.calls,
        repeats=args.repeats,
        backend=args.backend,
        target=args.target,
        token=read_token_file(args.token_file) if args.token_file else None,
        tls_ca=args.tls_ca.read_bytes() if args.tls_ca else None,
    )
    if not args.json_name.endswith(".json") or "/" in args.json_name:
        raise ValueError(f"--json-name must be a plain file name ending in .json: {args.json_name}")
    results = run_benchmark(settings)
    print(format_table(results))
    path = write_results(results, args.out, args.json_name)
    print(f"\nwrote {path}", file=sys.stderr)
    return 0
