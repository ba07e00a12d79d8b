"""check_packages.py's parts; CI runs the whole check, test_release.py runs it in a release."""

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
    cases = [("nn", None), ("mnist-trainer", "embedded"), ("autograd", "draw")]
    found = [[s.name for s in cp.siblings(PACKAGES, PACKAGES[p], e)] for p, e in cases]
    assert found == [["autograd"], ["cuda-kernels"], []]


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


def test_a_wheelhouse_that_is_not_a_folder_is_one_line(clone, run_script, tmp_path) -> None:
    result = run_script("check_packages.py", "--wheelhouse", str(tmp_path / "none"), cwd=clone)
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_failing_smoke_check_is_one_line(tmp_path, make_wheel, monkeypatch) -> None:
    toy = cp.Package("toy", Version("0.1.0"), tmp_path, "toy", {None: []}, frozenset(), ())
    files = {"toy/__init__.py": "raise ImportError('a broken toy')\n"}
    monkeypatch.setitem(cp.SMOKE, "toy", "import toy")
    wheels = {"toy": make_wheel(tmp_path / "dist", "toy", "0.1.0", files)}
    inst = cp.Install(REPO, {"toy": toy}, wheels, tmp_path, Path("/dev/null"))
    with pytest.raises(ReleaseError, match=r"smoke check of toy: .*ImportError: a broken toy$"):
        cp.smoke(inst, toy)
