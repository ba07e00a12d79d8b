"""`cuda-kernels serve`: flags -> `ServerConfig` -> `rpc.server.serve.serve_until_signalled`.

The flags are `ServerConfig`'s fields, one each, with the field's default, type and help
(`rpc.server.config.setting`): a setting and its default are written only there. The
server itself is imported only once the `serve` extra is known to be installed, so that
without it the command says what to run instead of failing on an import.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import typing
from pathlib import Path

from cuda_kernels.commands import add_command
from cuda_kernels.extras import require_extra
from cuda_kernels.rpc.server.config import ServerConfig

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
    """Register `serve` on the `cuda-kernels` parser: one flag per `ServerConfig` field."""
    parser = add_command(subparsers, "serve", SUMMARY, DESCRIPTION, run)
    hints = typing.get_type_hints(ServerConfig)
    for setting in dataclasses.fields(ServerConfig):
        flag = dict(setting.metadata)
        read = flag.pop("read", None)
        option = flag.pop("flag", "--" + setting.name.replace("_", "-"))
        if read is not None:  # a file to read; the setting's default is None
            flag.update(type=Path, metavar="FILE")
        else:  # int | None is int
            hint = hints[setting.name]
            flag.update(default=setting.default, type=_not_none(hint))
        parser.add_argument(option, dest=setting.name, **flag)
    parser.add_argument("--quiet", action="store_true", help="no log line per call")


def _not_none(hint: typing.Any) -> type:
    """`int` for `int` and for `int | None`."""
    return next((arg for arg in typing.get_args(hint) if arg is not type(None)), hint)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT, then drain and return 0."""
    require_extra("serve", args.argv)
    from cuda_kernels.rpc.server.serve import serve_until_signalled

    service_log = logging.getLogger("cuda_kernels.rpc.server")
    if not args.quiet and service_log.getEffectiveLevel() > logging.INFO:
        service_log.setLevel(logging.INFO)  # the line per call; -vv shows DEBUG too
    values = {}
    for setting in dataclasses.fields(ServerConfig):
        value, read = getattr(args, setting.name), setting.metadata.get("read")
        values[setting.name] = read(value) if read is not None and value is not None else value
    config = ServerConfig(**values)
    config.check()
    serve_until_signalled(config)
    return 0
