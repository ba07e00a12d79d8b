"""Checks that every dependency between workspace packages is bounded and satisfiable.

Inside the workspace uv resolves siblings from source, whatever bound a package declares, so
a bound that its sibling no longer satisfies only breaks for users who install the wheels.
The names `autograd`, `nn` and `cuda-kernels` also belong to foreign projects on the public
index, so every sibling requirement needs an upper bound that keeps those out, and a
`{ workspace = true }` source so that development uses the sibling, not the foreign package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import Version

from release_tools.versions import compatible_bound
from release_tools.workspace import DeclaredRequirement, Member, Workspace

UPPER_BOUND_OPERATORS = frozenset({"<", "<=", "==", "~=", "==="})


@dataclass(frozen=True)
class BoundProblem:
    """A sibling requirement of `dependent` that is unbounded or excludes `sibling_version`."""

    dependent: Member
    requirement: DeclaredRequirement
    sibling_version: Version
    message: str

    def __str__(self) -> str:
        return self.message


def _pyproject_path(member: Member) -> str:
    """`packages/nn/pyproject.toml`: short enough for a one-line message."""
    return f"{member.folder.parent.name}/{member.folder.name}/pyproject.toml"


def _where(member: Member, req: DeclaredRequirement) -> str:
    table = "dependencies" if req.extra is None else f"optional-dependencies.{req.extra}"
    return f"{_pyproject_path(member)} [project] {table}"


def check_requirement(
    dependent: Member, req: DeclaredRequirement, sibling_version: Version
) -> str | None:
    """Why `req` of `dependent` is not acceptable for a sibling at `sibling_version`, or None."""
    spec = req.requirement.specifier
    written = req.text
    suggestion = f"{req.requirement.name}{compatible_bound(sibling_version)}"
    where = _where(dependent, req)
    if not any(s.operator in UPPER_BOUND_OPERATORS for s in spec):
        return (
            f"{dependent.name} requires {written!r} without an upper bound, so a foreign package "
            f"of that name on the public index could satisfy it: write {suggestion!r} in {where}"
        )
    if not spec.contains(sibling_version, prereleases=True):
        return (
            f"{dependent.name} requires {written!r}, which does not admit "
            f"{req.name} {sibling_version}: change it to {suggestion!r} in {where}"
        )
    if req.name not in dependent.workspace_sources:
        return (
            f"{dependent.name} requires {req.name} but has no "
            f"`{req.name} = {{ workspace = true }}` under [tool.uv.sources] in "
            f"{_pyproject_path(dependent)}, so uv would take the foreign package from the "
            "index instead of the sibling"
        )
    return None


def check_sibling_bounds(
    workspace: Workspace, versions: Mapping[NormalizedName, Version] | None = None
) -> list[BoundProblem]:
    """Every problem with sibling requirements, given the siblings' versions.

    `versions` overrides the declared versions, e.g. with the version a release is about to
    set, so the check can run before anything is written.
    """
    versions = dict(versions or {})
    problems = []
    for dependent in workspace.members:
        for req in workspace.sibling_requirements(dependent):
            sibling_version = versions.get(req.name, workspace.member(req.name).version)
            message = check_requirement(dependent, req, sibling_version)
            if message is not None:
                problems.append(BoundProblem(dependent, req, sibling_version, message))
    return problems
