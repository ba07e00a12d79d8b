"""The wheel-contents and smoke-planning checks, on synthetic wheels and source trees."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from release_tools.errors import ReleaseError
from release_tools.smoke import SMOKE_SPECS, SmokeSpec, modules_to_import, spec_for
from release_tools.wheels import missing_from_wheel, source_files, suffix_counts
from release_tools.workspace import load_workspace


def write_wheel(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, "")
    return path


def test_missing_from_wheel_lists_exactly_the_absent_files(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path / "k-0.1.0-py3-none-any.whl",
        ["k/__init__.py", "k/kernels/a.cu", "k-0.1.0.dist-info/METADATA"],
    )
    expected = ["k/__init__.py", "k/_proto/k_pb2.py", "k/kernels/a.cu", "k/kernels/b.cu"]
    assert missing_from_wheel(wheel, expected) == ["k/_proto/k_pb2.py", "k/kernels/b.cu"]


def test_source_files_skips_ignored_files_and_bytecode(make_workspace, git) -> None:
    root = make_workspace({"cuda-kernels": ("0.1.0", [], [])})
    package = root / "packages" / "cuda-kernels" / "src" / "cuda_kernels"
    for relative in ["__init__.py", "kernels/doublify.cu", "_proto/k_pb2.py", "build/x.cubin"]:
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text("")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "m.cpython-311.pyc").write_text("")
    (root / ".gitignore").write_text("build/\n")
    subprocess.run(["git", "init", "--quiet", str(root)], check=True)
    git(root, "add", "packages/cuda-kernels/src/cuda_kernels/__init__.py")  # others untracked

    workspace = load_workspace(root)
    files = source_files(workspace, workspace.member("cuda-kernels"))
    assert files == [
        "cuda_kernels/__init__.py",
        "cuda_kernels/_proto/k_pb2.py",
        "cuda_kernels/kernels/doublify.cu",
    ]
    assert suffix_counts(files) == "3 files: .py 2, .cu 1"


def test_a_package_folder_without_import_package_is_refused(make_workspace, git) -> None:
    root = make_workspace({"nn": ("0.1.0", [], [])})
    (root / "packages" / "nn" / "src" / "nn").rmdir()
    workspace = load_workspace(root)
    with pytest.raises(ReleaseError, match="has no import package at packages/nn/src/nn"):
        source_files(workspace, workspace.member("nn"))


def test_modules_to_import_follow_the_spec(make_workspace) -> None:
    member = load_workspace(make_workspace({"k": ("0.1.0", [], [])})).member("k")
    files = ["k/__init__.py", "k/__main__.py", "k/cli.py", "k/_proto/__init__.py",
             "k/_proto/k_pb2.py", "k/_proto/k_pb2.pyi", "k/kernels/a.cu"]  # fmt: skip
    only_proto = SmokeSpec("test", import_all_under=("_proto",))
    assert modules_to_import(member, only_proto, files) == ["k._proto", "k._proto.k_pb2"]
    everything = SmokeSpec("test")
    assert modules_to_import(member, everything, files) == [
        "k", "k._proto", "k._proto.k_pb2", "k.cli",
    ]  # fmt: skip


def test_every_real_package_has_a_smoke_spec(repo_root: Path) -> None:
    workspace = load_workspace(repo_root)
    assert {m.name for m in workspace.members} <= set(SMOKE_SPECS)


def test_a_package_without_smoke_spec_fails_loudly(make_workspace) -> None:
    member = load_workspace(make_workspace({"newcomer": ("0.1.0", [], [])})).member("newcomer")
    with pytest.raises(ReleaseError, match="newcomer has no entry in SMOKE_SPECS"):
        spec_for(member)
