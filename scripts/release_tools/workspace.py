"""The workspace's member packages, read from their `pyproject.toml` files.

Everything the release tools know about a package (name, version, import name, sibling
requirements, console scripts) comes from here, so that a new package or a new dependency is
picked up without editing the scripts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from release_tools.errors import ReleaseError


@dataclass(frozen=True)
class DeclaredRequirement:
    """One requirement of a package: from `dependencies` (extra None) or an optional extra."""

    requirement: Requirement
    extra: str | None
    text: str  # as written in pyproject.toml, for messages

    @property
    def name(self) -> NormalizedName:
        return canonicalize_name(self.requirement.name)


@dataclass(frozen=True)
class Member:
    """A workspace package as its `pyproject.toml` declares it."""

    name: NormalizedName
    version: Version
    folder: Path
    import_name: str
    requirements: tuple[DeclaredRequirement, ...]
    console_scripts: tuple[str, ...]
    workspace_sources: frozenset[NormalizedName]
    extras: tuple[str, ...] = ()  # the names under [project.optional-dependencies], sorted

    @property
    def pyproject(self) -> Path:
        return self.folder / "pyproject.toml"

    @property
    def changelog(self) -> Path:
        return self.folder / "CHANGELOG.md"

    @property
    def source_root(self) -> Path:
        """The folder that holds the import package (`src/`), as the wheel lays it out."""
        return self.folder / "src"

    @property
    def source_package(self) -> Path:
        return self.source_root / self.import_name

    @property
    def tag_prefix(self) -> str:
        return f"{self.name}-v"

    def tag(self, version: Version | None = None) -> str:
        """The git tag of a release: `<package>-v<version>`."""
        return f"{self.tag_prefix}{version or self.version}"


@dataclass(frozen=True)
class Workspace:
    """The repository root and its members, sorted by name."""

    root: Path
    members: tuple[Member, ...]

    def member(self, name: str) -> Member:
        """The member called `name`; the error lists the names that exist."""
        wanted = canonicalize_name(name)
        for member in self.members:
            if member.name == wanted:
                return member
        names = ", ".join(m.name for m in self.members)
        raise ReleaseError(f"no workspace package named {name!r}; the packages are: {names}")

    @property
    def names(self) -> frozenset[NormalizedName]:
        return frozenset(m.name for m in self.members)

    def sibling_requirements(self, member: Member) -> list[DeclaredRequirement]:
        """The requirements of `member` that name another workspace package."""
        return [r for r in member.requirements if r.name in self.names and r.name != member.name]

    def dependents(self, name: str) -> list[Member]:
        """The members that require `name`, in `dependencies` or in an extra."""
        wanted = canonicalize_name(name)
        return [m for m in self.members if any(r.name == wanted for r in m.requirements)]

    def install_closure(self, member: Member, extras: Collection[str] = ()) -> list[Member]:
        """The siblings that installing `member[extras]` pulls in, transitively.

        Only `member`'s own `extras` count; the siblings' extras are their own business.
        """
        seen: dict[NormalizedName, Member] = {}
        stack = [member]
        while stack:
            current = stack.pop()
            wanted = set(extras) if current is member else set()
            for req in self.sibling_requirements(current):
                if req.extra is not None and req.extra not in wanted:
                    continue
                if req.name not in seen and req.name != member.name:
                    seen[req.name] = self.member(req.name)
                    stack.append(seen[req.name])
        return sorted(seen.values(), key=lambda m: m.name)

    def extra_only_requirements(self, member: Member) -> list[NormalizedName]:
        """Third-party distributions that only `member`'s extras declare, not its core."""
        core = {r.name for r in member.requirements if r.extra is None}
        return sorted(
            {r.name for r in member.requirements if r.extra is not None}
            - core
            - set(self.names)
        )


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ReleaseError(f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ReleaseError(f"{path} is not valid TOML: {error}") from None


def _parse_requirement(text: str, *, where: Path) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as error:
        raise ReleaseError(f"{where}: invalid requirement {text!r}: {error}") from None


def _import_name(project: dict, tool: dict) -> str:
    """The import package: the last part of hatch's wheel `packages`, else the dist name."""
    packages = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    paths = packages.get("packages") or []
    if len(paths) == 1:
        return Path(paths[0]).name
    return project["name"].replace("-", "_")


def load_member(folder: Path) -> Member:
    """Read one package folder's `pyproject.toml` into a `Member`."""
    pyproject = folder / "pyproject.toml"
    data = _read_toml(pyproject)
    project = data.get("project")
    if not isinstance(project, dict) or "name" not in project:
        raise ReleaseError(f"{pyproject}: no [project] table with a name")
    if "version" not in project:
        raise ReleaseError(f'{pyproject}: [project] has no static version; add version = "X.Y.Z"')
    try:
        version = Version(project["version"])
    except InvalidVersion:
        raise ReleaseError(f"{pyproject}: version {project['version']!r} is invalid") from None
    requirements = [
        DeclaredRequirement(_parse_requirement(text, where=pyproject), None, text)
        for text in project.get("dependencies", [])
    ]
    for extra, texts in project.get("optional-dependencies", {}).items():
        requirements += [
            DeclaredRequirement(_parse_requirement(text, where=pyproject), extra, text)
            for text in texts
        ]
    tool = data.get("tool", {})
    sources = tool.get("uv", {}).get("sources", {})
    return Member(
        name=canonicalize_name(project["name"]),
        version=version,
        folder=folder,
        import_name=_import_name(project, tool),
        requirements=tuple(requirements),
        console_scripts=tuple(sorted(project.get("scripts", {}))),
        extras=tuple(sorted(project.get("optional-dependencies", {}))),
        workspace_sources=frozenset(
            canonicalize_name(name)
            for name, source in sources.items()
            if isinstance(source, dict) and source.get("workspace") is True
        ),
    )


def load_workspace(root: Path) -> Workspace:
    """Read the root's `[tool.uv.workspace] members` globs and every member they match."""
    root = root.resolve()
    config = _read_toml(root / "pyproject.toml").get("tool", {}).get("uv", {}).get("workspace")
    if not config or not config.get("members"):
        raise ReleaseError(f"{root / 'pyproject.toml'} has no [tool.uv.workspace] members")
    excluded = {p.resolve() for pattern in config.get("exclude", []) for p in root.glob(pattern)}
    folders = sorted(
        {
            path.resolve()
            for pattern in config["members"]
            for path in root.glob(pattern)
            if (path / "pyproject.toml").is_file() and path.resolve() not in excluded
        }
    )
    if not folders:
        raise ReleaseError(f"the workspace members {config['members']} match no package folder")
    members = sorted((load_member(folder) for folder in folders), key=lambda m: m.name)
    return Workspace(root=root, members=tuple(members))
