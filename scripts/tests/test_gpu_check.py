"""The GPU device script, rehearsed on the CPU: every phase leaves its result, the results
folder keeps the GPU host's rules, and a run without a GPU can never pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import gpu_check
import pytest

SCRIPT = gpu_check.REPO_ROOT / "scripts" / "gpu_check.py"
EXPECTED = {"summary.json", "summary.txt", "kernels.json", "service.json", "trainer.json",
            "logs.tar.gz"}  # fmt: skip


def data_dir() -> Path | None:
    """Fashion-MNIST where a user or CI has it (None: the trainer phases skip)."""
    candidates = [os.environ.get("FASHION_MNIST_DIR"), "/usr/share/datasets/fashion-mnist",
                  str(gpu_check.REPO_ROOT.parent / "shared/datasets/fashion-mnist")]  # fmt: skip
    for folder in filter(None, candidates):
        if (Path(folder) / "t10k-labels-idx1-ubyte.gz").is_file():
            return Path(folder)
    return None


def gpu_check_run(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_the_rehearsal_runs_every_phase_and_returns_files_the_host_accepts(tmp_path: Path):
    data = data_dir()
    done = gpu_check_run(tmp_path, "--rehearse", "--data-dir", str(data or tmp_path / "none"))
    assert done.returncode == 0, done.stdout[-3000:]
    assert gpu_check.output_problems(tmp_path) == []
    phases = json.loads((tmp_path / "summary.json").read_text())["phases"]
    assert [p["name"] for p in phases] == list(gpu_check.PHASES)
    status = {p["name"]: p["status"] for p in phases}
    assert status.pop("install") == "skipped"
    if data is None:
        assert status.pop("trainer") == status.pop("remote") == "skipped"
    assert set(status.values()) == {"passed"}, status
    kernels = json.loads((tmp_path / "kernels.json").read_text())
    assert kernels["validation"] and all(check["ok"] for check in kernels["validation"])
    assert json.loads((tmp_path / "service.json").read_text())["latency"]
    with tarfile.open(tmp_path / "logs.tar.gz") as archive:
        names = archive.getnames()
    assert {f"gpu-check/logs/{n}.log" for n in ("preflight", "tests", "bench", "serve")} <= set(
        names
    )
    assert not [n for n in names if n.endswith((".pt", ".whl"))]
    if data is not None:
        assert set(p.name for p in tmp_path.iterdir()) == EXPECTED
        trainer = json.loads((tmp_path / "trainer.json").read_text())
        assert trainer["trainer"]["test_accuracy"] > 0.5 and trainer["remote"]["epochs"] == 1


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


def test_phases_past_the_budget_are_not_run_and_fail_the_run(tmp_path: Path):
    done = gpu_check_run(tmp_path, "--rehearse", "--budget-seconds", "0")
    assert done.returncode == 1
    phases = json.loads((tmp_path / "summary.json").read_text())["phases"]
    assert {(p["status"], p["detail"]) for p in phases} == {("not run", "out of time")}


def test_the_results_folder_without_out_is_refused(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--rehearse"], capture_output=True,
                          text=True, env=env)  # fmt: skip
    assert done.returncode == 2 and "pass --out DIR" in done.stderr


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


def test_only_wheels_this_python_can_install_are_installed():
    names = ["pycuda-2026.1-cp312-cp312-linux_x86_64.whl",
             "pycuda-2026.1-cp311-cp311-linux_x86_64.whl",
             "cuda_kernels-0.1.0-py3-none-any.whl",
             "cryptography-50.0.2-cp311-abi3-manylinux_2_28_x86_64.whl",
             "grpcio-1.85.3-cp312-cp312-manylinux_2_17_aarch64.whl"]  # fmt: skip
    chosen = gpu_check.compatible_wheels([Path(n) for n in names], (3, 12))
    assert [p.name for p in chosen] == [names[0], names[2], names[3]]
