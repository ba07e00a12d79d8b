"""The whole check of one built package: wheel contents, fresh install, smoke checks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from release_tools.environments import create_venv, install_wheels
from release_tools.errors import ReleaseError
from release_tools.smoke import SmokeReport, run_smoke_checks, spec_for
from release_tools.wheels import missing_from_wheel, source_files, suffix_counts
from release_tools.workspace import Member, Workspace


@dataclass(frozen=True)
class InstallCheck:
    """What passed for one package, with the time the fresh install took."""

    member: Member
    wheel: Path
    shipped: str
    siblings: tuple[str, ...]
    smoke: SmokeReport
    install_s: float
    total_s: float


def check_installed_wheel(
    workspace: Workspace,
    member: Member,
    wheels: dict[str, Path],
    venv: Path,
    constraints: Path | None,
) -> InstallCheck:
    """Prove the wheel of `member` ships its sources and works installed alone in `venv`.

    `wheels` maps each workspace package to its built wheel; `member` is installed together
    with exactly the sibling wheels its requirements pull in.
    """
    started = time.perf_counter()
    spec_for(member)  # a package without a smoke entry fails before any work
    wheel = wheels[member.name]
    files = source_files(workspace, member)
    missing = missing_from_wheel(wheel, files)
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        shown = ", ".join(missing[:5]) + more
        raise ReleaseError(
            f"the wheel {wheel.name} lacks {len(missing)} source file(s): {shown}; include them "
            f"in [tool.hatch.build.targets.wheel] of {member.name}'s pyproject.toml"
        )
    closure = workspace.install_closure(member)
    unbuilt = [m.name for m in closure if m.name not in wheels]
    if unbuilt:
        raise ReleaseError(f"{member.name} needs sibling wheels that were not built: {unbuilt}")
    install_wheels_list = [wheel, *(wheels[m.name] for m in closure)]
    create_venv(workspace, venv)
    install_started = time.perf_counter()
    install_wheels(workspace, venv, install_wheels_list, constraints)
    install_s = time.perf_counter() - install_started
    expected = {m.name: wheels[m.name] for m in [member, *closure]}
    smoke = run_smoke_checks(workspace, member, venv, files, expected)
    return InstallCheck(
        member=member,
        wheel=wheel,
        shipped=suffix_counts(files),
        siblings=tuple(m.name for m in closure),
        smoke=smoke,
        install_s=install_s,
        total_s=time.perf_counter() - started,
    )
