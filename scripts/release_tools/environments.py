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

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

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
    workspace: Workspace,
    venv: Path,
    wheels: list[Path | str],
    constraints: Path | None,
    *,
    find_links: Path | None = None,
    only_binary: tuple[str, ...] = (),
) -> None:
    """Install the wheels and their dependencies from the index into `venv`.

    Each entry of `wheels` is a wheel file or a requirement on one (`nn[plot] @ file:///...`).
    `find_links` adds a folder of prebuilt wheels; `only_binary` names distributions that must
    never be built from source.
    """
    argv: list[str | Path] = ["uv", "pip", "install", "--quiet", "--python", venv_python(venv)]
    if constraints is not None:
        argv += ["--constraint", constraints]
    if find_links is not None:
        argv += ["--find-links", find_links]
    for name in only_binary:
        argv += ["--only-binary", name]
    shown = ", ".join(w.name if isinstance(w, Path) else w.split(" @ ")[0] for w in wheels)
    run(
        [*argv, *wheels],
        cwd=workspace.root,
        what=f"install {shown} into a fresh environment",
        quiet=True,
    )


def constraints_without(constraints: Path, names: tuple[str, ...], path: Path) -> Path:
    """A copy of the `constraints` file without the pins of `names` (they come from elsewhere)."""
    dropped = {canonicalize_name(n) for n in names}
    kept = []
    for line in constraints.read_text().splitlines():
        try:
            name = canonicalize_name(Requirement(line.split(";")[0].strip()).name)
        except InvalidRequirement:
            name = None  # comments, blank lines, options: kept as they are
        if name not in dropped:
            kept.append(line)
    path.write_text("\n".join(kept) + "\n")
    return path
