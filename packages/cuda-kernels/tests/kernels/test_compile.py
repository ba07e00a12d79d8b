"""Every shipped .cu file compiles for Hopper (sm_90) with nvcc, without a GPU.

Catches syntax and type errors before a GPU session, and records what ptxas reports per
kernel (registers, spills, shared memory): run with `-s` to see the table.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cuda_kernels.kernels import source_path
from cuda_kernels.kernels.ladder import SOURCE_FILES, launches_in, nvcc_define_flags


def find_nvcc() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    for candidate in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
        path = Path(candidate, "bin", "nvcc")
        if candidate and path.is_file():
            return str(path)
    return None


NVCC = find_nvcc()
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH nor in /usr/local/cuda")

ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+)'")
SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")
USAGE = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def ptxas_report(filename: str, tmp_path: Path) -> dict[str, dict]:
    with source_path(filename) as source:
        proc = subprocess.run(
            [NVCC, "-arch=sm_90", "-cubin", "-O3", "-Xptxas", "-v", *nvcc_define_flags(filename),
             "-o", str(tmp_path / f"{filename}.cubin"), str(source)],
            capture_output=True, text=True, timeout=300,
        )
    assert proc.returncode == 0, f"nvcc failed on {filename}:\n{proc.stderr}"
    kernels: dict[str, dict] = {}
    current = None
    for line in proc.stderr.splitlines():
        if m := ENTRY.search(line):
            current = kernels.setdefault(m.group(1), {"arch": m.group(2)})
        elif current is not None and (m := SPILLS.search(line)):
            current["spill_stores"], current["spill_loads"] = int(m.group(1)), int(m.group(2))
        elif current is not None and (m := USAGE.search(line)):
            current["registers"] = int(m.group(1))
            current["smem_bytes"] = int(m.group(2) or 0)
    return kernels


@pytest.mark.parametrize("filename", SOURCE_FILES)
def test_source_compiles_for_sm90_without_spills(filename, tmp_path):
    kernels = ptxas_report(filename, tmp_path)
    assert set(kernels) == {launch.function for launch in launches_in(filename)}
    for name, info in sorted(kernels.items()):
        print(f"{filename:<12} {name:<20} {info['arch']} registers={info['registers']:>3} "
              f"smem={info['smem_bytes']:>6} B spills={info['spill_stores']}/{info['spill_loads']}")
        assert info["registers"] <= 255
        assert info["spill_stores"] == 0 and info["spill_loads"] == 0, (
            f"{name} spills registers to local memory, which costs bandwidth"
        )


def test_every_source_file_has_a_header_listing_its_versions():
    for filename in SOURCE_FILES:
        with source_path(filename) as source:
            head = Path(source).read_text(encoding="utf-8")[:3000]
        assert head.startswith(f"// {filename}:"), filename
        assert "version 1" in head, filename
