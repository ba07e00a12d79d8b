"""Find install commands that could fetch another project instead of ours.

PyPI's `autograd`, `nn` and `cuda-kernels` are other projects, so installing one of those names
by bare name (pip, `uv pip install`, `uv add`) installs a stranger's code. An install of one of
our names must be pinned: to a local file or folder, to `--index-url` or `--default-index` (the
team's index as the only index), or to `--no-index --find-links DIR`. `--extra-index-url` is
never right: pip then takes the highest version from either index. This scans every tracked
doc, message and script (Python strings and comments, notebooks, Markdown, shell, TOML, YAML,
text) and prints `file:line: why` for each problem. Text that warns against such a command
("never <the command>", "instead of ...") and assertions that a message lacks one are not
flagged.

    uv run python scripts/install_guard.py          # exit 1 and one line per finding
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUR_NAMES = frozenset({"autograd", "nn", "cuda-kernels"})  # canonical forms
SCANNED_SUFFIXES = frozenset(
    {".md", ".rst", ".txt", ".py", ".pyi", ".sh", ".ipynb", ".toml", ".yml", ".yaml", ".json",
     ".cfg", ".ini"}
)  # fmt: skip
# The guard and its tests show the wrong commands on purpose.
EXEMPT = frozenset({"scripts/install_guard.py", "scripts/tests/test_install_guard.py"})
SHELL_SHEBANG = re.compile(rb"^#!.*\b(ba|z|da)?sh\b")

INSTALL = re.compile(r"(?:\buv\s+pip|\bpip3?)\s+install\b|\buv\s+add\b")
ENDS_COMMAND = re.compile(r"\s(?:&&|\|\||[;|#])|[;`)]|&&|\|\|")
PINNED_INDEX_OPTIONS = frozenset({"--index-url", "-i", "--default-index"})
UV_PINNED_INDEX_OPTIONS = frozenset({"--index"})  # uv asks its named index first
# Options of pip / uv pip install / uv add that take a value as the next argument.
VALUE_OPTIONS = frozenset(
    {"-i", "--index-url", "--extra-index-url", "--default-index", "--index", "-f",
     "--find-links", "-c", "--constraint", "--constraints", "-r", "--requirement",
     "--requirements", "-e", "--editable", "-t", "--target", "-p", "--python", "--prefix",
     "--root", "--platform", "--python-platform", "--python-version", "--implementation",
     "--abi", "--only-binary", "--no-binary", "--index-strategy", "--package", "--group",
     "--extra", "--optional", "-P", "--upgrade-package", "-C", "--config-settings",
     "--config-setting", "--cache-dir", "--directory", "--project", "--keyring-provider",
     "--link-mode", "--exclude-newer", "--resolution", "--prerelease", "--rev", "--tag",
     "--branch", "--script", "--bounds", "-m", "--marker", "--src", "--progress-bar"}
)  # fmt: skip
EXTRA_INDEX_SETTING = re.compile(
    r"\b(?:UV|PIP)_EXTRA_INDEX_URL\s*=|^\s*extra[-_]index[-_]url\s*=|"
    r"\b(?:uv|pip3?)\b[^\n`]*\s--extra-index-url\b"
)
# Prose that warns against the command ("never <the command>", "instead of ...") and
# negative assertions (`assert "<the command>" not in message`) are not commands.
WARNED_AGAINST = re.compile(
    r"\b(?:never|not|instead\s+of|rather\s+than|don't|do\s+not|avoid)\b[^.;:!?]{0,30}$", re.I
)
ASSERTED_ABSENT = re.compile(r"""^[^"'`]*["'`]\s+not\s+in\b""")
REQUIREMENT_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(\[[^\]]*\])?")
TOKEN_TRIM = "\"'`,.:;()\\"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_local_or_url(token: str) -> bool:
    return (
        "/" in token
        or "\\" in token
        or "@" in token
        or token.startswith((".", "~", "$", "{", "<"))
        or token.endswith((".whl", ".tar.gz", ".zip"))
    )


def unpinned_names(command: str, *, uv: bool) -> list[str]:
    """Our names that `command` (the text after `install`/`add`) installs from a public index."""
    tokens = [t for t in (t.strip(TOKEN_TRIM) for t in command.split()) if t]
    names, pinned, no_index, find_links = [], False, False, False
    skip = 0
    for i, token in enumerate(tokens):
        if skip:
            skip -= 1
            continue
        if token.startswith("-"):
            option, has_value, _ = token.partition("=")
            pinned |= option in PINNED_INDEX_OPTIONS or (uv and option in UV_PINNED_INDEX_OPTIONS)
            no_index |= option == "--no-index"
            find_links |= option in {"-f", "--find-links"}
            skip = int(option in VALUE_OPTIONS and not has_value)
            continue
        if tokens[i + 1 : i + 2] == ["@"]:  # `name @ URL`: a direct reference, pinned
            skip = 2
            continue
        match = REQUIREMENT_NAME.match(token)
        if match and not _is_local_or_url(token) and _canonical(match[1]) in OUR_NAMES:
            names.append(match[1] + (match[2] or ""))
    if pinned or (no_index and find_links):
        return []
    return names


def scan_text(text: str) -> Iterator[str]:
    """Why each install command in one logical line of text is unsafe (none when all pinned)."""
    for match in INSTALL.finditer(text):
        rest = text[match.end() :]
        if WARNED_AGAINST.search(text[: match.start()]) or ASSERTED_ABSENT.match(rest):
            continue
        end = ENDS_COMMAND.search(rest)
        command = rest[: end.start()] if end else rest
        names = unpinned_names(command, uv=match[0].startswith("uv"))
        if names:
            shown = ", ".join(names)
            yield (
                f"`{match[0]} {shown}` would install PyPI's project of that name, not ours: in "
                "the workspace use `uv sync --extra X` or `uv run --package P`, elsewhere our "
                "wheel file or --index-url <team index>"
            )
    if EXTRA_INDEX_SETTING.search(text):
        yield (
            "--extra-index-url lets the public index win for our names; use --index-url "
            "<team index> (with the index's mirror of PyPI) instead"
        )


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) with shell continuations (trailing backslash) joined."""
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def python_strings(source: str) -> Iterator[tuple[int, int, str]]:
    """(first line, last line, text) of every string in Python source that spans lines.

    Adjacent literals are joined and f-string holes shown as `{}`, so a message split over
    several source lines is read as one.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant | ast.JoinedStr) or node.end_lineno == node.lineno:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.end_lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            yield node.lineno, node.end_lineno, "".join(str(p) for p in parts)


def scan_file(path: Path, shown: str) -> list[Finding]:
    """The findings of one file; a Python string split over lines counts once, at its start."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    if path.suffix == ".ipynb":  # JSON: one source line per JSON line, with escaped quotes
        text = text.replace('\\"', '"').replace("\\n", " ")
    findings = []
    for number, line in logical_lines(text):
        findings += [Finding(shown, number, why) for why in scan_text(line)]
    if path.suffix in {".py", ".pyi"}:
        for first, last, string in python_strings(text):
            for why in scan_text(" ".join(string.splitlines())):
                if not any(f.why == why and first <= f.line <= last for f in findings):
                    findings.append(Finding(shown, first, why))
    return sorted(findings, key=lambda f: (f.line, f.why))


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    files = []
    for name in filter(None, out.split("\0")):
        if name in EXEMPT:
            continue
        path = root / name
        if path.suffix in SCANNED_SUFFIXES:
            files.append(name)
        elif not path.suffix and path.is_file():
            with path.open("rb") as f:
                if SHELL_SHEBANG.match(f.readline()):
                    files.append(name)
    return files


def scan_repository(root: Path = REPO_ROOT) -> list[Finding]:
    """Every finding in the files git tracks under `root`, in path order."""
    findings = []
    for name in tracked_files(root):
        findings += scan_file(root / name, name)
    return findings


def main(argv: list[str] | None = None) -> int:
    root = Path(argv[0]) if argv else REPO_ROOT
    findings = scan_repository(root)
    for finding in findings:
        print(finding)
    if findings:
        print(f"install_guard: {len(findings)} unsafe install command(s)", file=sys.stderr)
        return 1
    print("install_guard: every install of autograd, nn and cuda-kernels is pinned")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
