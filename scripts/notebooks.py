"""Execute the example notebooks, and optionally store their fresh outputs.

Why a script of our own: CI must fail on any error in a notebook, and the committed
notebooks must carry outputs from the code as it stands. Both needs are one loop over
`packages/*/examples/*.ipynb`, executed top to bottom in a fresh kernel of this
interpreter, with the notebook's own folder as the working directory.

    uv run python scripts/notebooks.py            # execute every notebook, change nothing
    uv run python scripts/notebooks.py --write    # execute and save the outputs in place
    uv run python scripts/notebooks.py packages/nn/examples/demo.ipynb --write
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT_S = 600


def find_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """Every example notebook of every package, in a stable order."""
    return sorted(root.glob("packages/*/examples/*.ipynb"))


def execute(path: Path, write: bool = False):
    """Run `path` in a fresh kernel; return the executed notebook (raises on any error)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}  # the notebook's folder is its cwd
    NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                   resources=resources).execute()  # fmt: skip
    if write:
        nbformat.write(notebook, path)
    return notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every example notebook")
    parser.add_argument("--write", action="store_true", help="store the outputs in place")
    args = parser.parse_args(argv)
    paths = args.notebooks or find_notebooks()
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"notebooks: error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        start = time.perf_counter()
        try:
            execute(path, write=args.write)
        except Exception as exc:  # report each notebook's failure, then go on to the next
            failed += 1
            first_line = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
            print(f"FAILED {path}: {first_line[0]}", file=sys.stderr)
            continue
        print(f"ok {path} ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
