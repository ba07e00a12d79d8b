"""Workspace-wide pytest wiring: which packages' tests a run collects.

`uv run --package nn pytest` from the repository root starts pytest in the root, so pytest
would walk every package's tests, including those of packages that nn does not depend on
and that are therefore not installed. uv does not tell its child which package was asked
for, so we read it from the `uv run` command line of the parent process when we can, and
otherwise collect the tests of every workspace package that is importable here.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).parent
PACKAGES = ROOT / "packages"


def _import_name(distribution: str) -> str:
    return distribution.replace("-", "_")


@cache
def _member_distributions() -> dict[Path, str]:
    """Map each package folder to its distribution name, read from its pyproject.toml."""
    members = {}
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        with pyproject.open("rb") as f:
            members[pyproject.parent] = tomllib.load(f)["project"]["name"]
    return members


def _package_requested_from_uv() -> str | None:
    """The NAME of `uv run --package NAME ...` that started this pytest, if any (Linux)."""
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return None
    argv = raw.decode(errors="replace").split("\0")
    if len(argv) < 2 or Path(argv[0]).name not in {"uv", "uv.exe"} or argv[1] != "run":
        return None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--package" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--package="):
            return arg.split("=", 1)[1]
    return None


@cache
def _selected_folders() -> frozenset[Path]:
    members = _member_distributions()
    requested = _package_requested_from_uv()
    if requested is not None and requested in members.values():
        return frozenset(folder for folder, name in members.items() if name == requested)
    return frozenset(
        folder
        for folder, name in members.items()
        if importlib.util.find_spec(_import_name(name)) is not None
    )


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    # pytest asks this for what it finds below its starting folders (the testpaths), not
    # for those folders themselves: hence `scripts/tests` is matched through its parents.
    path = Path(collection_path)
    if path.parent == PACKAGES:
        return path not in _selected_folders() or None
    scripts = ROOT / "scripts"
    if path == scripts or scripts in path.parents:  # the workspace's tools: whole-suite runs
        return _package_requested_from_uv() is not None or None
    return None
