"""`cuda-kernels bench` end to end on the CPU: outputs, bad flags, nothing to run."""

import json
import subprocess
import sys

import pytest

from cuda_kernels.backends import BackendUnavailableError, get_backend
from cuda_kernels.cli import main


def test_bench_writes_results_plots_and_table(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["bench", "--out", str(out), "--sizes", "32", "33", "--repeats", "3",
                 "--warmup", "1", "--doublify-sizes", "64", "--backend", "numpy"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    assert "GPU numbers need a GPU" in printed.out
    assert "validation:" in printed.out and "checks passed" in printed.out
    results = json.loads((out / "results.json").read_text())
    assert results["device"]["backend"] == "numpy"
    assert {r["n"] for r in results["matmul"]} == {32, 33}
    assert all(r["kernel"] == "numpy" and r["repeats"] == 3 for r in results["matmul"])
    assert all(r["timer"] == "wall clock" for r in results["matmul"])
    assert all(r["median_ms"] > 0 and r["gflops"] > 0 for r in results["matmul"])
    assert [r["n"] for r in results["doublify"]] == [64, 4096]  # 4096 is always measured
    assert results["settings"]["doublify_sizes"] == [64, 4096]
    assert all(c["ok"] for c in results["validation"])
    assert any(c["shape"] == [127, 129, 131] for c in results["validation"])
    assert any(c["shape"] == [33, 33, 33] for c in results["validation"])  # sizes validated
    assert (out / "table.txt").read_text() in printed.out
    for png in ("runtime_vs_n.png", "gflops_vs_n.png", "doublify_bandwidth.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kernels", "fastest"], "unknown kernel(s) fastest"),
        (["--sizes", "0"], "--sizes must be between 1 and 65536"),
        (["--doublify-sizes", "70000"], "--doublify-sizes must be between 1 and 65536"),
        (["--repeats", "0"], "--repeats must be >= 1"),
        (["--numpy-max-n", "0"], "--numpy-max-n must be >= 1"),
    ],
)
def test_bad_settings_exit_1_with_one_line(tmp_path, capsys, argv, message):
    assert main(["bench", "--out", str(tmp_path / "out"), *argv]) == 1  # as serve's do
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_nothing_it_can_run_is_one_line_and_no_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bench", "--out", str(out), "--kernels", "warptiled", "--backend", "numpy"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "cuda-kernels bench: error: none of the requested kernels (warptiled) can run here: "
        "no usable GPU (--backend numpy was asked for)"
    ]
    assert not out.exists()


def test_forced_pycuda_without_gpu_is_one_readable_line(tmp_path):
    try:
        get_backend("pycuda")
        pytest.skip("a GPU is usable here")
    except BackendUnavailableError:
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "cuda_kernels.cli", "bench", "--out", str(tmp_path),
         "--backend", "pycuda"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "uv sync --extra gpu" in lines[0] and "cuda.h" in lines[0]
