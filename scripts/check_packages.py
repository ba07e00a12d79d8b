"""Build every workspace package and prove each wheel installs and works on its own.

Inside the workspace uv takes siblings from source, which hides broken packaging. This
script builds each package as users get it (`uv build --no-sources`: sdist, then the wheel
from the sdist), checks the wheel holds every source file of the import package, installs it
into its own fresh virtual environment together with only the sibling wheels it requires,
proves the siblings came from those wheels (the names autograd, nn and cuda-kernels are taken
on the public index), and runs the package's smoke checks (scripts/release_tools/smoke.py).
It also checks every bound between siblings. CI runs it as
`uv run python scripts/check_packages.py`; it exits non-zero with one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import time
from pathlib import Path

from release_tools.bounds import check_sibling_bounds
from release_tools.cli import OneLineArgumentParser
from release_tools.environments import write_lock_constraints
from release_tools.errors import ReleaseError
from release_tools.install_check import InstallCheck, check_installed_wheel
from release_tools.smoke import spec_for
from release_tools.wheels import build
from release_tools.workspace import Member, Workspace, load_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="packages to check (default: all)"
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="workspace root")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="where wheels and environments go (default: ROOT/build/check-packages); it is "
        "emptied first. Keep it on the filesystem of uv's cache so installs are hard links",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    return parser.parse_args(argv)


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def summary_row(check: InstallCheck) -> list[str]:
    smoke = check.smoke
    return [
        check.member.name,
        str(check.member.version),
        check.shipped,
        ", ".join(check.siblings) or "-",
        f"{smoke.modules} modules, {smoke.data_files} data files, "
        f"--help: {', '.join(smoke.scripts) or 'no scripts'}",
        f"{check.install_s:.1f}",
        f"{check.total_s:.1f}",
        "ok",
    ]


def check_all(workspace: Workspace, selected: list[Member], work_dir: Path) -> list[str]:
    """Run every check; return one failure line per problem (empty when all passed)."""
    failures = [str(problem) for problem in check_sibling_bounds(workspace)]
    for line in failures:
        print(f"bounds: FAIL {line}")
    if not failures:
        print("bounds: every sibling requirement is bounded and admits its sibling's version")

    print("\n==> build every package (sdist, then wheel from the sdist)")
    build_started = time.perf_counter()
    wheels: dict[str, Path] = {}
    for member in workspace.members:  # all: a selected package may need any sibling
        try:
            wheels[member.name] = build(workspace, member, work_dir / "dist" / member.name).wheel
        except ReleaseError as error:
            failures.append(str(error))
            print(f"  FAIL {error}")

    print(f"  built {len(wheels)} package(s) in {time.perf_counter() - build_started:.1f} s")
    constraints = write_lock_constraints(workspace, work_dir / "lock-constraints.txt")
    rows = [["package", "version", "wheel ships", "sibling wheels", "smoke", "install s",
             "total s", "result"]]  # fmt: skip
    for member in selected:
        print(f"\n==> {member.name} {member.version}: fresh environment from its wheel")
        with contextlib.suppress(ReleaseError):  # a missing spec fails in the check below
            print(f"  smoke: {spec_for(member).reason}")
        if member.name not in wheels:
            rows.append([member.name, str(member.version), "-", "-", "-", "-", "-", "build failed"])
            continue
        try:
            check = check_installed_wheel(
                workspace, member, wheels, work_dir / "venvs" / member.name, constraints
            )
        except ReleaseError as error:
            failures.append(f"{member.name}: {error}")
            print(f"  FAIL {error}")
            rows.append([member.name, str(member.version), "-", "-", "-", "-", "-", "FAILED"])
            continue
        rows.append(summary_row(check))
    print()
    print_table(rows)
    return failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        workspace = load_workspace(args.root)
        selected = (
            [workspace.member(name) for name in args.packages]
            if args.packages
            else list(workspace.members)
        )
        work_dir = (args.work_dir or workspace.root / "build" / "check-packages").resolve()
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        failures = check_all(workspace, selected, work_dir)
        if not args.keep:
            cleanup_started = time.perf_counter()
            shutil.rmtree(work_dir, ignore_errors=True)
            print(f"removed {work_dir} in {time.perf_counter() - cleanup_started:.1f} s")
    except ReleaseError as error:
        print(f"check_packages: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("check_packages: interrupted", file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - started
    sys.stdout.flush()
    if failures:
        more = f" (and {len(failures) - 1} more above)" if len(failures) > 1 else ""
        print(f"check_packages: FAILED in {elapsed:.0f} s: {failures[0]}{more}", file=sys.stderr)
        return 1
    print(f"\ncheck_packages: {len(selected)} package(s) OK in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
