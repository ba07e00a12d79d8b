"""`cuda-kernels serve`: flags -> `ServerConfig` -> `rpc.server.serve.serve_until_signalled`.

The server's modules are imported only once the `serve` extra is known to be installed,
so that without it the command says what to run instead of failing on an import.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cuda_kernels.backends import BACKEND_NAMES
from cuda_kernels.commands import add_command, read_if_given
from cuda_kernels.extras import require_extra

SUMMARY = "serve matmul and doublify over gRPC (cuda_kernels.v1.KernelService)"
DESCRIPTION = """\
Serve cuda_kernels.v1.KernelService (matmul and doublify over gRPC) with health checks
and reflection, until SIGTERM or SIGINT; then drain: health turns NOT_SERVING, new calls
get UNAVAILABLE, calls in flight get --grace-seconds to finish, and the command exits 0.
A second signal during the drain stops at once. Prints 'listening on HOST:PORT
(backend=..., device=...)' once it serves, and one log line per call on stderr.

Clients that wait cost no thread: kernel work runs on --workers threads, and every call
reserves the memory it will hold (inputs plus result) in one budget first. Streams that
stall past --idle-seconds, or crawl below --min-stream-kib-per-s, are ended. With
--metrics-port, Prometheus metrics are served on http://METRICS_HOST:PORT/metrics.
Needs the 'serve' extra."""


def add_to(subparsers: argparse._SubParsersAction) -> None:
    """Register `serve` on the `cuda-kernels` parser."""
    add = add_command(subparsers, "serve", SUMMARY, DESCRIPTION, run).add_argument
    add("--host", default="127.0.0.1", help="address to bind")
    add("--port", type=int, default=50051, help="port to bind; 0 picks a free one (printed)")
    add("--backend", choices=BACKEND_NAMES, default="auto", help="where the kernels run")
    add("--max-message-mb", type=float, default=64, help="largest unary message (MiB)")
    add("--max-tensor-mb", type=float, default=1024, help="largest tensor on any RPC (MiB)")
    add("--auth-token-file", type=Path,
        help="require 'authorization: Bearer <file content>' on every call")
    add("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key): TLS")
    add("--tls-key", type=Path, help="PEM private key (with --tls-cert)")
    add("--workers", type=int, default=0,
        help="threads running kernel work; 0: one per core (2 to 32)")
    add("--max-queued", type=int, default=64,
        help="calls that may wait for a worker; more are refused at once (RESOURCE_EXHAUSTED)")
    add("--max-calls", type=int, default=1024,
        help="KernelService calls open at once (streams included); a second cap of this "
        "size holds Health.Watch and reflection streams together; more are refused at once")
    add("--memory-budget-mb", type=float, default=0,
        help="MiB that calls in flight may hold together (inputs plus results); 0: a quarter "
        "of the RAM, at most half the GPU memory with pycuda")
    add("--budget-wait-seconds", type=float, default=2.0,
        help="how long a stream waits for room in the memory budget before it is refused")
    add("--idle-seconds", type=float, default=10.0,
        help="a stream that sends (or reads) nothing for this long is ended")
    add("--min-stream-kib-per-s", type=float, default=64,
        help="after --idle-seconds, a stream slower than this is ended; 0: no floor")
    add("--blas-threads", type=int, default=1,
        help="BLAS threads per call for the numpy backend; 0: the library's default")
    add("--metrics-port", type=int,
        help="serve Prometheus metrics on this port (0 picks a free one, printed)")
    add("--metrics-host", default="127.0.0.1", help="address of the metrics endpoint")
    add("--grace-seconds", type=float, default=10.0,
        help="time in-flight calls get at shutdown")
    add("--quiet", action="store_true", help="no log line per call")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT, then drain and return 0."""
    require_extra("serve", args.argv)
    from cuda_kernels.rpc.server.config import ServerConfig, read_token_file
    from cuda_kernels.rpc.server.serve import serve_until_signalled

    service_log = logging.getLogger("cuda_kernels.service")
    if not args.quiet and service_log.getEffectiveLevel() > logging.INFO:
        service_log.setLevel(logging.INFO)  # the line per call; -vv shows DEBUG too
    config = ServerConfig(
        host=args.host,
        port=args.port,
        backend=args.backend,
        max_message_mb=args.max_message_mb,
        max_tensor_mb=args.max_tensor_mb,
        auth_token=read_if_given(args.auth_token_file, read_token_file),
        tls_cert=read_if_given(args.tls_cert),
        tls_key=read_if_given(args.tls_key),
        workers=args.workers,
        grace_seconds=args.grace_seconds,
        max_queued=args.max_queued,
        max_calls=args.max_calls,
        idle_seconds=args.idle_seconds,
        min_stream_kib_per_s=args.min_stream_kib_per_s,
        memory_budget_mb=args.memory_budget_mb,
        budget_wait_seconds=args.budget_wait_seconds,
        blas_threads=args.blas_threads,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
    )
    config.check()
    serve_until_signalled(config)
    return 0
