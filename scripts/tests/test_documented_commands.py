"""Every ```bash block of the docs runs in a fresh clone and leaves `git status` clean.

The docs are every tracked README.md and BENCHMARKS.md, and docs/**/*.md. How a block is
tested lives in its fence's info string, so there is no second list to keep in step:

    ```bash                               every command runs as shown
    ```bash skip="needs a GPU"            not run; the reason says why (GPU, minutes, a server)
    ```bash test_args="--sizes 64"        every command runs with these arguments appended

Only cheap commands run (seconds each); each must write only where git ignores (`runs/`,
`dist/`, `build/`, `.venv/`).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
KNOWN = {"skip", "test_args"}
COMMAND_TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    """One ```bash block: where it starts, its commands, and its info-string attributes."""

    where: str
    commands: list[str]
    attributes: dict[str, str]


def strip_comment(line: str) -> str:
    """`cmd  # note` -> `cmd`; a `#` inside quotes or a word (`a#b`) is kept."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def bash_blocks(text: str, path: str) -> list[Block]:
    """The ```bash blocks of one Markdown text, with `\\` continuations joined."""
    blocks, fence = [], None
    for number, raw in enumerate(text.splitlines(), start=1):
        match = FENCE.match(raw)
        if fence is None:
            if match and match["info"].split(" ")[0] in {"bash", "sh", "shell"}:
                fence, pending = match["fence"], ""
                blocks.append(Block(f"{path}:{number}", [], dict(ATTRIBUTE.findall(match["info"]))))
        elif match and match["fence"].startswith(fence) and not match["info"]:
            fence = None
        else:
            line = strip_comment(raw).strip()
            if line.endswith("\\"):
                pending += line[:-1] + " "
            elif command := " ".join((pending + line).split()):
                blocks[-1].commands.append(command)
                pending = ""
    return blocks


def documented_blocks(root: Path) -> list[Block]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    docs = sorted(n for n in listing.split("\0") if Path(n).name in {"README.md", "BENCHMARKS.md"}
                  or (n.startswith("docs/") and n.endswith(".md")))  # fmt: skip
    return [b for name in docs for b in bash_blocks((root / name).read_text("utf-8"), name)]


def test_reads_commands_comments_continuations_and_attributes() -> None:
    text = (
        '# T\n\n```bash skip="needs a GPU"\nuv run a  # why\n```\n\n```python\nx = 1\n```\n\n'
        "```bash\nuv run b --name '#1' \\\n    --out runs/x\n\n  echo  two\n```\n"
    )
    blocks = bash_blocks(text, "README.md")
    assert [(b.where, b.commands, b.attributes) for b in blocks] == [
        ("README.md:3", ["uv run a"], {"skip": "needs a GPU"}),
        ("README.md:11", ["uv run b --name '#1' --out runs/x", "echo two"], {}),
    ]


def test_every_marker_is_known_and_every_skip_says_why() -> None:
    blocks = documented_blocks(REPO_ROOT)
    assert len(blocks) > 30 and any("skip" not in b.attributes for b in blocks)
    for block in blocks:
        assert set(block.attributes) <= KNOWN, f"{block.where}: markers are {sorted(KNOWN)}"
        assert block.attributes.get("skip", "reason").strip(), f"{block.where}: say why"


def test_documented_commands_leave_git_status_clean(clone, git_env) -> None:
    """The runnable blocks of every doc, in order, in one fresh clone (a user's checkout)."""
    ran = 0
    for block in documented_blocks(clone):
        if "skip" in block.attributes:
            continue
        for command in block.commands:
            command += (
                f" {block.attributes['test_args']}" if "test_args" in block.attributes else ""
            )
            proc = subprocess.run(
                ["bash", "-c", command], cwd=clone, env=git_env, text=True, capture_output=True,
                timeout=COMMAND_TIMEOUT_S, check=False,
            )  # fmt: skip
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            assert proc.returncode == 0, (
                f"{block.where}: `{command}` exited {proc.returncode}\n{tail}"
            )
            status = subprocess.run(["git", "status", "--porcelain"], cwd=clone,
                                    capture_output=True, text=True, check=True).stdout  # fmt: skip
            assert status == "", f"{block.where}: `{command}` left the tree changed:\n{status}"
            ran += 1
    assert ran > 10
