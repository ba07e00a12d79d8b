"""Fresh virtual environments that install built wheels the way a user would.

A sibling requirement such as `autograd>=0.1,<0.2` would, from the public index, find a
foreign package of the same name; so the siblings are passed as wheel files (a direct
reference wins over the index for that name) and the check afterwards proves where each one
came from. Third-party dependencies come from the index, constrained to the versions in
`uv.lock` so that CI reuses uv's warm cache and tests what the workspace tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

from release_tools.commands import run
from release_tools.workspace import Workspace


def write_lock_constraints(workspace: Workspace, path: Path) -> Path:
    """Export the third-party pins of `uv.lock` (all packages, extras, groups) to `path`."""
    run(
        [
            "uv", "export", "--frozen", "--no-hashes", "--all-packages", "--all-extras",
            "--all-groups", "--no-emit-workspace", "--no-header", "--no-annotate",
            "--output-file", path,
        ],
        cwd=workspace.root,
        what="export the locked versions from uv.lock",
        quiet=True,
    )  # fmt: skip
    return path


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def venv_script(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if sys.platform == "win32" else "bin") / name


def create_venv(workspace: Workspace, venv: Path) -> Path:
    """A new, empty virtual environment at `venv` on this interpreter's Python version."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    run(
        ["uv", "venv", "--quiet", "--no-project", "--python", version, venv],
        cwd=workspace.root,
        what=f"create a virtual environment at {venv}",
        quiet=True,
    )
    return venv_python(venv)


def install_wheels(
    workspace: Workspace, venv: Path, wheels: list[Path], constraints: Path | None
) -> None:
    """Install the wheel files and their dependencies from the index into `venv`."""
    argv: list[str | Path] = ["uv", "pip", "install", "--quiet", "--python", venv_python(venv)]
    if constraints is not None:
        argv += ["--constraint", constraints]
    run(
        [*argv, *wheels],
        cwd=workspace.root,
        what=f"install {', '.join(w.name for w in wheels)} into a fresh environment",
        quiet=True,
    )
