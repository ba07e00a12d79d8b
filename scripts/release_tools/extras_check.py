"""Each extra of a package on its own: `PACKAGE[EXTRA]` from the wheel, in a fresh environment.

A plain install proves the core works without the extras; this proves each extra brings what
its modules need. The environment holds the package's wheel with the extra, only the sibling
wheels that install pulls in, and third-party packages at the versions of `uv.lock`. Then the
extra's smoke check (`EXTRA_SMOKE` in smoke.py) runs there. An extra whose dependencies can only
be built with tools this machine lacks (pycuda needs CUDA's headers) is skipped with the reason,
unless a prebuilt wheel of them is in the wheelhouse given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from release_tools.environments import constraints_without, create_venv, install_wheels
from release_tools.errors import ReleaseError
from release_tools.smoke import EXTRA_SMOKE, ExtraSmoke, run_extra_smoke
from release_tools.workspace import Member, Workspace


@dataclass(frozen=True)
class ExtraCheck:
    """The outcome for one extra: `ok` or `skipped` (failures raise instead)."""

    member: Member
    extra: str
    status: str
    detail: str  # what the smoke check proved, or why it was skipped
    siblings: tuple[str, ...] = ()
    install_s: float = 0.0
    total_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.member.name}[{self.extra}]"


def extra_spec(
    member: Member, extra: str, table: dict[tuple[str, str], ExtraSmoke] = EXTRA_SMOKE
) -> ExtraSmoke:
    """The smoke check of `member[extra]`; an extra without one is an error, not a skip."""
    try:
        return table[(member.name, extra)]
    except KeyError:
        raise ReleaseError(
            f"{member.name}[{extra}] has no entry in EXTRA_SMOKE (scripts/release_tools/"
            "smoke.py): add one saying what installing the extra must make work"
        ) from None


def prebuilt_wheels(wheelhouse: Path | None, name: str) -> list[Path]:
    """The wheels of distribution `name` in `wheelhouse` (none without a wheelhouse)."""
    if wheelhouse is None:
        return []
    wanted = canonicalize_name(name)
    return sorted(p for p in wheelhouse.glob("*.whl") if parse_wheel_filename(p.name)[0] == wanted)


def check_extra(
    workspace: Workspace,
    member: Member,
    extra: str,
    wheels: dict[str, Path],
    work: Path,
    constraints: Path | None,
    *,
    wheelhouse: Path | None = None,
    table: dict[tuple[str, str], ExtraSmoke] = EXTRA_SMOKE,
) -> ExtraCheck:
    """Install `member[extra]` into a fresh environment under `work`, run its smoke check."""
    started = time.perf_counter()
    spec = extra_spec(member, extra, table)
    missing = [name for name in spec.binary_only if not prebuilt_wheels(wheelhouse, name)]
    if missing:
        why = spec.why_binary or f"{', '.join(missing)} must come as a wheel from --wheelhouse"
        return ExtraCheck(member, extra, "skipped", why)
    closure = workspace.install_closure(member, extras=(extra,))
    unbuilt = [m.name for m in closure if m.name not in wheels]
    if unbuilt:
        raise ReleaseError(f"{member.name}[{extra}] needs sibling wheels that were not built: "
                           f"{unbuilt}")  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    if constraints is not None and spec.binary_only:  # the wheelhouse decides their versions
        constraints = constraints_without(constraints, spec.binary_only, work / "constraints.txt")
    venv = work / "venv"
    create_venv(workspace, venv)
    requirement = f"{member.name}[{extra}] @ {wheels[member.name].resolve().as_uri()}"
    install_started = time.perf_counter()
    install_wheels(
        workspace,
        venv,
        [requirement, *(wheels[m.name] for m in closure)],
        constraints,
        find_links=wheelhouse if spec.binary_only else None,
        only_binary=spec.binary_only,
    )
    install_s = time.perf_counter() - install_started
    run_extra_smoke(venv, spec)
    return ExtraCheck(
        member, extra, "ok", spec.reason, tuple(m.name for m in closure), install_s,
        time.perf_counter() - started,
    )  # fmt: skip
