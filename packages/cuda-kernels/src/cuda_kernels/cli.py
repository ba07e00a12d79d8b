"""`cuda-kernels` command line: one argparse subcommand per job.

`bench` lives here (see `cuda_kernels.bench`). The gRPC subcommands (`serve`,
`bench-service`) come from `cuda_kernels.service.cli.add_subcommands(subparsers)` when that
module is present, so the service can grow without this file knowing its flags. Each
subcommand sets `func(args) -> int` as its handler.

Errors a user can fix (bad flags, bad sizes, a backend that cannot run) end with exit code 2
or 1 and ONE line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from cuda_kernels import __version__

SERVICE_CLI_MODULE = "cuda_kernels.service.cli"
SERVICE_COMMANDS = ("serve", "bench-service")


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full parser: `bench`, plus the service's subcommands when they are installed."""
    parser = argparse.ArgumentParser(
        prog="cuda-kernels",
        description="CUDA kernels (doublify, a matmul ladder): benchmarks and a gRPC service.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from cuda_kernels.bench.cli import add_bench_subcommand

    add_bench_subcommand(subparsers)
    _add_service_subcommands(subparsers)
    return parser


def _add_service_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Let the gRPC service add `serve` and `bench-service`, if its module exists.

    When the module exists but cannot be imported (say grpcio is missing or too old on this
    host), `bench` must still work, so the service commands are registered as commands that
    fail with that reason on one line instead of breaking the whole CLI.
    """
    try:
        module = importlib.import_module(SERVICE_CLI_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name is not None and SERVICE_CLI_MODULE.startswith(exc.name):
            return  # the service is not part of this installation
        _add_unloadable_service_commands(subparsers, exc)
        return
    except ImportError as exc:
        _add_unloadable_service_commands(subparsers, exc)
        return
    module.add_subcommands(subparsers)


def _add_unloadable_service_commands(
    subparsers: argparse._SubParsersAction, error: ImportError
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise RuntimeError(f"the gRPC service cannot be loaded here: {error}")

    for name in SERVICE_COMMANDS:
        parser = subparsers.add_parser(name, help=f"(unavailable: {error})", add_help=False)
        parser.add_argument("ignored", nargs=argparse.REMAINDER)
        parser.set_defaults(func=fail)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cuda-kernels` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"cuda-kernels {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        print(f"cuda-kernels {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"cuda-kernels {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
