"""Running the external tools (uv, git) with the command echoed and failures made readable."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from release_tools.errors import ReleaseError


def show(argv: Sequence[str | Path]) -> str:
    """A command as a person would type it in a shell."""
    return shlex.join(str(a) for a in argv)


def _run(argv: Sequence[str | Path], what: str, **kwargs) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([str(a) for a in argv], text=True, check=False, **kwargs)
    except FileNotFoundError:
        raise ReleaseError(f"cannot {what}: {argv[0]} is not installed or not on PATH") from None


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    what: str,
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> str:
    """Run `argv` in `cwd`, return its stdout; on failure raise a one-line `ReleaseError`.

    With `quiet` the output is captured and, if the command fails, its last 25 lines are
    printed (so the cause is visible) before the error; otherwise it streams live. Either way
    the command's stderr goes to our stdout: stderr is kept for our one-line error. `what`
    says in words what the command was for, e.g. "build the wheel of nn".
    """
    print(f"  $ {show(argv)}", flush=True)
    pipe = subprocess.PIPE if quiet else None
    result = _run(argv, what, cwd=cwd, env=env, stdout=pipe, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        lines = (result.stdout or "").rstrip().splitlines()
        if quiet and lines:
            print("\n".join(f"    | {line}" for line in lines[-25:]), flush=True)
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        detail = f": {last}" if last else " (its output is above)"
        raise ReleaseError(f"could not {what}: `{show(argv)}` exited {result.returncode}{detail}")
    return result.stdout or ""


def capture(argv: Sequence[str | Path], *, cwd: Path, what: str) -> str:
    """Run a read-only query (git status, git tag) silently and return its stdout."""
    result = _run(argv, what, cwd=cwd, capture_output=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        raise ReleaseError(f"could not {what}: `{show(argv)}` failed: {last}")
    return result.stdout
