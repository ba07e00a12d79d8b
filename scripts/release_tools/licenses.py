"""Every wheel and sdist carries the project's license: the text of the root LICENSE.

An sdist is built from its package folder alone, so each package keeps a copy of the root
LICENSE beside its pyproject.toml and names it in `license-files`; hatchling then puts it in
the sdist and in the wheel's `.dist-info/licenses/`. A copy that drifted from the root one, or
a package that forgot it, fails here with the fix in the message.
"""

from __future__ import annotations

import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from release_tools.errors import ReleaseError
from release_tools.wheels import Artifacts
from release_tools.workspace import Member, Workspace

LICENSE_NAME = "LICENSE"


def root_license(workspace: Workspace) -> bytes:
    path = workspace.root / LICENSE_NAME
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ReleaseError(f"{path} does not exist: the packages ship its text") from None


def _fix(member: Member, workspace: Workspace) -> str:
    folder = member.folder.relative_to(workspace.root).as_posix()
    return (
        f"copy the root LICENSE to {folder}/LICENSE and set license-files = [\"LICENSE\"] "
        f"under [project] in {folder}/pyproject.toml"
    )


def wheel_license_problems(wheel: Path, expected: bytes) -> list[str]:
    """Why the wheel's metadata or `.dist-info/licenses/` lacks the expected license text."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        if metadata_name is None:
            return [f"{wheel.name} has no .dist-info/METADATA"]
        dist_info = metadata_name.removesuffix("METADATA")
        licenses = [n for n in names if n.startswith(dist_info + "licenses/")]
        texts = [archive.read(n) for n in licenses]
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode("utf-8"))
    problems = []
    if expected not in texts:
        found = ", ".join(n.removeprefix(dist_info) for n in licenses) or "no license file"
        problems.append(f"{wheel.name} lacks the root LICENSE text in {dist_info} ({found})")
    if not metadata.get("License-Expression"):
        problems.append(f"{wheel.name} declares no License-Expression")
    if LICENSE_NAME not in metadata.get_all("License-File", []):
        problems.append(f"{wheel.name} lists no License-File: {LICENSE_NAME}")
    return problems


def sdist_license_problems(sdist: Path, expected: bytes) -> list[str]:
    """Why the sdist lacks `<name>-<version>/LICENSE` with the expected text."""
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        try:
            member = archive.extractfile(f"{top}/{LICENSE_NAME}")
        except KeyError:
            member = None
        text = member.read() if member is not None else None
    if text is None:
        return [f"{sdist.name} has no {top}/{LICENSE_NAME}"]
    if text != expected:
        return [f"{sdist.name}: {top}/{LICENSE_NAME} differs from the root LICENSE"]
    return []


def check_licenses(workspace: Workspace, member: Member, artifacts: Artifacts) -> str:
    """Raise when a built artifact of `member` lacks the license; return what was checked."""
    expected = root_license(workspace)
    problems = wheel_license_problems(artifacts.wheel, expected)
    if artifacts.sdist is not None:
        problems += sdist_license_problems(artifacts.sdist, expected)
    if problems:
        raise ReleaseError(f"{member.name}: {'; '.join(problems)}; {_fix(member, workspace)}")
    return "wheel and sdist" if artifacts.sdist is not None else "wheel"
