import math
from contextlib import contextmanager

import numpy as np
import pytest

from cuda_kernels.bench import report
from cuda_kernels.bench.contenders import Contender, DoublifyBench
from cuda_kernels.bench.kernels import BenchRun, BenchSettings, Target
from cuda_kernels.bench.timing import DEFAULT_FLUSH_BYTES, Timing, rotations_for, time_wall
from cuda_kernels.bench.validate import Check, check_matmul, relative_error


def test_rotations_cover_the_flush_size_within_the_cap():
    assert rotations_for(DEFAULT_FLUSH_BYTES) == 1
    assert rotations_for(DEFAULT_FLUSH_BYTES * 4) == 1
    sets = rotations_for(3 * 256 * 256 * 4)
    assert sets * 3 * 256 * 256 * 4 >= DEFAULT_FLUSH_BYTES
    assert rotations_for(1, cap=8) == 8
    with pytest.raises(ValueError):
        rotations_for(0)


def test_time_wall_passes_rotating_indices_and_takes_the_median():
    seen = []
    timing = time_wall(seen.append, repeats=5, warmup=2)
    assert seen == [0, 1, 2, 3, 4, 5, 6]
    assert len(timing.samples_ms) == 5 and timing.min_ms <= timing.median_ms
    assert Timing((3.0, 1.0, 2.0)).median_ms == 2.0


def test_relative_error_flags_nan_and_wrong_shapes():
    ref = np.ones((2, 2))
    assert relative_error(np.ones((2, 2), np.float32), ref) == 0.0
    poisoned = np.ones((2, 2), np.float32)
    poisoned[1, 1] = np.nan
    assert not Check("k", (2, 2, 2), relative_error(poisoned, ref), 1e-4).ok
    assert relative_error(np.ones((2, 3), np.float32), ref) == math.inf


def test_check_matmul_catches_a_wrong_kernel():
    rng = np.random.default_rng(0)
    good = check_matmul("numpy", np.matmul, [(5, 6, 7)], rng)
    bad = check_matmul("off-by-one", lambda a, b: np.matmul(a, b) * 1.001, [(5, 6, 7)], rng)
    assert good[0].ok and not bad[0].ok


def test_shares_of_cublas_and_gflops():
    rows = [
        {"n": 1024, "kernel": "cublas", "median_ms": 1.0},
        {"n": 1024, "kernel": "naive", "median_ms": 4.0},
        {"n": 2048, "kernel": "naive", "median_ms": 8.0},
    ]
    report.add_cublas_shares(rows)
    assert [r["pct_of_cublas"] for r in rows] == [100.0, 25.0, None]
    assert report.gflops(1000, 2.0) == pytest.approx(1000.0)
    for row in rows:
        row["gflops"] = report.gflops(row["n"], row["median_ms"])
    table = report.matmul_table(rows).splitlines()
    assert table[1].split()[:2] == ["1024", "cublas"] and table[2].endswith("25.0")


class ScriptedRun(BenchRun):
    """A BenchRun on a made-up device: one right and one wrong contender, plain timers."""

    timed: list[str]

    @contextmanager
    def _target(self, rng):
        self.timed = []

        def timer(name):
            return lambda n: self.timed.append(f"{name} {n}") or Timing((1.0, 2.0, 3.0))

        right = Contender("right", "wall clock", np.matmul, timer("right"))
        wrong = Contender("wrong", "wall clock", lambda a, b: np.matmul(a, b) + 1, timer("wrong"))
        doublify = DoublifyBench(
            "made-up", lambda x: 2 * x, lambda n: (Timing((2.0,)), Timing((1.0,))), ((3, 4),)
        )
        yield Target({"name": "made-up"}, [right, wrong], doublify, (8,), {}, "")


def test_run_validates_everything_then_times_only_what_passed():
    settings = BenchSettings(sizes=(16, 8, 16), kernels=("numpy",), repeats=3, warmup=0)
    run = ScriptedRun(settings, log=lambda _message: None).run()
    assert {c.kernel for c in run.failed} == {"wrong"}
    assert {c.kernel for c in run.checks} == {"right", "wrong", "doublify"}
    assert run.timed == ["right 8", "right 16"]  # sizes sorted, duplicates dropped
    assert [(r["kernel"], r["n"], r["median_ms"]) for r in run.matmul] == [
        ("right", 8, 2.0),
        ("right", 16, 2.0),
    ]
    assert run.matmul[0]["gflops"] == report.gflops(8, 2.0)
    assert [r["n"] for r in run.doublify] == [8, 4096] and run.doublify[0]["pct_of_copy"] == 50
    results = run.as_json()
    assert results["device"] == {"name": "made-up"} and "cublas_note" not in results
    assert "FAILED wrong" in report.summary(results)
