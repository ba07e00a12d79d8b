"""Release one workspace package: test, bump, changelog, build, install-check, commit, tag.

    uv run python scripts/release.py PACKAGE --bump patch|minor|major [--dry-run]
                                     [--date YYYY-MM-DD] [--publish --index-url URL]

uv does the standard parts: `uv version --bump` (which also re-locks), `uv build --no-sources`
and `uv publish`. Here is only what this repository adds around them: a clean tree and a free
tag `<package>-vX.Y.Z`; the CHANGELOG.md notes under `## Unreleased` moved under
`## X.Y.Z - date` (a release with no notes is refused); every sibling's bound must admit the
new version (else the bound to change is named); the built wheel, and each extra, installed
in fresh environments and smoke-checked as `check_packages.py` does, before the tag, so a tag
never marks artifacts that do not install; and no upload to PyPI or TestPyPI, where our names
belong to other projects. If a step fails before the tag, the three files it changes are
restored. `--dry-run` prints the plan and changes nothing. Errors: one line on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import urllib.parse
from pathlib import Path

import check_packages as cp
from packaging.version import Version
from release_tools.cli import OneLineArgumentParser, run_script
from release_tools.commands import capture, run, show
from release_tools.errors import ReleaseError

PUBLIC_UPLOAD_HOSTS = {"upload.pypi.org", "pypi.org", "test.pypi.org", "test.pypi.io"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", help="the package's distribution name, e.g. nn")
    parser.add_argument("--bump", required=True, choices=["patch", "minor", "major"])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--date", type=iso_date, default=dt.date.today(), help="for CHANGELOG")
    parser.add_argument("--publish", action="store_true", help="upload with `uv publish`")
    parser.add_argument("--index-url", help="the team index's upload URL (with --publish)")
    parser.add_argument("--root", type=Path, default=cp.REPO_ROOT, help="workspace root")
    args = parser.parse_args(argv)
    if args.publish != bool(args.index_url):
        parser.error("--publish and --index-url URL (the team index's) go together")
    host = urllib.parse.urlsplit(args.index_url or "").hostname or ""
    if host.lower() in PUBLIC_UPLOAD_HOSTS:
        parser.error(f"refusing to publish to {host}: on PyPI these names belong to other "
                     "projects; publish to the team's index")  # fmt: skip
    args.root = args.root.resolve()
    return args


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD") from None


def released_changelog(text: str, version: str, day: dt.date, where: str) -> str:
    """The changelog with its `## Unreleased` notes moved under `## <version> - <day>`.

    A fresh, empty `## Unreleased` stays on top for the next changes.
    """
    parts = re.split(r"^## +Unreleased *\n", text, flags=re.MULTILINE | re.IGNORECASE)
    if len(parts) != 2:
        raise ReleaseError(f"{where} needs exactly one `## Unreleased` heading, above the releases")
    head, rest = parts
    next_heading = re.search(r"^## ", rest, re.MULTILINE)
    cut = next_heading.start() if next_heading else len(rest)
    notes, older = rest[:cut].strip(), rest[cut:]
    if not notes:
        raise ReleaseError(f"{where} has nothing under `## Unreleased`: list the changes there")
    if re.search(rf"^## +{re.escape(version)}\b", older, re.MULTILINE):
        raise ReleaseError(f"{where} already has a section for {version}")
    released = f"{head}## Unreleased\n\n## {version} - {day.isoformat()}\n\n{notes}\n"
    return released + (f"\n{older}" if older else "")


def preflight(args: argparse.Namespace, package: cp.Package, new: Version, tag: str) -> list[str]:
    """Every reason the release must not start; prints what passed."""
    packages, root = cp.load_workspace(args.root), args.root
    problems = []
    dirty = capture(["git", "status", "--porcelain"], cwd=root, what="read the git status")
    if dirty.strip():
        first = dirty.splitlines()[0].strip()
        problems.append(f"the working tree has uncommitted changes (first: {first}); commit them")
    if capture(["git", "tag", "--list", tag], cwd=root, what="list the tags").strip():
        problems.append(f"the tag {tag} already exists; was this version released already?")
    changelog = package.folder / "CHANGELOG.md"
    try:
        where = changelog.relative_to(root).as_posix()
        released_changelog(changelog.read_text(encoding="utf-8"), str(new), args.date, where)
    except (OSError, ReleaseError) as error:
        problems.append(str(error))
    problems += cp.bound_problems(packages, {package.name: new}, only=package.name)
    for problem in problems:
        print(f"  {'would refuse' if args.dry_run else 'refused'}: {problem}")
    if not problems:
        print(f"  ok: clean tree, {tag} free, changelog notes, every bound admits {new}")
    return problems


def release(args: argparse.Namespace, package: cp.Package, new: Version, tag: str) -> None:
    """The real run; the changed files are restored if a step before the commit fails."""
    root, name = args.root, package.name
    changelog = package.folder / "CHANGELOG.md"
    changed = [package.folder / "pyproject.toml", changelog, root / "uv.lock"]
    dist = root / "dist" / name
    run(["uv", "run", "--package", name, "pytest", package.folder, "-q"], cwd=root,
        what=f"pass the tests of {name}")  # fmt: skip
    saved = {path: path.read_bytes() for path in changed}
    try:
        run(["uv", "version", "--package", name, "--bump", args.bump, "--no-sync"], cwd=root,
            what=f"bump {name}")  # fmt: skip
        where = changelog.relative_to(root).as_posix()
        text = released_changelog(changelog.read_text(encoding="utf-8"), str(new), args.date, where)
        changelog.write_text(text, encoding="utf-8")
        artifacts = cp.check(root, [name], dist=root / "dist")  # re-read: new version
        run(["git", "add", *changed], cwd=root, what="stage the release")
        run(["git", "commit", "--quiet", "-m", f"Release {name} {new}"], cwd=root, what="commit")
    except BaseException:
        for path, content in saved.items():
            path.write_bytes(content)
        capture(["git", "reset", "--quiet", "--", *changed], cwd=root, what="unstage")
        print("  restored pyproject.toml, CHANGELOG.md and uv.lock as they were", flush=True)
        raise
    run(["git", "tag", "-a", tag, "-m", f"{name} {new}"], cwd=root, what=f"tag {tag}")
    if args.publish:
        run(["uv", "publish", "--publish-url", args.index_url, *artifacts], cwd=root,
            what=f"publish {name} {new} to {args.index_url}")  # fmt: skip
    print(f"released {name} {new}: tag {tag}, artifacts in {dist.relative_to(root)}/; push with "
          f"git push --atomic origin HEAD {tag}")  # fmt: skip


def print_plan(args: argparse.Namespace, package: cp.Package, new: Version, tag: str) -> None:
    folder = package.folder.relative_to(args.root)
    name = package.name
    for command in (
        ["uv", "run", "--package", name, "pytest", folder, "-q"],
        ["uv", "version", "--package", name, "--bump", args.bump, "--no-sync"],
        [f"would move the notes of {folder}/CHANGELOG.md under '## {new} - {args.date}'"],
        ["uv", "build", "--package", name, "--no-sources", "--out-dir", f"dist/{name}"],
        [f"would install {name} and each extra ({', '.join(package.extras)}) from the wheels into "
         "fresh environments and run their smoke checks"],
        ["git", "commit", "-m", f"Release {name} {new}"],
        ["git", "tag", "-a", tag, "-m", f"{name} {new}"],
        ["uv", "publish", "--publish-url", args.index_url, f"dist/{name}/*"] if args.publish
        else ["and not publish (no --publish)"],
    ):  # fmt: skip
        print(f"  would run: {show(command)}" if len(command) > 1 else f"  {command[0]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    package = cp.member(cp.load_workspace(args.root), args.package)
    bump = ["uv", "version", "--package", package.name, "--bump", args.bump]
    new = Version(capture([*bump, "--dry-run", "--short", "--no-sync"], cwd=args.root,
                          what=f"compute the next version of {package.name}").strip())  # fmt: skip
    tag = f"{package.name}-v{new}"
    print(f"{'dry run' if args.dry_run else 'release'}: {package.name} {package.version} -> "
          f"{new} ({args.bump}), tag {tag}")  # fmt: skip
    problems = preflight(args, package, new, tag)
    if args.dry_run:
        print_plan(args, package, new, tag)
    if problems:
        more = f" (and {len(problems) - 1} more above)" if len(problems) > 1 else ""
        raise ReleaseError(
            ("a real run would refuse: " if args.dry_run else "") + problems[0] + more
        )
    if args.dry_run:
        print("dry run complete: nothing was changed")
    else:
        release(args, package, new, tag)
    return 0


if __name__ == "__main__":
    run_script(main, "release")
