"""List the tests that look for `../shared`, so CI can run them again without it.

A checkout may have a `shared/` folder beside it (datasets and GPU tools); a user's fresh
clone has none. The tests must pass both ways, so `.ci/run` runs the whole suite in the
checkout, then runs the tests this script lists again in a fresh clone with nothing beside it.
The list is found by reading the code, not kept by hand: a test looks for the folder when its
file, or a conftest.py or helper module in its folder, holds a string with `shared` as a path
part (`ROOT.parent / "shared"`, `"../shared/datasets"`). A hit in a test file selects that
file; a hit in any other module selects its whole folder, since its fixtures reach every test
there.

    uv run python scripts/shared_dependent_tests.py     # one path per line, relative to ROOT
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_ROOTS = ("packages/*/tests", "scripts/tests")
SHARED_PART = re.compile(r"(?:^|[/\\])shared(?:[/\\]|$)")


def names_shared(source: str) -> bool:
    """Whether any string in the Python `source` has `shared` as a path part."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "shared" in source  # unreadable: err on the side of running it
    return any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and SHARED_PART.search(node.value)
        for node in ast.walk(tree)
    )


def is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name.endswith("_test.py")


def shared_dependent_tests(root: Path = REPO_ROOT) -> list[str]:
    """Test files and folders (relative to `root`, sorted) whose tests look for ../shared."""
    selected: set[Path] = set()
    for pattern in TEST_ROOTS:
        for folder in root.glob(pattern):
            for path in sorted(folder.rglob("*.py")):
                if names_shared(path.read_text(encoding="utf-8")):
                    selected.add(path if is_test_file(path) else path.parent)
    # a folder already selected covers the files and folders inside it
    kept = {p for p in selected if not any(q != p and q in p.parents for q in selected)}
    return sorted(p.relative_to(root).as_posix() for p in kept)


def main() -> int:
    for path in shared_dependent_tests():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
