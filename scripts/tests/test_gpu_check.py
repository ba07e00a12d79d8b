"""The GPU device script's own parts: the failures it names, its install as on the host, the
libc check and the results folder rules. The whole run, rehearsed as the host is, is a step
of `.ci/run` (`gpu_check.py --rehearse-host 3.12`), so it is not run again here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import gpu_check
import pytest
from build_pycuda_wheel import python_for
from release_tools.errors import ReleaseError

SCRIPT = gpu_check.REPO_ROOT / "scripts" / "gpu_check.py"


def gpu_check_run(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_without_a_gpu_the_real_run_fails_and_names_each_failure_last(tmp_path: Path):
    done = gpu_check_run(tmp_path / "out", "--only", "install", "preflight",
                         "--wheels", str(tmp_path / "no-wheels"))  # fmt: skip
    assert done.returncode == 1
    last = done.stdout.strip().splitlines()[-3:]
    assert last[0].startswith("FAILED install: no wheels in")
    assert last[1].startswith("FAILED preflight: cuda-kernels describe exited with 1")
    assert last[2].startswith("gpu_check: FAILED")
    phases = json.loads((tmp_path / "out" / "summary.json").read_text())["phases"]
    assert [p["status"] for p in phases] == ["failed", "failed"]
    assert phases[1]["numbers"]["libc"]["glibc"]


def test_phases_past_the_budget_are_not_run_and_fail_the_run(tmp_path: Path):
    done = gpu_check_run(tmp_path, "--rehearse-host", sys.executable, "--budget-seconds", "0")
    assert done.returncode == 1
    phases = json.loads((tmp_path / "summary.json").read_text())["phases"]
    assert {(p["status"], p["detail"]) for p in phases} == {("not run", "out of time")}


def test_a_missing_results_folder_or_python_is_one_line(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--rehearse-host", sys.executable],
                          capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode == 2 and "pass --out DIR" in done.stderr
    done = gpu_check_run(tmp_path, "--rehearse-host", "2.1")
    assert done.returncode == 2 and "--rehearse-host: could not find Python 2.1" in done.stderr


def test_the_console_scripts_of_the_carried_wheels_are_on_path(tmp_path: Path, make_wheel):
    """pip --target writes console scripts to <target>/bin: the tests that start
    `cuda-kernels` by name find it only if the check puts that folder on PATH."""
    try:
        python = python_for("3.12")  # an interpreter with pip, as the host's python3 is
    except ReleaseError:
        pytest.skip("no Python 3.12 here")
    info = "demo_tool-0.1.dist-info"
    make_wheel(tmp_path / "wheels", "demo-tool", "0.1", {
        "demo_tool.py": "def main():\n    print('demo-tool runs')\n",
        f"{info}/entry_points.txt": "[console_scripts]\ndemo-tool = demo_tool:main\n",
    })  # fmt: skip
    run = gpu_check.Run(out=tmp_path / "out", work=tmp_path / "work", python=python,
                        rehearse=False, wheels=tmp_path / "wheels",
                        deadline=time.monotonic() + 120, env=dict(os.environ))  # fmt: skip
    phase = gpu_check.Phase("install")
    gpu_check.phase_install(run, phase)
    assert phase.status == "passed", run.log_path("install").read_text()
    done = subprocess.run(["demo-tool"], env=run.env, capture_output=True, text=True)
    assert done.stdout == "demo-tool runs\n"


@pytest.mark.parametrize(
    ("libc", "problem"),
    [
        ({"glibc": "2.31", "glibcxx": "3.4.30"}, "glibc 2.31 is older than the 2.34"),
        ({"glibc": "2.36", "glibcxx": "3.4.28"}, "glibcxx 3.4.28 is older than the 3.4.29"),
        ({"glibc": "2.36", "glibcxx": "3.4.30"}, ""),
        ({"glibc": None, "glibcxx": None}, ""),  # unknown: pycuda's own error says the rest
    ],
)
def test_an_old_libc_is_named_as_the_reason_pycuda_cannot_load(libc, problem):
    assert gpu_check.libc_problem(libc).startswith(problem)
    assert ("pycuda wheel needs" in gpu_check.libc_problem(libc)) == bool(problem)


def test_the_host_libc_is_read_from_this_process():
    libc = gpu_check.host_libc()
    assert libc["glibc"] == os.confstr("CS_GNU_LIBC_VERSION").split()[1]
    assert libc["glibcxx"].startswith("3.4.")


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([f"f{i}.json" for i in range(9)], "9 files, more than 8"),
        (["a/b/c/deep.json"], "more than 2 folders deep"),
        (["has space.json"], "characters other than"),
    ],
)
def test_the_output_rules_are_checked(tmp_path: Path, files, problem):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    assert any(problem in p for p in gpu_check.output_problems(tmp_path))


def test_a_file_over_16_mib_is_refused(tmp_path: Path):
    with (tmp_path / "big.tar.gz").open("wb") as f:
        f.truncate(16 * 2**20 + 1)
    assert gpu_check.output_problems(tmp_path) == ["big.tar.gz is over 16 MiB"]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "ok.json").write_text("{}")
    assert len(gpu_check.output_problems(tmp_path)) == 1  # two folders deep is allowed
