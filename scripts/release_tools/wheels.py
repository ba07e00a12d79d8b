"""Building a package's sdist and wheel, and checking the wheel holds the whole source tree."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import parse_sdist_filename, parse_wheel_filename

from release_tools.commands import capture, run
from release_tools.errors import ReleaseError
from release_tools.workspace import Member, Workspace

# Files a build never ships, whatever the source tree holds.
NEVER_SHIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})


@dataclass(frozen=True)
class Artifacts:
    """The files `uv build` produced for one package version."""

    wheel: Path
    sdist: Path | None


def build(workspace: Workspace, member: Member, out_dir: Path, *, sdist: bool = True) -> Artifacts:
    """Build `member` as users get it: `--no-sources`, so sibling bounds are the real ones.

    With `sdist` the wheel is built from the sdist (uv's default), which also proves the
    sdist holds everything the wheel needs.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in [path for paths in artifacts_of(member, out_dir) for path in paths]:
        stale.unlink()  # left by an earlier, failed attempt at the same version
    argv = ["uv", "build", "--package", member.name, "--no-sources", "--out-dir", out_dir]
    if not sdist:
        argv.append("--wheel")
    run(argv, cwd=workspace.root, what=f"build {member.name}", quiet=True)
    return find_artifacts(member, out_dir, sdist=sdist)


def artifacts_of(member: Member, out_dir: Path) -> tuple[list[Path], list[Path]]:
    """(wheels, sdists) in `out_dir` of `member` at its declared version, other files ignored."""
    wheels = [
        p
        for p in out_dir.glob("*.whl")
        if parse_wheel_filename(p.name)[:2] == (member.name, member.version)
    ]
    sdists = [
        p
        for p in out_dir.glob("*.tar.gz")
        if parse_sdist_filename(p.name) == (member.name, member.version)
    ]
    return wheels, sdists


def find_artifacts(member: Member, out_dir: Path, *, sdist: bool = True) -> Artifacts:
    """The wheel (and sdist) of `member` at its declared version in `out_dir`."""
    wheels, sdists = artifacts_of(member, out_dir)
    if len(wheels) != 1 or (sdist and len(sdists) != 1):
        raise ReleaseError(
            f"expected one wheel{' and one sdist' if sdist else ''} of {member.name} "
            f"{member.version} in {out_dir}, found {len(wheels)} wheel(s) and {len(sdists)} "
            "sdist(s); delete stale files there and rebuild"
        )
    return Artifacts(wheel=wheels[0], sdist=sdists[0] if sdist else None)


def source_files(workspace: Workspace, member: Member) -> list[str]:
    """Files of the import package that a wheel must ship, relative to `src/`, sorted.

    That is every file git tracks or would track (ignored files are left out, as hatchling
    leaves them out), so stubs, kernels and data files count, and stray build outputs do not.
    """
    package = member.source_package
    if not package.is_dir():
        raise ReleaseError(
            f"{member.name} has no import package at {package.relative_to(workspace.root)}; "
            "fix [tool.hatch.build.targets.wheel] packages in its pyproject.toml"
        )
    listing = capture(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", package],
        cwd=workspace.root,
        what=f"list the source files of {member.name}",
    )
    files = []
    for relative in filter(None, listing.split("\0")):
        path = workspace.root / relative
        if path.is_file() and path.suffix not in NEVER_SHIPPED_SUFFIXES:
            files.append(path.relative_to(member.source_root).as_posix())
    return sorted(files)


def missing_from_wheel(wheel: Path, expected: list[str]) -> list[str]:
    """The `expected` paths (relative to `src/`) that the wheel does not contain."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    return [path for path in expected if path not in shipped]


def suffix_counts(files: list[str]) -> str:
    """`12 files: .py 10, .cu 2`, to show what a check covered."""
    counts: dict[str, int] = {}
    for name in files:
        suffix = Path(name).suffix or "(none)"
        counts[suffix] = counts.get(suffix, 0) + 1
    parts = ", ".join(f"{s} {n}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"{len(files)} files: {parts}" if files else "0 files"
