"""`cuda-kernels serve`: flags -> `ServerConfig` -> `rpc.server.serve.serve_until_signalled`.

The flags are `ServerConfig`'s fields, one each (`cuda_kernels.settings`): a setting and
its default are written only there. The server itself is imported only once the `serve`
extra is known to be installed, so that without it the command says what to run instead of
failing on an import.
"""

from __future__ import annotations

import argparse
import logging

from cuda_kernels.extras import require_extra
from cuda_kernels.rpc.server.config import ServerConfig
from cuda_kernels.settings import add_flags, from_flags

NAME = "serve"
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser, ServerConfig)
    parser.add_argument("--quiet", action="store_true", help="no log line per call")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT, then drain and return 0."""
    require_extra("serve", args.argv)
    from cuda_kernels.rpc.server.serve import serve_until_signalled

    service_log = logging.getLogger("cuda_kernels.rpc.server")
    if not args.quiet and service_log.getEffectiveLevel() > logging.INFO:
        service_log.setLevel(logging.INFO)  # the line per call; -vv shows DEBUG too
    serve_until_signalled(from_flags(ServerConfig, args))
    return 0
