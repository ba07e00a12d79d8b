"""The benchmark's worker runs our engine and reports sane numbers (not a timing test)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench.py"


def run_worker(case: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--worker", "autograd", case],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_unfused_mlp_step_worker_reports_a_result():
    result = run_worker("mlp_step_unfused")
    assert result["params"] == 337
    # micrograd's construction: per neuron 2n+1 nodes for the sum, plus relu, plus the loss
    assert result["nodes"] > 60_000
    assert 0 < result["gc_seconds"] <= result["seconds"] or result["gc_seconds"] == 0


def test_fused_mlp_step_worker_builds_a_much_smaller_graph():
    pytest.importorskip("nn", reason="the fused case uses the nn package")
    result = run_worker("mlp_step")
    assert result["params"] == 337 and result["nodes"] < 10_000


def load_bench():
    spec = importlib.util.spec_from_file_location("autograd_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_go_under_runs_unless_the_committed_file_is_asked_for(tmp_path):
    bench = load_bench()
    assert bench.parse_args([]).out == Path("runs") / "autograd-bench" / "bench.json"
    assert bench.parse_args(["--out", str(tmp_path / "b.json")]).out == tmp_path / "b.json"
    committed = bench.parse_args(["--update-committed"]).out
    assert committed == BENCH.parent / "results" / "bench.json" and committed.is_file()
    with pytest.raises(SystemExit):
        bench.parse_args(["--update-committed", "--out", "x.json"])
