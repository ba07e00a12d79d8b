"""The `cuda-kernels` subcommands, one module each: `bench`, `serve`, `bench_service`.

Each module has `add_to(subparsers)`, which makes its parser with `add_command` (every
default shown in `--help`, `run(args) -> int` as the handler) and declares its flags, one per
field of the settings dataclass it drives (`cuda_kernels.settings`). A
handler turns the flags into the settings of the code it drives and leaves the work to
that code; `cuda_kernels.cli` turns what it raises into one line on stderr and an exit code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


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


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    summary: str,
    description: str,
    run: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """A subcommand's parser: `summary` in the command list, `description` atop its --help,
    `run(args)` as its handler."""
    parser = subparsers.add_parser(
        name, help=summary, description=description, formatter_class=HelpFormatter
    )
    parser.set_defaults(func=run)
    return parser
