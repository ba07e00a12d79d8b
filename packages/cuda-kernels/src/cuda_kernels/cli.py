"""`cuda-kernels`: the console script; one subcommand per module of `cuda_kernels.commands`.

Building the parser imports no optional dependency, so `--help` works on the core install;
a subcommand that needs an extra (`bench`: plots, `serve`: the server) checks for it when it
runs. Errors a user can fix end with ONE line on stderr, never a traceback: exit code 2
for a flag argparse refuses or a missing extra, 1 for a setting that cannot work (every
command alike) and for work that failed (a backend that cannot run, a port in use, a
kernel that failed validation).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from cuda_kernels import __version__
from cuda_kernels.commands import bench, bench_service, describe, serve
from cuda_kernels.extras import MissingExtraError

SUBCOMMANDS = (bench, serve, bench_service, describe)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every flag's default in --help, as one would type it; descriptions keep their lines.

    Left out: defaults of switches (--quiet) and of flags without a default value.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if action.nargs == 0 or default is None or default is argparse.SUPPRESS:
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (argparse's usage block, up to
    17 lines for `serve`, stays in --help); subcommand parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse, but an unknown flag is blamed on the subcommand it came with
        (`cuda-kernels serve: error: ...`), whose --help lists the flags."""
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            commands = next(
                (a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)),
                {},
            )
            owner = commands.get(getattr(parsed, "command", None), self)
            owner.error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every subcommand of `SUBCOMMANDS`."""
    parser = OneLineParser(
        prog="cuda-kernels",
        description="CUDA kernels (doublify, a matmul ladder): benchmarks and a gRPC service.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log at INFO level; -vv: DEBUG"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in SUBCOMMANDS:
        subparser = subparsers.add_parser(
            command.NAME,
            help=command.SUMMARY,
            description=command.DESCRIPTION,
            formatter_class=HelpFormatter,
        )
        subparser.set_defaults(func=command.run)
        command.add_arguments(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cuda-kernels` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # a missing extra's message repeats the command line
    logging.basicConfig(
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except MissingExtraError as exc:
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
