"""`uv run --package X pytest` from the root collects X's tests and nothing else."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def collected(*uv_args: str) -> list[str]:
    proc = subprocess.run(
        ["uv", "run", *uv_args, "pytest", "--collect-only", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in proc.stdout.splitlines() if "::" in line]


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv on PATH")
@pytest.mark.parametrize("package", ["nn", "autograd"])
def test_single_package_run_collects_only_that_package(package):
    ids = collected("--package", package)
    assert ids, "nothing collected"
    assert all(i.startswith(f"packages/{package}/") for i in ids), ids[:5]
