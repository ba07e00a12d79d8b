"""Build every workspace package and prove each wheel, and each of its extras, works alone.

Inside the workspace uv takes siblings from source, which hides broken packaging. This
script builds each package as users get it (`uv build --no-sources`: sdist, then the wheel
from the sdist), checks the wheel holds every source file of the import package and that
wheel and sdist carry the root LICENSE, installs the wheel into its own fresh virtual
environment together with only the sibling wheels it requires, proves the siblings came from
those wheels (the names autograd, nn and cuda-kernels are taken on the public index), and runs
the package's smoke checks (scripts/release_tools/smoke.py). Then every extra the package
declares is installed the same way, each in a fresh environment of its own, and its smoke
check runs; an extra that needs a prebuilt wheel this machine cannot build is skipped with the
reason unless `--wheelhouse` holds one. It also checks every bound between siblings. CI runs it
as `uv run python scripts/check_packages.py`; it exits non-zero with one line on stderr.
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
from release_tools.extras_check import ExtraCheck, check_extra
from release_tools.install_check import InstallCheck, check_installed_wheel
from release_tools.licenses import check_licenses
from release_tools.smoke import spec_for
from release_tools.wheels import Artifacts, build
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
    parser.add_argument(
        "--wheelhouse",
        type=Path,
        help="a folder of prebuilt wheels (e.g. pycuda) for extras that cannot be built here",
    )
    args = parser.parse_args(argv)
    if args.wheelhouse is not None and not args.wheelhouse.is_dir():
        parser.error(f"--wheelhouse {args.wheelhouse} is not a folder")
    return args


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


def extra_row(check: ExtraCheck) -> list[str]:
    return [
        check.name,
        "",
        "",
        ", ".join(check.siblings) or "-",
        check.detail if check.status == "ok" else "-",
        f"{check.install_s:.1f}" if check.status == "ok" else "-",
        f"{check.total_s:.1f}" if check.status == "ok" else "-",
        check.status,
    ]


def check_extras(
    workspace: Workspace,
    member: Member,
    wheels: dict[str, Path],
    work_dir: Path,
    constraints: Path,
    wheelhouse: Path | None,
) -> tuple[list[list[str]], list[str], list[ExtraCheck]]:
    """(table rows, failures, skipped checks) of every extra `member` declares."""
    rows, failures, skipped = [], [], []
    for extra in member.extras:
        print(f"\n==> {member.name}[{extra}]: fresh environment from the wheel with the extra")
        try:
            check = check_extra(workspace, member, extra, wheels,
                                work_dir / "extras" / f"{member.name}-{extra}", constraints,
                                wheelhouse=wheelhouse)  # fmt: skip
        except ReleaseError as error:
            failures.append(f"{member.name}[{extra}]: {error}")
            print(f"  FAIL {error}")
            rows.append([f"{member.name}[{extra}]", "", "", "-", "-", "-", "-", "FAILED"])
            continue
        print(f"  {check.status}: {check.detail}")
        rows.append(extra_row(check))
        if check.status == "skipped":
            skipped.append(check)
    return rows, failures, skipped


def build_all(
    workspace: Workspace, selected: list[Member], work_dir: Path
) -> tuple[dict[str, Path], list[str]]:
    """Build the selected packages and the siblings they or their extras need; check licenses."""
    needed = {m.name for m in selected}
    for member in selected:
        needed |= {m.name for m in workspace.install_closure(member, extras=member.extras)}
    print("\n==> build the packages and the siblings they need (sdist, then wheel from the sdist)")
    started = time.perf_counter()
    wheels: dict[str, Path] = {}
    failures: list[str] = []
    for member in (m for m in workspace.members if m.name in needed):
        try:
            artifacts: Artifacts = build(workspace, member, work_dir / "dist" / member.name)
            wheels[member.name] = artifacts.wheel
            if member in selected:
                shipped = check_licenses(workspace, member, artifacts)
                print(f"  {member.name}: {shipped} carry the root LICENSE")
        except ReleaseError as error:
            failures.append(str(error))
            print(f"  FAIL {error}")
    print(f"  built {len(wheels)} package(s) in {time.perf_counter() - started:.1f} s")
    return wheels, failures


def check_core(
    workspace: Workspace, member: Member, wheels: dict[str, Path], work_dir: Path, constraints: Path
) -> tuple[list[str], list[str]]:
    """(table row, failures) of the install of `member` without extras."""
    print(f"\n==> {member.name} {member.version}: fresh environment from its wheel")
    with contextlib.suppress(ReleaseError):  # a missing spec fails in the check below
        print(f"  smoke: {spec_for(member).reason}")
    if member.name not in wheels:
        return [member.name, str(member.version), "-", "-", "-", "-", "-", "build failed"], []
    try:
        check = check_installed_wheel(
            workspace, member, wheels, work_dir / "venvs" / member.name, constraints
        )
    except ReleaseError as error:
        print(f"  FAIL {error}")
        row = [member.name, str(member.version), "-", "-", "-", "-", "-", "FAILED"]
        return row, [f"{member.name}: {error}"]
    return summary_row(check), []


def check_all(
    workspace: Workspace, selected: list[Member], work_dir: Path, wheelhouse: Path | None = None
) -> list[str]:
    """Run every check; return one failure line per problem (empty when all passed)."""
    failures = [str(problem) for problem in check_sibling_bounds(workspace)]
    for line in failures:
        print(f"bounds: FAIL {line}")
    if not failures:
        print("bounds: every sibling requirement is bounded and admits its sibling's version")
    wheels, build_failures = build_all(workspace, selected, work_dir)
    failures += build_failures
    constraints = write_lock_constraints(workspace, work_dir / "lock-constraints.txt")
    rows = [["package", "version", "wheel ships", "sibling wheels", "smoke", "install s",
             "total s", "result"]]  # fmt: skip
    skipped: list[ExtraCheck] = []
    for member in selected:
        row, core_failures = check_core(workspace, member, wheels, work_dir, constraints)
        rows.append(row)
        failures += core_failures
        if member.name in wheels:
            extra_rows, extra_failures, extra_skipped = check_extras(
                workspace, member, wheels, work_dir, constraints, wheelhouse
            )
            rows += extra_rows
            failures += extra_failures
            skipped += extra_skipped
    print()
    print_table(rows)
    for check in skipped:
        print(f"skipped {check.name}: {check.detail}")
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
        wheelhouse = args.wheelhouse.resolve() if args.wheelhouse else None
        failures = check_all(workspace, selected, work_dir, wheelhouse)
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
