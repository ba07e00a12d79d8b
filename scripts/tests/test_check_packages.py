"""scripts/check_packages.py: every package and extra has a smoke check, and the check can fail."""

from __future__ import annotations

import dataclasses
import tarfile
from pathlib import Path

import check_packages as cp
import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from release_tools.errors import ReleaseError

REPO = Path(__file__).resolve().parents[2]
PACKAGES = cp.load_workspace(REPO)


def test_every_package_and_extra_of_the_workspace_has_a_smoke_check() -> None:
    keys = {f"{p.name}[{e}]" if e else p.name for p in PACKAGES.values() for e in [None, *p.extras]}
    assert keys == set(cp.SMOKE), "add what installing each one must make work to SMOKE"


def test_the_siblings_an_install_needs_follow_extras_transitively() -> None:
    trainer = PACKAGES["mnist-trainer"]
    assert [p.name for p in cp.siblings(PACKAGES, PACKAGES["nn"], None)] == ["autograd"]
    assert [p.name for p in cp.siblings(PACKAGES, trainer, "embedded")] == ["cuda-kernels"]
    assert cp.siblings(PACKAGES, PACKAGES["autograd"], "draw") == []


def test_a_bound_problem_names_the_bound_to_change() -> None:
    assert cp.bound_problems(PACKAGES, {}) == []
    (problem,) = cp.bound_problems(PACKAGES, {"autograd": Version("1.0.0")}, only="autograd")
    assert problem.startswith("nn requires 'autograd<0.2,>=0.1', which does not admit autograd")
    assert problem.endswith(
        "'autograd>=1.0,<2' in packages/nn/pyproject.toml [project] dependencies"
    )


@pytest.mark.parametrize(
    ("requirement", "sources", "message"),
    [
        ("autograd>=0.1", {"autograd"}, "without an upper bound"),
        ("autograd!=0.3", {"autograd"}, "without an upper bound"),
        ("autograd~=0.1.0", set(), "has no `autograd = { workspace = true }`"),
    ],
)
def test_unbounded_or_sourceless_sibling_requirements_are_problems(requirement, sources, message):
    packages = dict(PACKAGES)
    nn = packages["nn"]
    packages["nn"] = dataclasses.replace(nn, requires={None: [Requirement(requirement)]},
                                         workspace_sources=frozenset(sources))  # fmt: skip
    (problem,) = cp.bound_problems(packages, {}, only="nn")
    assert message in problem


def test_a_binary_only_extra_without_a_wheelhouse_is_skipped_with_the_reason(tmp_path) -> None:
    inst = cp.Install(REPO, PACKAGES, {}, tmp_path, tmp_path / "constraints.txt")
    result = cp.smoke(inst, PACKAGES["cuda-kernels"], "gpu")
    assert result.startswith("skipped: pycuda is published only as source")
    assert not list(tmp_path.iterdir())  # nothing was created or installed


def test_artifacts_without_the_root_license_are_refused(tmp_path, make_wheel) -> None:
    nn = PACKAGES["nn"]
    files = {f"nn/{p.name}": "" for p in (nn.folder / "src/nn").glob("*.py")}
    wheel = make_wheel(tmp_path, "nn", "0.1.0", files, license_text="another license\n")
    sdist = tmp_path / "nn-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(REPO / "LICENSE", arcname="nn-0.1.0/LICENSE")
    with pytest.raises(ReleaseError, match=r"copy the root LICENSE to packages/nn/LICENSE"):
        cp.check_artifacts(REPO, nn, wheel, sdist)
    good = make_wheel(tmp_path / "good", "nn", "0.1.0", files,
                      license_text=(REPO / "LICENSE").read_text())  # fmt: skip
    cp.check_artifacts(REPO, nn, good, sdist)


def test_a_package_and_its_extras_install_from_wheels_in_a_clone(clone, run_script) -> None:
    result = run_script("check_packages.py", "nn", "--root", str(clone), cwd=clone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "nn: ok with sibling wheels: autograd" in result.stdout
    assert "nn[plot]: ok with sibling wheels: autograd" in result.stdout
    assert "check_packages: 1 package(s) OK" in result.stdout


def test_a_wheelhouse_that_is_not_a_folder_is_one_line(clone, run_script, tmp_path) -> None:
    result = run_script("check_packages.py", "--wheelhouse", str(tmp_path / "none"), cwd=clone)
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert result.stderr.count("\n") == 1
