import json
import subprocess
import sys

import pytest

from cuda_kernels.cli import build_parser, main


def test_bench_writes_results_plots_and_table(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["bench", "--out", str(out), "--sizes", "32", "33", "--repeats", "3",
                 "--warmup", "1", "--doublify-sizes", "64", "--backend", "numpy"])
    assert code == 0
    printed = capsys.readouterr()
    assert "GPU numbers need a GPU" in printed.out
    assert "validation:" in printed.out and "checks passed" in printed.out
    results = json.loads((out / "results.json").read_text())
    assert results["device"]["backend"] == "numpy"
    assert {r["n"] for r in results["matmul"]} == {32, 33}
    assert all(r["kernel"] == "numpy" and r["repeats"] == 3 for r in results["matmul"])
    assert all(r["median_ms"] > 0 and r["gflops"] > 0 for r in results["matmul"])
    assert [r["n"] for r in results["doublify"]] == [64, 4096]  # 4096 is always measured
    assert all(c["ok"] for c in results["validation"])
    assert any(c["shape"] == [127, 129, 131] for c in results["validation"])
    for png in ("runtime_vs_n.png", "gflops_vs_n.png", "doublify_bandwidth.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kernels", "fastest"], "unknown kernel(s) fastest"),
        (["--sizes", "0"], "--sizes must be between 1 and 65536"),
        (["--repeats", "0"], "--repeats must be >= 1"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(["bench", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_forced_pycuda_without_gpu_is_one_readable_line(tmp_path):
    from cuda_kernels.backends import BackendUnavailableError, get_backend

    try:
        get_backend("pycuda")
        pytest.skip("a GPU is usable here")
    except BackendUnavailableError:
        pass
    proc = subprocess.run(
        [sys.executable, "-m", "cuda_kernels.cli", "bench", "--out", str(tmp_path),
         "--backend", "pycuda"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cuda-kernels[gpu]" in lines[0] and "Traceback" not in proc.stderr


def test_parser_has_bench_and_requires_a_command(capsys):
    parser = build_parser()
    assert parser.parse_args(["bench", "--out", "x"]).func.__name__ == "run_bench"
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([])
    assert exc.value.code == 2
