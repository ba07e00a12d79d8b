"""The version-bound check between workspace packages, on small temporary workspaces."""

from __future__ import annotations

import pytest
from packaging.version import Version
from release_tools.bounds import check_sibling_bounds
from release_tools.workspace import load_workspace

AUTOGRAD = ("0.1.0", [], [])


def nn_requiring(requirement: str, *, source: bool = True) -> tuple[str, list[str], list[str]]:
    return ("0.1.0", [requirement], ["autograd"] if source else [])


def test_admits_a_version_inside_the_bound(make_workspace) -> None:
    root = make_workspace({"autograd": AUTOGRAD, "nn": nn_requiring("autograd>=0.1,<0.2")})
    workspace = load_workspace(root)
    assert check_sibling_bounds(workspace) == []
    assert check_sibling_bounds(workspace, {"autograd": Version("0.1.9")}) == []


def test_rejects_a_version_outside_and_names_the_bound_to_change(make_workspace) -> None:
    root = make_workspace({"autograd": AUTOGRAD, "nn": nn_requiring("autograd>=0.1,<0.2")})
    problems = check_sibling_bounds(load_workspace(root), {"autograd": Version("0.2.0")})
    assert len(problems) == 1
    message = str(problems[0])
    assert problems[0].dependent.name == "nn"
    assert "nn requires 'autograd>=0.1,<0.2'" in message
    assert "does not admit autograd 0.2.0" in message
    assert "change it to 'autograd>=0.2,<0.3'" in message
    assert "packages/nn/pyproject.toml [project] dependencies" in message


def test_rejects_the_declared_version_when_it_is_already_outside(make_workspace) -> None:
    root = make_workspace({"autograd": ("1.2.0", [], []), "nn": nn_requiring("autograd>=0.1,<0.2")})
    (problem,) = check_sibling_bounds(load_workspace(root))
    assert "does not admit autograd 1.2.0" in str(problem)
    assert "'autograd>=1.2,<2'" in str(problem)


@pytest.mark.parametrize("requirement", ["autograd", "autograd>=0.1", "autograd!=0.3"])
def test_rejects_a_requirement_without_upper_bound(make_workspace, requirement: str) -> None:
    root = make_workspace({"autograd": AUTOGRAD, "nn": nn_requiring(requirement)})
    (problem,) = check_sibling_bounds(load_workspace(root))
    assert "without an upper bound" in str(problem)
    assert "foreign package" in str(problem)


@pytest.mark.parametrize("requirement", ["autograd==0.1.0", "autograd~=0.1.0", "autograd<=0.1.0"])
def test_other_upper_bounds_are_accepted(make_workspace, requirement: str) -> None:
    root = make_workspace({"autograd": AUTOGRAD, "nn": nn_requiring(requirement)})
    assert check_sibling_bounds(load_workspace(root)) == []


def test_rejects_a_sibling_without_workspace_source(make_workspace) -> None:
    root = make_workspace(
        {"autograd": AUTOGRAD, "nn": nn_requiring("autograd>=0.1,<0.2", source=False)}
    )
    (problem,) = check_sibling_bounds(load_workspace(root))
    assert "autograd = { workspace = true }" in str(problem)


def test_checks_requirements_in_extras_too(make_workspace) -> None:
    root = make_workspace({"autograd": AUTOGRAD, "nn": nn_requiring("autograd>=0.1,<0.2")})
    pyproject = root / "packages" / "nn" / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.uv.sources]",
            '[project.optional-dependencies]\ngrad = ["autograd>=0.5,<0.6"]\n\n[tool.uv.sources]',
        )
    )
    (problem,) = check_sibling_bounds(load_workspace(root))
    assert "[project] optional-dependencies.grad" in str(problem)


def test_third_party_requirements_are_not_sibling_bounds(make_workspace) -> None:
    root = make_workspace({"autograd": ("0.1.0", ["numpy"], []), "nn": nn_requiring("autograd<1")})
    assert check_sibling_bounds(load_workspace(root)) == []


def test_the_real_workspace_declares_valid_sibling_bounds(repo_root) -> None:
    assert [str(p) for p in check_sibling_bounds(load_workspace(repo_root))] == []
