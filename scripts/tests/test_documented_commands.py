"""Every ```bash block of the docs runs in a fresh clone and leaves `git status` clean.

The docs are every tracked README.md and BENCHMARKS.md, and docs/**/*.md. How a block is
tested is written in its fence's info string (`skip="why"`, `test_args="--small"`), as the
README's "Tests and CI" says; only cheap commands run, each block as one bash script.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^[ \t]*(`{3,})bash\b(?P<info>.*)\n(?P<body>(?:.*\n)*?)[ \t]*\1[ \t]*$", re.M)
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def bash_blocks(text: str, path: str) -> list[tuple[str, str, dict[str, str]]]:
    """(where, script, attributes) of each ```bash block of one Markdown text.

    With `test_args` those arguments are appended to each command line of the block.
    """
    blocks = []
    for match in BLOCK.finditer(text):
        where = f"{path}:{text.count(chr(10), 0, match.start()) + 1}"
        attributes = dict(ATTRIBUTE.findall(match["info"]))
        script = match["body"]
        if "test_args" in attributes:
            lines = [re.sub(r"\s+#\s.*$", "", line).rstrip() for line in script.splitlines()]
            script = "".join(f"{ln} {attributes['test_args']}\n" for ln in lines if ln.strip())
        blocks.append((where, script, attributes))
    return blocks


def documented_blocks(root: Path) -> list[tuple[str, str, dict[str, str]]]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    docs = sorted(n for n in listing.split("\0") if Path(n).name in {"README.md", "BENCHMARKS.md"}
                  or (n.startswith("docs/") and n.endswith(".md")))  # fmt: skip
    return [b for name in docs for b in bash_blocks((root / name).read_text("utf-8"), name)]


def test_reads_blocks_markers_and_appends_test_args() -> None:
    text = (
        '# T\n\n```bash skip="needs a GPU"\nuv run a  # why\n```\n\n```python\nx = 1\n```\n\n'
        '  ```bash test_args="--small"\n  uv run b  # big\n  uv run c\n  ```\n'
    )
    assert bash_blocks(text, "README.md") == [
        ("README.md:3", "uv run a  # why\n", {"skip": "needs a GPU"}),
        ("README.md:11", "  uv run b --small\n  uv run c --small\n", {"test_args": "--small"}),
    ]


def test_every_marker_is_known_and_every_skip_says_why() -> None:
    blocks = documented_blocks(REPO_ROOT)
    assert len(blocks) > 30 and any(not attributes for _, _, attributes in blocks)
    for where, _, attributes in blocks:
        assert set(attributes) <= {"skip", "test_args"}, f"{where}: unknown marker"
        assert attributes.get("skip", "reason").strip(), f"{where}: say why it is skipped"


def test_documented_commands_leave_git_status_clean(clone, git_env) -> None:
    """The runnable blocks of every doc, in order, in one fresh clone (a user's checkout)."""
    ran = [block for block in documented_blocks(clone) if "skip" not in block[2]]
    for where, script, _ in ran:
        bash = ["bash", "-euo", "pipefail", "-c", script]
        proc = subprocess.run(bash, cwd=clone, env=git_env, text=True, capture_output=True,
                              timeout=300)  # fmt: skip
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        assert proc.returncode == 0, f"{where}: exited {proc.returncode}\n{script}{tail}"
        status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True,
                                text=True, check=True).stdout  # fmt: skip
        assert status == "", f"{where}: left the tree changed:\n{status}"
    assert len(ran) > 10
