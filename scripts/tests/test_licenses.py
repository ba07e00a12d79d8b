"""Wheels and sdists carry the root LICENSE: checked on hand-made archives and the real tree."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from release_tools.errors import ReleaseError
from release_tools.licenses import (
    check_licenses,
    sdist_license_problems,
    wheel_license_problems,
)
from release_tools.wheels import Artifacts
from release_tools.workspace import load_workspace

MIT = "MIT License\n\nCopyright (c) 2026 someone\n"


def write_sdist(folder: Path, top: str, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / f"{top}.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist


def test_a_wheel_with_the_license_passes(tmp_path: Path, make_wheel) -> None:
    wheel = make_wheel(tmp_path, "toy", "0.1.0", {"toy/__init__.py": ""}, license_text=MIT)
    assert wheel_license_problems(wheel, MIT.encode()) == []


def test_a_wheel_without_license_names_what_is_missing(tmp_path: Path, make_wheel) -> None:
    wheel = make_wheel(tmp_path, "toy", "0.1.0", {"toy/__init__.py": ""})
    assert wheel_license_problems(wheel, MIT.encode()) == [
        "toy-0.1.0-py3-none-any.whl lacks the root LICENSE text in toy-0.1.0.dist-info/ "
        "(no license file)",
        "toy-0.1.0-py3-none-any.whl declares no License-Expression",
        "toy-0.1.0-py3-none-any.whl lists no License-File: LICENSE",
    ]


def test_a_wheel_whose_license_drifted_is_caught(tmp_path: Path, make_wheel) -> None:
    wheel = make_wheel(tmp_path, "toy", "0.1.0", {}, license_text=MIT + "extra clause\n")
    (problem,) = wheel_license_problems(wheel, MIT.encode())
    assert "lacks the root LICENSE text" in problem and "(licenses/LICENSE)" in problem


def test_sdist_needs_its_own_copy_of_the_license(tmp_path: Path) -> None:
    good = write_sdist(tmp_path, "toy-0.1.0", {"LICENSE": MIT, "pyproject.toml": ""})
    assert sdist_license_problems(good, MIT.encode()) == []
    bare = write_sdist(tmp_path / "bare", "toy-0.1.0", {"pyproject.toml": ""})
    assert sdist_license_problems(bare, MIT.encode()) == [
        "toy-0.1.0.tar.gz has no toy-0.1.0/LICENSE"
    ]
    other = write_sdist(tmp_path / "other", "toy-0.1.0", {"LICENSE": "Apache-2.0\n"})
    assert sdist_license_problems(other, MIT.encode()) == [
        "toy-0.1.0.tar.gz: toy-0.1.0/LICENSE differs from the root LICENSE"
    ]


def test_the_error_says_how_to_fix_it(make_workspace, make_wheel, tmp_path: Path) -> None:
    root = make_workspace({"toy": ("0.1.0", [], [])})
    (root / "LICENSE").write_text(MIT)
    workspace = load_workspace(root)
    wheel = make_wheel(tmp_path / "w", "toy", "0.1.0", {})
    with pytest.raises(ReleaseError) as error:
        check_licenses(workspace, workspace.member("toy"), Artifacts(wheel=wheel, sdist=None))
    assert str(error.value).startswith("toy: toy-0.1.0-py3-none-any.whl lacks the root LICENSE")
    assert str(error.value).endswith(
        'copy the root LICENSE to packages/toy/LICENSE and set license-files = ["LICENSE"] '
        "under [project] in packages/toy/pyproject.toml"
    )


def test_every_real_package_keeps_an_identical_copy_of_the_root_license(repo_root) -> None:
    expected = (repo_root / "LICENSE").read_text()
    assert expected.startswith("MIT License")
    for member in load_workspace(repo_root).members:
        assert (member.folder / "LICENSE").read_text() == expected, member.name
