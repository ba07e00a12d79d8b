"""Release one workspace package: test, bump, changelog, build, install-check, commit, tag.

    uv run python scripts/release.py PACKAGE --bump patch|minor|major [--dry-run]
                                     [--date YYYY-MM-DD] [--publish --index-url URL]

Each package is versioned on its own and tagged `<package>-v<version>`. The steps:
  1. preflight: clean tree, new tag free, changelog has notes, dependents admit the version
  2. run the package's tests (`uv run --package PACKAGE pytest packages/<folder>`)
  3. bump the version (`uv version --package PACKAGE --bump KIND`, which updates uv.lock)
  4. move CHANGELOG.md's `## Unreleased` notes under `## X.Y.Z - <today>`
  5. build sdist and wheel into dist/PACKAGE/ (`uv build --no-sources`)
  6. install the wheel, with the sibling wheels it needs, into a fresh environment and run
     its smoke checks, then each extra in an environment of its own (the same checks as
     scripts/check_packages.py; wheel and sdist must carry the root LICENSE)
  7. commit the three changed files and tag the commit
  8. publish to URL with `uv publish`, only with --publish
The tag is made only after the artifacts proved to install, so a tag never marks a release
that does not work; if a step from 3 on fails, the files it changed are restored.
`--dry-run` changes nothing and prints every step. Errors: exit 1, one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version
from release_tools.bounds import BoundProblem, check_sibling_bounds
from release_tools.changelog import release_changelog, unreleased_notes
from release_tools.cli import OneLineArgumentParser
from release_tools.commands import capture, run, show
from release_tools.environments import write_lock_constraints
from release_tools.errors import ReleaseError
from release_tools.extras_check import check_extra
from release_tools.install_check import check_installed_wheel
from release_tools.licenses import check_licenses
from release_tools.public_index import PYPI_JSON_URL, namesake_warning, refuse_public_upload
from release_tools.versions import BUMP_KINDS, bump, parse_release_version
from release_tools.wheels import build
from release_tools.workspace import Member, Workspace, load_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
STEPS = 8


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD") from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(
        description="Release one workspace package (see the module docstring for the steps)."
    )
    parser.add_argument("package", help="the package's distribution name, e.g. nn")
    parser.add_argument("--bump", required=True, choices=BUMP_KINDS, help="which part to bump")
    parser.add_argument("--dry-run", action="store_true", help="change nothing, print the plan")
    parser.add_argument(
        "--date", type=iso_date, help="the release date for CHANGELOG.md (default: today)"
    )
    parser.add_argument("--publish", action="store_true", help="upload with `uv publish`")
    parser.add_argument("--index-url", help="upload URL of the team's index (with --publish)")
    parser.add_argument(
        "--pypi-url",
        default=PYPI_JSON_URL,
        help="where to look up namesakes on the public index before publishing (its JSON API)",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="workspace root (a git repo)")
    args = parser.parse_args(argv)
    if args.publish and not args.index_url:
        parser.error("--publish needs --index-url URL: the names are taken on the public index")
    if args.index_url and not args.publish:
        parser.error("--index-url is only used with --publish; add --publish or drop it")
    if args.publish:
        try:
            refuse_public_upload(args.index_url)
        except ReleaseError as error:
            parser.error(str(error))
    return args


def bump_command(member: Member, kind: str) -> list[str]:
    """uv writes the version and re-locks; `--no-sync` leaves the environment alone."""
    return ["uv", "version", "--package", member.name, "--bump", kind, "--no-sync"]


def step(number: int, title: str) -> None:
    print(f"\n[{number}/{STEPS}] {title}", flush=True)


@dataclass(frozen=True)
class Plan:
    """Everything decided before a file changes."""

    workspace: Workspace
    member: Member
    new_version: Version
    today: dt.date
    tests: list[str]
    dist_dir: Path

    @property
    def tag(self) -> str:
        return self.member.tag(self.new_version)

    @property
    def changed_files(self) -> list[Path]:
        return [self.member.pyproject, self.member.changelog, self.workspace.root / "uv.lock"]


def make_plan(args: argparse.Namespace) -> Plan:
    workspace = load_workspace(args.root)
    member = workspace.member(args.package)
    where = str(member.pyproject.relative_to(workspace.root))
    current = parse_release_version(str(member.version), where=where)
    folder = member.folder.relative_to(workspace.root).as_posix()
    return Plan(
        workspace=workspace,
        member=member,
        new_version=bump(current, args.bump),
        today=args.date or dt.date.today(),
        tests=["uv", "run", "--package", member.name, "pytest", folder, "-q"],
        dist_dir=workspace.root / "dist" / member.name,
    )


def relevant_bound_problems(plan: Plan) -> list[BoundProblem]:
    """Problems with requirements on the released package, or of it on its siblings."""
    problems = check_sibling_bounds(plan.workspace, {plan.member.name: plan.new_version})
    return [
        p
        for p in problems
        if p.requirement.name == plan.member.name or p.dependent.name == plan.member.name
    ]


def preflight(plan: Plan, publish_to_check: str | None = None) -> list[str]:
    """Every reason a real release would refuse to start; prints what it checked.

    With `publish_to_check` (the public index's JSON API) it also warns when the public index
    has a project of the same name, as users could install that one by mistake.
    """
    root, member = plan.workspace.root, plan.member
    problems = []
    dirty = capture(["git", "status", "--porcelain"], cwd=root, what="read the git status")
    if dirty.strip():
        lines = dirty.splitlines()
        problems.append(
            f"the working tree has {len(lines)} uncommitted change(s) (first: "
            f"{lines[0].strip()}); commit or stash them, then release from a clean tree"
        )
    else:
        print("  ok: the working tree is clean")
    if capture(["git", "tag", "--list", plan.tag], cwd=root, what="list the git tags").strip():
        problems.append(f"the tag {plan.tag} already exists; was this version released already?")
    else:
        print(f"  ok: the tag {plan.tag} is free")
    where = str(member.changelog.relative_to(root))
    try:
        text = member.changelog.read_text(encoding="utf-8")
        release_changelog(text, str(plan.new_version), plan.today, where=where)
        notes = unreleased_notes(text, where=where)
        print(f"  ok: {where} has notes to release ({len(notes.splitlines())} line(s))")
    except (OSError, ReleaseError) as error:
        problems.append(str(error))
    dependents = plan.workspace.dependents(member.name)
    bound_problems = relevant_bound_problems(plan)
    problems += [str(p) for p in bound_problems]
    failing = {p.dependent.name for p in bound_problems if p.requirement.name == member.name}
    for dependent in dependents:
        for req in dependent.requirements:
            if req.name == member.name and dependent.name not in failing:
                print(f"  ok: {dependent.name} requires {req.text!r}: admits {plan.new_version}")
    if not dependents:
        print(f"  ok: no workspace package depends on {member.name}")
    if publish_to_check is not None:
        warning = namesake_warning(member.name, publish_to_check)
        print(f"  warning: {warning}" if warning else f"  ok: PyPI has no {member.name}")
    return problems


def print_dry_run(plan: Plan, args: argparse.Namespace) -> None:
    member, root = plan.member, plan.workspace.root
    step(2, "run the package's tests")
    print(f"  would run: {show(plan.tests)}")
    step(3, f"bump the version {member.version} -> {plan.new_version}")
    print(f"  would run: {show(bump_command(member, args.bump))}")
    step(4, "release the changelog notes")
    where = str(member.changelog.relative_to(root))
    text = member.changelog.read_text(encoding="utf-8")
    try:
        notes = unreleased_notes(text, where=where)
    except ReleaseError:
        notes = "(no notes: preflight refuses this)"
    print(f"  would move the `## Unreleased` notes of {where} under:")
    print(f"    ## {plan.new_version} - {plan.today.isoformat()}")
    print("\n".join(f"    {line}" for line in notes.splitlines()))
    step(5, f"build sdist and wheel into {plan.dist_dir.relative_to(root)}/")
    print(f"  would run: uv build --package {member.name} --no-sources --out-dir {plan.dist_dir}")
    closure = plan.workspace.install_closure(member)
    step(6, "install the wheel into a fresh environment and run its smoke checks")
    siblings = ", ".join(m.name for m in closure) or "none"
    print(f"  would build the sibling wheels it needs ({siblings}), create a venv with `uv venv`,")
    print("  `uv pip install` the wheels (third-party versions from uv.lock), check that the")
    print("  siblings came from the local wheels, and run the smoke checks (release_tools/smoke);")
    extras = ", ".join(member.extras) or "none"
    print(f"  then the same for each extra ({extras}), each in a fresh environment")
    step(7, f"commit and tag {plan.tag}")
    files = " ".join(str(p.relative_to(root)) for p in plan.changed_files)
    print(f"  would run: git add {files}")
    print(f"  would run: git commit -m 'Release {member.name} {plan.new_version}'")
    print(f"  would run: git tag -a {plan.tag} -m '{member.name} {plan.new_version}'")
    step(8, "publish")
    if args.publish:
        print(f"  would run: uv publish --publish-url {args.index_url} {plan.dist_dir}/<sdist> "
              f"{plan.dist_dir}/<wheel>")  # fmt: skip
    else:
        print("  not publishing (no --publish)")


def build_and_check(plan: Plan) -> tuple[Path, Path]:
    """Steps 5 and 6: the artifacts, proven to install alone; returns (sdist, wheel)."""
    workspace = load_workspace(plan.workspace.root)  # re-read: the version changed
    member = workspace.member(plan.member.name)
    step(5, f"build sdist and wheel into {plan.dist_dir.relative_to(workspace.root)}/")
    artifacts = build(workspace, member, plan.dist_dir)
    assert artifacts.sdist is not None
    print(f"  built {artifacts.sdist.name} and {artifacts.wheel.name}; "
          f"{check_licenses(workspace, member, artifacts)} carry the root LICENSE")  # fmt: skip
    step(6, "install the wheel into a fresh environment and run its smoke checks")
    scratch = workspace.root / "build" / "release"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{member.name}-", dir=scratch) as tmp:
        work = Path(tmp)
        wheels = {member.name: artifacts.wheel}
        for sibling in workspace.install_closure(member, extras=member.extras):
            wheels[sibling.name] = build(
                workspace, sibling, work / "siblings" / sibling.name, sdist=False
            ).wheel
        constraints = write_lock_constraints(workspace, work / "lock-constraints.txt")
        check = check_installed_wheel(workspace, member, wheels, work / "venv", constraints)
        print(
            f"  ok: {member.name} {member.version} installed with {len(check.siblings)} sibling "
            f"wheel(s), {check.smoke.modules} module(s) imported, ships {check.shipped}"
        )
        for extra in member.extras:
            extra_check = check_extra(
                workspace, member, extra, wheels, work / "extras" / extra, constraints
            )
            print(f"  {extra_check.status}: {extra_check.name}: {extra_check.detail}")
    return artifacts.sdist, artifacts.wheel


def release(plan: Plan, args: argparse.Namespace) -> None:
    """The real run, steps 2 to 8; restores the changed files if a step fails before the tag."""
    root, member = plan.workspace.root, plan.member
    step(2, "run the package's tests")
    run(plan.tests, cwd=root, what=f"pass the tests of {member.name}")
    saved = {path: path.read_bytes() for path in plan.changed_files}
    try:
        step(3, f"bump the version {member.version} -> {plan.new_version}")
        run(bump_command(member, args.bump), cwd=root, what=f"bump {member.name}")
        written = load_workspace(root).member(member.name).version
        if written != plan.new_version:
            raise ReleaseError(f"uv wrote version {written}, expected {plan.new_version}")
        step(4, "release the changelog notes")
        where = str(member.changelog.relative_to(root))
        text = member.changelog.read_text(encoding="utf-8")
        member.changelog.write_text(
            release_changelog(text, str(plan.new_version), plan.today, where=where),
            encoding="utf-8",
        )
        print(f"  {where}: ## {plan.new_version} - {plan.today.isoformat()}")
        sdist, wheel = build_and_check(plan)
        step(7, f"commit and tag {plan.tag}")
        run(["git", "add", *plan.changed_files], cwd=root, what="stage the release")
        message = f"Release {member.name} {plan.new_version}"
        run(["git", "commit", "--quiet", "-m", message], cwd=root, what="commit the release")
    except BaseException:
        for path, content in saved.items():
            path.write_bytes(content)
        with contextlib.suppress(ReleaseError):  # keep the original error, not this one
            capture(["git", "reset", "--quiet", "--", *saved], cwd=root, what="unstage")
        print("  restored pyproject.toml, CHANGELOG.md and uv.lock as they were", flush=True)
        raise
    tag_message = f"{member.name} {plan.new_version}"
    run(["git", "tag", "-a", plan.tag, "-m", tag_message], cwd=root, what=f"tag {plan.tag}")
    step(8, "publish")
    if args.publish:
        run(
            ["uv", "publish", "--publish-url", args.index_url, sdist, wheel],
            cwd=root,
            what=f"publish {member.name} {plan.new_version} to {args.index_url}",
        )
    else:
        print("  not publishing (no --publish)")
    print(
        f"\nreleased {member.name} {plan.new_version}: tag {plan.tag}, artifacts in "
        f"{plan.dist_dir.relative_to(root)}/. Push with: git push --atomic origin HEAD {plan.tag}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = make_plan(args)
        mode = "dry run: nothing will change" if args.dry_run else "release"
        print(f"{mode}: {plan.member.name} {plan.member.version} -> {plan.new_version} "
              f"({args.bump}), tag {plan.tag}")  # fmt: skip
        step(1, "preflight")
        problems = preflight(plan, args.pypi_url if args.publish else None)
        for problem in problems:
            print(f"  {'would refuse' if args.dry_run else 'refused'}: {problem}")
        if problems and not args.dry_run:
            raise ReleaseError(problems[0] + (f" (and {len(problems) - 1} more above)"
                                              if len(problems) > 1 else ""))  # fmt: skip
        if args.dry_run:
            print_dry_run(plan, args)
            if problems:
                sys.stdout.flush()
                print(f"release: dry run: a real run would refuse: {problems[0]}", file=sys.stderr)
                return 1
            print("\ndry run complete: nothing was changed")
            return 0
        release(plan, args)
    except ReleaseError as error:
        sys.stdout.flush()
        print(f"release: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("release: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
