"""Semantic version bumps, computed here so a dry run can show the new version exactly."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from release_tools.errors import ReleaseError

BUMP_KINDS = ("patch", "minor", "major")


def parse_release_version(text: str, *, where: str) -> Version:
    """Parse a plain `X.Y.Z` version; pre-, post-, dev- and local versions are refused.

    A bump of `1.0.0rc1` has no single obvious meaning, so a release starts from a final
    version; `where` names the file to fix in the message.
    """
    try:
        version = Version(text)
    except InvalidVersion:
        raise ReleaseError(f"{where}: {text!r} is not a valid version; write X.Y.Z") from None
    plain = not (version.is_prerelease or version.is_postrelease or version.local)
    if not plain or len(version.release) != 3:
        raise ReleaseError(
            f"{where}: version {text} is not a plain X.Y.Z release; "
            "set one first with `uv version --package NAME X.Y.Z`"
        )
    return version


def bump(version: Version, kind: str) -> Version:
    """The version after a `patch`, `minor` or `major` bump of a plain X.Y.Z version."""
    major, minor, patch = version.release
    if kind == "patch":
        return Version(f"{major}.{minor}.{patch + 1}")
    if kind == "minor":
        return Version(f"{major}.{minor + 1}.0")
    if kind == "major":
        return Version(f"{major + 1}.0.0")
    raise ReleaseError(f"unknown bump {kind!r}: use one of {', '.join(BUMP_KINDS)}")


def compatible_bound(version: Version) -> str:
    """The specifier we recommend for a sibling at `version`: the same minor before 1.0.

    Before 1.0 a minor bump may break callers (0.1 -> 0.2), afterwards only a major one does;
    an upper bound also keeps foreign packages with the same name but other versions out.
    """
    major, minor, _ = version.release
    if major == 0:
        return f">=0.{minor},<0.{minor + 1}"
    return f">={major}.{minor},<{major + 1}"
