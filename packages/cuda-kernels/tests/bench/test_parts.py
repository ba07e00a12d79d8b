import math
from contextlib import contextmanager

import numpy as np
import pytest

from cuda_kernels.bench import report
from cuda_kernels.bench.kernels import BenchRun, BenchSettings, Contender, DoublifyBench, Target
from cuda_kernels.bench.timing import (
    DEFAULT_FLUSH_BYTES,
    Timing,
    batch_size,
    rotations_for,
    spin_for,
    time_gpu_batches,
    time_wall,
)
from cuda_kernels.bench.validate import Check, check_matmul, relative_error


def test_rotations_cover_the_flush_size_within_the_cap():
    assert rotations_for(DEFAULT_FLUSH_BYTES) == 1
    assert rotations_for(DEFAULT_FLUSH_BYTES * 4) == 1
    sets = rotations_for(3 * 256 * 256 * 4)
    assert sets * 3 * 256 * 256 * 4 >= DEFAULT_FLUSH_BYTES
    assert rotations_for(1, cap=8) == 8


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


class SimulatedGpu:
    """A GPU timeline for the batch timer, on the CPU: every queued operation starts when
    both the GPU is free and the host has issued it; issuing costs host time."""

    def __init__(self, kernel_ms: float, issue_ms: float) -> None:
        self.kernel_ms, self.issue_ms = kernel_ms, issue_ms
        self.host = self.gpu_free = 0.0
        self.launched: list[int] = []

    def _queue(self, duration: float) -> float:
        self.host += self.issue_ms
        start = max(self.gpu_free, self.host)
        self.gpu_free = start + duration
        return self.gpu_free

    def launch(self, i: int) -> None:
        self.launched.append(i)
        self._queue(self.kernel_ms)

    # the GpuClock protocol
    def event_pair(self):
        gpu = self

        class Event:
            def record(self) -> None:
                self.at = gpu._queue(0.0)

        return Event(), Event()

    def elapsed_ms(self, start, end) -> float:
        self.host = max(self.host, end.at)
        return end.at - start.at

    def spin(self, milliseconds: float) -> None:
        self._queue(milliseconds)

    def synchronize(self) -> None:
        self.host = max(self.host, self.gpu_free)

    def host_ms(self) -> float:
        return self.host


def test_one_event_pair_per_launch_times_the_host_when_launches_are_slower():
    from cuda_kernels.bench.timing import _timed_batch

    gpu = SimulatedGpu(kernel_ms=0.004, issue_ms=0.010)
    elapsed, _ = _timed_batch(gpu.launch, 0, 100, gpu, spin_ms=0.0)  # no spin: the old way
    assert elapsed / 100 == pytest.approx(0.010, rel=0.02)  # the issue rate, not the kernel


def test_a_spin_then_a_batch_times_the_kernel_itself():
    gpu = SimulatedGpu(kernel_ms=0.004, issue_ms=0.010)
    timing = time_gpu_batches(gpu.launch, repeats=5, warmup=2, clock=gpu)
    assert timing.median_ms == pytest.approx(0.004)
    assert timing.launches_per_sample == batch_size(0.004) == 500  # 2 ms of GPU per pair
    assert timing.host_ahead is True
    # launches count on from the warm-up, so the caller's input rotation keeps turning
    assert gpu.launched == list(range(2 + 1 + 5 * 500))
    assert timing.as_dict()["launches_per_sample"] == 500


def test_long_kernels_are_timed_one_launch_per_pair():
    gpu = SimulatedGpu(kernel_ms=40.0, issue_ms=0.010)
    timing = time_gpu_batches(gpu.launch, repeats=3, warmup=0, clock=gpu)
    assert timing.launches_per_sample == 1
    assert timing.median_ms == pytest.approx(40.0)


def test_a_host_too_slow_for_the_longest_spin_is_reported():
    gpu = SimulatedGpu(kernel_ms=0.0001, issue_ms=150.0)  # issuing outlasts the longest spin
    timing = time_gpu_batches(gpu.launch, repeats=2, warmup=0, clock=gpu)
    assert timing.host_ahead is False  # the results then say the sample holds launch gaps


def test_batch_and_spin_arithmetic():
    assert batch_size(0.001) == 2000
    assert batch_size(0.0) == batch_size(float("nan")) == 4096
    assert batch_size(5.0) == 1
    assert spin_for(0.1) == 1.0 and spin_for(3.0) == 6.0 and spin_for(1e6) == 200.0


def test_series_timed_with_launch_gaps_are_marked_in_the_tables():
    row = {"n": 256, "kernel": "naive", "median_ms": 0.01, "gflops": 1.0, "pct_of_cublas": None}
    clean = report.matmul_table([{**row, "host_ahead": True}])
    marked = report.matmul_table([{**row, "host_ahead": False}])
    assert "*" not in clean and marked.splitlines()[1].endswith(" *")
    assert "may include launch gaps" in marked
    doublify = report.doublify_row(1024, Timing((0.01,), 10, True), Timing((0.01,), 10, False))
    assert "may include launch gaps" in report.doublify_table([doublify])
