from __future__ import annotations

import pytest
from release_tools.errors import ReleaseError
from release_tools.workspace import load_workspace


def test_reads_members_versions_and_import_names(make_workspace) -> None:
    root = make_workspace(
        {
            "autograd": ("0.1.0", [], []),
            "nn": ("0.3.2", ["autograd>=0.1,<0.2"], ["autograd"]),
            "cuda-kernels": ("1.0.0", ["numpy>=1.26"], []),
        }
    )
    workspace = load_workspace(root)
    assert [m.name for m in workspace.members] == ["autograd", "cuda-kernels", "nn"]
    kernels = workspace.member("cuda_kernels")  # names are compared normalized
    assert kernels.import_name == "cuda_kernels"
    assert str(workspace.member("nn").version) == "0.3.2"
    assert workspace.member("nn").tag() == "nn-v0.3.2"


def test_dependents_and_install_closure_follow_sibling_requirements(make_workspace) -> None:
    root = make_workspace(
        {
            "autograd": ("0.1.0", [], []),
            "nn": ("0.1.0", ["autograd>=0.1,<0.2"], ["autograd"]),
            "trainer": ("0.1.0", ["nn>=0.1,<0.2", "numpy"], ["nn"]),
        }
    )
    workspace = load_workspace(root)
    assert [m.name for m in workspace.dependents("autograd")] == ["nn"]
    assert [m.name for m in workspace.install_closure(workspace.member("trainer"))] == [
        "autograd",
        "nn",
    ]
    assert workspace.install_closure(workspace.member("autograd")) == []


def test_unknown_package_lists_the_real_ones(make_workspace) -> None:
    workspace = load_workspace(make_workspace({"autograd": ("0.1.0", [], [])}))
    with pytest.raises(ReleaseError, match=r"no workspace package named 'torch'.*autograd"):
        workspace.member("torch")


def test_invalid_requirement_names_the_file(make_workspace) -> None:
    root = make_workspace({"nn": ("0.1.0", ["autograd >>> 1"], [])})
    with pytest.raises(ReleaseError, match=r"pyproject.toml: invalid requirement 'autograd >>> 1'"):
        load_workspace(root)


def test_root_without_workspace_is_refused(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(ReleaseError, match=r"no \[tool\.uv\.workspace\] members"):
        load_workspace(tmp_path)
