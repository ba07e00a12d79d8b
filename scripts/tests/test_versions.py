from __future__ import annotations

import re

import pytest
from packaging.version import Version
from release_tools.errors import ReleaseError
from release_tools.versions import bump, compatible_bound, parse_release_version


@pytest.mark.parametrize(
    ("kind", "expected"), [("patch", "0.1.1"), ("minor", "0.2.0"), ("major", "1.0.0")]
)
def test_bump_from_zero_minor(kind: str, expected: str) -> None:
    assert bump(Version("0.1.0"), kind) == Version(expected)


def test_bump_resets_the_lower_parts() -> None:
    assert bump(Version("1.4.7"), "minor") == Version("1.5.0")
    assert bump(Version("1.4.7"), "major") == Version("2.0.0")


def test_bump_rejects_an_unknown_kind() -> None:
    with pytest.raises(ReleaseError, match=re.escape("unknown bump 'tiny'")):
        bump(Version("1.0.0"), "tiny")


@pytest.mark.parametrize("text", ["1.0.0rc1", "1.0.0.post1", "1.0", "1.0.0+local", "1.0.0.dev2"])
def test_release_versions_must_be_plain(text: str) -> None:
    with pytest.raises(ReleaseError, match=re.escape("not a plain X.Y.Z release")):
        parse_release_version(text, where="pkg/pyproject.toml")


def test_invalid_version_names_the_file() -> None:
    with pytest.raises(
        ReleaseError, match=re.escape("pkg/pyproject.toml: 'banana' is not a valid version")
    ):
        parse_release_version("banana", where="pkg/pyproject.toml")


def test_compatible_bound_is_the_minor_before_one_and_the_major_after() -> None:
    assert compatible_bound(Version("0.3.2")) == ">=0.3,<0.4"
    assert compatible_bound(Version("2.5.0")) == ">=2.5,<3"
