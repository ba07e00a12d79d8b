"""Command-line conventions shared by the scripts: usage errors are one line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from release_tools.errors import ReleaseError


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error prints one line (not the usage block) and exits 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def run_script(main: Callable[[], int], prog: str) -> NoReturn:
    """Exit with `main()`'s status; a `ReleaseError` becomes one line on stderr, exit 1."""
    try:
        status = main()
    except ReleaseError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        status = 1
    sys.exit(status)
