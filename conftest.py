"""Workspace-wide pytest wiring: which packages' tests a run collects.

`uv run --package nn pytest` must run nn's tests, from the root and from inside any package
folder; `uv run pytest` from the root runs every package's tests and the tools' tests in
`scripts/`. Nothing but the command line of the `uv run` above pytest tells which package was
asked for (checked with uv 0.13): uv passes no variable naming it (`UV_PACKAGE` is only a
proposal, uv#13826), keeps the working directory (uv#13749), and leaves every member an earlier
`uv sync` installed importable; a `[tool.pytest.ini_options]` per package would make that
package the rootdir of any run started in its folder, whatever was asked for.

So we walk up from pytest's parent to the nearest `uv ... run` and read its `--package`, from
/proc on Linux or `ps` elsewhere. Without one (an IDE, `python -m pytest`, Windows) a run
collects every workspace package that is importable. The header's first line says which
packages were chosen and why. Paths given on the command line are always run as given.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent
PACKAGES = ROOT / "packages"
SCRIPTS = ROOT / "scripts"
PROC_ROOT = Path("/proc")
MAX_ANCESTORS = 8  # how far up the process tree a `uv run` may be (shells, make, ...)
# Options of `uv` and `uv run` that take a value as the next argument (from `uv run --help`):
# they tell uv's own arguments from the command it runs.
# fmt: off
UV_VALUE_OPTIONS = frozenset({
    "--extra", "--no-extra", "--group", "--no-group", "--only-group", "--no-editable-package",
    "--env-file", "-w", "--with", "--with-editable", "--with-requirements", "--package",
    "--python-platform", "--index", "--default-index", "-i", "--index-url", "--extra-index-url",
    "-f", "--find-links", "--index-strategy", "--keyring-provider", "-P", "--upgrade-package",
    "--upgrade-group", "--resolution", "--prerelease", "--prerelease-package", "--fork-strategy",
    "--exclude-newer", "--exclude-newer-package", "--no-sources-package", "--reinstall-package",
    "--link-mode", "-C", "--config-setting", "--config-settings-package",
    "--no-build-isolation-package", "--no-build-package", "--no-binary-package", "--cache-dir",
    "--refresh-package", "-p", "--python", "--color", "--allow-insecure-host", "--directory",
    "--project", "--config-file", "--python-preference",
})
# fmt: on


@dataclass(frozen=True)
class UvRun:
    """The `uv run` found above this pytest: its pid and its `--package`, if any."""

    pid: int
    package: str | None


@dataclass(frozen=True)
class Selection:
    """The package folders a run collects, and the reason, for the report header."""

    folders: frozenset[Path]
    requested: str | None
    reason: str


@cache
def _member_distributions() -> dict[Path, str]:
    """Each package folder's distribution name, from its pyproject.toml."""
    members = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        with pyproject.open("rb") as f:
            members[pyproject.parent] = tomllib.load(f)["project"]["name"]
    return members


def uv_run_package(argv: list[str]) -> tuple[bool, str | None]:
    """(whether `argv` is a `uv ... run ...` command line, the NAME of its `--package NAME`)."""
    program = Path(argv[0]).name.removesuffix(".exe") if argv else ""
    if program == "uv":
        args = iter(argv[1:])
    elif program.startswith("python") and argv[1:3] == ["-m", "uv"]:
        args = iter(argv[3:])
    else:
        return False, None
    is_run, package = False, None
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("-"):
            name, has_value, value = arg.partition("=")
            if name in UV_VALUE_OPTIONS and not has_value:
                value = next(args, "")
            if name == "--package" and is_run:
                package = value or None
        elif is_run:
            break  # the command uv runs: what follows is its own arguments
        elif arg == "run":
            is_run = True
        else:
            return False, None  # another uv subcommand (uv tool run, uv pip, ...)
    return is_run, package


def _process(pid: int) -> tuple[int, list[str]] | None:
    """(parent pid, argv) of process `pid`, from /proc or else `ps`; None when unreadable."""
    if PROC_ROOT.is_dir():
        try:
            stat = (PROC_ROOT / str(pid) / "stat").read_text()
            argv = (PROC_ROOT / str(pid) / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        return int(stat.rsplit(")", 1)[1].split()[1]), [a for a in argv.split("\0") if a]
    if sys.platform == "win32":
        return None
    try:  # `ps` joins the arguments with spaces: enough to read uv's options
        out = subprocess.run(["ps", "-ww", "-o", "ppid=", "-o", "args=", "-p", str(pid)],
                             capture_output=True, text=True, timeout=10).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return (int(out[0]), out[1:]) if out and out[0].isdigit() else None


def find_uv_run(start: int | None = None) -> UvRun | None:
    """The nearest `uv run` among the ancestors of this process (from `start`, the parent)."""
    pid = os.getppid() if start is None else start
    for _ in range(MAX_ANCESTORS):
        found = _process(pid) if pid > 1 else None
        if found is None:
            return None
        is_run, package = uv_run_package(found[1])
        if is_run:
            return UvRun(pid, package)
        pid = found[0]
    return None


def _importable(distribution: str) -> bool:
    return importlib.util.find_spec(distribution.replace("-", "_")) is not None


@cache
def selection() -> Selection:
    members = _member_distributions()
    uv_run = find_uv_run()
    wanted = canonicalize_name(uv_run.package) if uv_run and uv_run.package else None
    folders = frozenset(f for f, name in members.items() if canonicalize_name(name) == wanted)
    if uv_run is not None and folders:
        return Selection(folders, uv_run.package, f"`uv run --package {uv_run.package}`")
    importable = frozenset(f for f, name in members.items() if _importable(name))
    above = "`uv run` without a workspace --package" if uv_run else "no `uv run` above this pytest"
    return Selection(importable, None, f"{above}, so every importable workspace package")


def pytest_configure(config: pytest.Config) -> None:
    """Point an argument-less run at the requested package, wherever it was started."""
    chosen = selection()
    if chosen.requested is not None and config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [str(folder) for folder in sorted(chosen.folders)]


def pytest_report_header(config: pytest.Config) -> str:
    chosen = selection()
    names = ", ".join(_member_distributions()[f] for f in sorted(chosen.folders)) or "none"
    return f"workspace packages: {names} ({chosen.reason})"


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    # pytest asks this for what it finds below its starting folders (the testpaths), not
    # for those folders themselves: hence `scripts/tests` is matched through its parents.
    path = Path(collection_path)
    if path.parent == PACKAGES:
        return path not in selection().folders or None
    if path == SCRIPTS or SCRIPTS in path.parents:  # the workspace's tools: whole-suite runs
        return selection().requested is not None or None
    return None
