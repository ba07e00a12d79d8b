"""The whole GPU check in one run: kernels, service and trainer, on one GPU host.

    uv run python scripts/gpu_carry.py       # here: wheels into .whl/, data into .data/
    python3 scripts/gpu_check.py             # on the GPU host, carrying .whl and .data
    uv run python scripts/gpu_check.py --rehearse-host 3.12 --out DIR   # here, as the host

Phases, each under its own time limit, all within `--budget-seconds`: install (the carried
wheels), preflight (`cuda-kernels describe --check-builds`, libc), tests (the kernel tests;
with CUDA_KERNELS_REQUIRE_GPU=1 a GPU test that cannot run fails), bench, service (`serve`,
the service tests, `bench-service`), trainer (`mnist-train --device cuda`) and remote (a
short run sending its products to that server). The rehearsal runs them on the numpy
backend at small sizes, with the same tests, under the host's Python in a fresh venv
holding only what the host has that matters.

The host hands back at most 8 files, 2 folders deep, 16 MiB each: this script writes 5 into
`--out` (default `$OUT`, set by the host) after EVERY phase, so a timeout keeps what was
measured: summary.json, summary.txt, kernels.json, service.json and logs.tar.gz. The last
lines name every failure; it exits 0 only when every phase passed. Standard library only:
it runs under the host's python3 before anything is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import re
import select
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / ".data/fashion-mnist"  # filled by scripts/gpu_carry.py
MAX_FILES, MAX_DEPTH, MAX_FILE_BYTES = 8, 2, 16 * 2**20
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
KERNEL_TESTS = ("test_gpu.py", "test_backends.py", "test_describe.py", "kernels")
BENCH_SIZES = ("256", "512", "1024", "2048", "4096", "8192")
#: What the GPU host has that the phases need and the carried wheels do not bring (its
#: grpcio and protobuf are shadowed by carried ones; torch is left out: see `_train`).
HOST_PACKAGES = ("numpy", "pytest", "hypothesis", "matplotlib")
#: The carried pycuda wheel is built on Debian 12 (scripts/build_pycuda_wheel.py) and is
#: tagged plain linux_x86_64, so nothing but this check says an older host cannot load it.
WHEEL_NEEDS = {"glibc": (2, 34), "glibcxx": (3, 4, 29)}


@dataclass
class Phase:
    """One phase's outcome, as summary.json records it."""

    name: str
    status: str = "not run"  # passed, failed, not run
    seconds: float = 0.0
    detail: str = ""
    numbers: dict = field(default_factory=dict)


@dataclass
class Run:
    """Everything the phases share: where to write, which Python runs them, the clock."""

    out: Path
    work: Path
    python: str  # the host's python3, or the rehearsal's virtual environment once made
    rehearse: bool
    wheels: Path
    deadline: float
    env: dict = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    server: subprocess.Popen | None = None
    address: str | None = None

    @property
    def backend(self) -> str:
        return "numpy" if self.rehearse else "pycuda"

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def log_path(self, name: str) -> Path:
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        return self.work / "logs" / f"{name}.log"

    def step(self, name: str, argv: list[str], limit: float, env: dict | None = None) -> int:
        """Run one command under `limit` seconds (and the run's budget), its output into
        logs/NAME.log and its last lines onto ours; returns the exit status (124: timeout)."""
        limit = max(1.0, min(limit, self.remaining()))
        log = self.log_path(name)
        print(f"\n==> {name}: {' '.join(argv)} (limit {limit:.0f} s)", flush=True)
        with log.open("w") as sink:
            try:
                code = subprocess.run(
                    argv, cwd=REPO_ROOT, env={**self.env, **(env or {})}, stdout=sink,
                    stderr=subprocess.STDOUT, timeout=limit,
                ).returncode
            except subprocess.TimeoutExpired:
                code = 124
                sink.write(f"\n[gpu_check] killed after {limit:.0f} s\n")
            except OSError as exc:  # the program is not there
                code = 127
                sink.write(f"[gpu_check] cannot run {argv[0]}: {exc}\n")
        print("\n".join(log.read_text(errors="replace").splitlines()[-12:]), flush=True)
        return code

    def module(self, name: str, *args: str) -> list[str]:
        return [self.python, "-m", name, *args]

    def pytest(self, junit: Path, *args: str) -> list[str]:
        """pytest in one process, as on the host (which has no pytest-xdist, so the
        project's `-n auto` is dropped), whole test folders, a junit report."""
        options = ["-q", "-rs", "-p", "no:cacheprovider", "-o", "addopts=--import-mode=importlib"]
        return self.module("pytest", *options, f"--junitxml={junit}", *args)


def _fail(phase: Phase, detail: str) -> None:
    phase.status, phase.detail = "failed", detail


def _status(phase: Phase, code: int, what: str) -> None:
    phase.status = "failed" if code else "passed"
    if code:
        phase.detail = f"{what} timed out" if code == 124 else f"{what} exited with {code}"


def phase_install(run: Run, phase: Phase) -> None:
    """The carried wheels (pycuda, our packages, service deps) into a private folder first
    on PYTHONPATH, its console scripts first on PATH; `--upgrade` replaces an earlier run's."""
    wheels = [str(p) for p in sorted(run.wheels.glob("*.whl"))]
    if not wheels:
        _fail(phase, f"no wheels in {run.wheels}: prepare them with scripts/gpu_carry.py")
        return
    if run.rehearse and not host_venv(run, phase):
        return
    site = run.work / "site"
    argv = run.module("pip", "install", "-q", "--no-index", "--no-deps", "--upgrade", "--target")
    code = run.step("install", [*argv, str(site), *wheels], 90)
    for name, entry in (("PYTHONPATH", site), ("PATH", site / "bin")):
        run.env[name] = os.pathsep.join(filter(None, [str(entry), run.env.get(name)]))
    phase.numbers["wheels"] = [Path(w).name for w in wheels]
    _status(phase, code, "pip install")


def host_venv(run: Run, phase: Phase) -> bool:
    """Rehearsing: a fresh virtual environment of the given Python holding HOST_PACKAGES
    at the versions uv.lock pins, and nothing of the workspace's on PATH or in the
    environment; from here on the phases run its Python. False (phase failed) if not."""
    venv = run.work / "venv"
    code = run.step("venv", [run.python, "-m", "venv", str(venv)], 60)
    pins = run.work / "pins.txt"
    code = code or run.step("pins", ["uv", "export", "--locked", "--no-hashes", "-q", "-o",
                                     str(pins), "--no-emit-workspace", "--all-packages",
                                     "--all-groups", "--all-extras"], 60)  # fmt: skip
    run.python = str(venv / "bin" / "python")
    argv = ["uv", "pip", "install", "-q", "--python", run.python, "-c", str(pins)]
    code = code or run.step("host-packages", [*argv, *HOST_PACKAGES], 180)
    if code:
        _status(phase, code, "making the host's virtual environment")
    workspace_bin = Path(sys.prefix) / "bin"
    path = [p for p in run.env.get("PATH", "").split(os.pathsep) if Path(p) != workspace_bin]
    run.env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    run.env = {k: v for k, v in run.env.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    phase.numbers["python"] = run.python
    return not code


def host_libc() -> dict:
    """glibc's version and the newest GLIBCXX_ version of the libstdc++ this process
    loads (None where not found): what the carried pycuda wheel is checked against."""
    glibcxx = None
    try:
        ctypes.CDLL("libstdc++.so.6")
        maps = Path("/proc/self/maps").read_text().splitlines()
        path = next(line.split()[-1] for line in maps if "libstdc++.so" in line)
        found = re.findall(rb"GLIBCXX_(\d+)\.(\d+)\.(\d+)", Path(path).read_bytes())
        glibcxx = ".".join(map(str, max(tuple(map(int, v)) for v in found)))
    except (OSError, StopIteration, ValueError):
        pass
    return {"glibc": platform.libc_ver()[1] or None, "glibcxx": glibcxx}


def libc_problem(libc: dict) -> str:
    """Why the pycuda wheel cannot load with this libc ("" when it can, or is unknown)."""
    for name, needed in WHEEL_NEEDS.items():
        found = libc.get(name)
        if found and tuple(int(p) for p in found.split(".")) < needed:
            need = ".".join(map(str, needed))
            return f"{name} {found} is older than the {need} the pycuda wheel needs"
    return ""


def phase_preflight(run: Run, phase: Phase) -> None:
    """pycuda (compiler included), the device, both kernel builds, versions, libc."""
    phase.numbers["libc"] = libc = host_libc()
    if not run.rehearse:
        run.step("nvidia-smi", ["nvidia-smi"], 20)
    argv = run.module("cuda_kernels.cli", "describe", "--backend", run.backend, "--json",
                      "--check-builds")  # fmt: skip
    code = run.step("preflight", argv, 90)
    text = run.log_path("preflight").read_text(errors="replace")
    with contextlib.suppress(ValueError):  # no JSON: describe failed before printing it
        phase.numbers.update(json.JSONDecoder().raw_decode(text[text.index("{") :])[0])
    _status(phase, code, "cuda-kernels describe")
    if code and libc_problem(libc):
        phase.detail += f": {libc_problem(libc)}"


def phase_tests(run: Run, phase: Phase) -> None:
    """The kernel and backend tests; on the GPU every GPU test must run (none may skip)."""
    tests = [str(REPO_ROOT / "packages/cuda-kernels/tests" / t) for t in KERNEL_TESTS]
    env = {} if run.rehearse else {"CUDA_KERNELS_REQUIRE_GPU": "1"}
    _status(phase, run_tests(run, phase, "tests", tests, env), "pytest")


def run_tests(run: Run, phase: Phase, name: str, tests: list[str], env: dict) -> int:
    """pytest on `tests`; its counts (tests, failures, errors, skipped) go in the phase's
    numbers, read off its junit report."""
    junit = run.work / f"{name}.xml"
    code = run.step(name, run.pytest(junit, *tests), 150, {"PYTHONUNBUFFERED": "1", **env})
    text = junit.read_text(errors="replace") if junit.is_file() else ""
    head = re.search(r"<testsuite [^>]*>", text)
    pairs = re.findall(r'\b(tests|failures|errors|skipped)="(\d+)"', head.group(0) if head else "")
    phase.numbers[name] = {key: int(value) for key, value in pairs}
    return code


def phase_bench(run: Run, phase: Phase) -> None:
    """The kernel ladder beside cuBLAS, doublify beside a copy; results.json comes back."""
    out = run.work / "bench"
    sizes = ("64", "128") if run.rehearse else BENCH_SIZES
    argv = run.module("cuda_kernels.cli", "bench", "--backend", run.backend,
                      "--out", str(out), "--sizes", *sizes)  # fmt: skip
    if run.rehearse:
        argv += ["--doublify-sizes", "64", "--repeats", "2", "--warmup", "1"]
    code = run.step("bench", argv, 180)
    if (out / "results.json").is_file():
        shutil.copyfile(out / "results.json", run.out / "kernels.json")
        validation = json.loads((out / "results.json").read_text()).get("validation", [])
        phase.numbers["validation_failures"] = sum(not check["ok"] for check in validation)
    _status(phase, code, "cuda-kernels bench")


def start_server(run: Run, limit: float = 60) -> str:
    """`cuda-kernels serve` on 127.0.0.1, any free port; returns its address once it says
    it is listening (raises RuntimeError with its log's last line if it does not)."""
    log = run.log_path("serve").open("w")
    run.server = subprocess.Popen(
        run.module("cuda_kernels.cli", "serve", "--backend", run.backend, "--host",
                   "127.0.0.1", "--port", "0", "--grace-seconds", "2", "--max-message-mb", "160"),
        cwd=REPO_ROOT, env=run.env, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    ready = select.select([run.server.stdout], [], [], min(limit, max(1.0, run.remaining())))
    line = run.server.stdout.readline() if ready[0] else ""
    if not line.startswith("listening on "):
        stop_server(run)
        tail = run.log_path("serve").read_text(errors="replace").strip().splitlines()[-1:]
        raise RuntimeError(f"serve did not start: {line.strip() or (tail or ['no output'])[0]}")
    return line.split()[2]


def stop_server(run: Run) -> None:
    if run.server is not None and run.server.poll() is None:
        run.server.terminate()
        try:
            run.server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            run.server.kill()
    run.server = None


def phase_service(run: Run, phase: Phase) -> None:
    """The service on this backend: all its tests (their servers on the backend, the
    external one where they can) and bench-service against `serve`."""
    try:
        run.address = start_server(run)
    except RuntimeError as exc:
        _fail(phase, str(exc))
        return
    env = {"CUDA_KERNELS_TEST_BACKEND": run.backend, "CUDA_KERNELS_TEST_TARGET": run.address}
    tests = [str(REPO_ROOT / "packages/cuda-kernels/tests/rpc")]
    code = run_tests(run, phase, "service-tests", tests, env)
    out = run.work / "service"
    argv = run.module("cuda_kernels.cli", "bench-service", "--target", run.address,
                      "--out", str(out))  # fmt: skip
    if run.rehearse:
        argv += ["--sizes-mib", "1", "--clients", "1", "2", "--calls", "20", "--repeats", "2"]
    bench = run.step("bench-service", argv, 90)
    if (out / "service.json").is_file():
        shutil.copyfile(out / "service.json", run.out / "service.json")
    _status(phase, code or bench, "the service tests" if code else "bench-service")


def _train(run: Run, phase: Phase, name: str, extra: list[str]) -> None:
    """One `mnist-train` run into work/NAME. Rehearsing, it runs under the workspace's own
    Python: the host's torch is not in the rehearsal's environment (PyPI's Linux torch is
    the CUDA build, gigabytes); the server it may call is still the host-like one."""
    if not (DATA_DIR / "t10k-labels-idx1-ubyte.gz").is_file():
        _fail(phase, f"no Fashion-MNIST files in {DATA_DIR}: run scripts/gpu_carry.py")
        return
    folder = run.work / name
    python, env = (sys.executable, {"PYTHONPATH": ""}) if run.rehearse else (run.python, {})
    argv = [python, "-m", "mnist_trainer", "--data-dir", str(DATA_DIR), "--no-download",
            "--out", str(folder), "--no-progress", *extra]  # fmt: skip
    if run.rehearse:
        argv += ["--train-subset", "2000", "--val-size", "500", "--epochs", "1"]
        phase.detail = "run by the workspace's Python (torch is not in the host-like venv)"
    code = run.step(name, argv, 120, env)
    phase.numbers = trainer_numbers(folder)
    _status(phase, code, "mnist-train")


def trainer_numbers(folder: Path) -> dict:
    """The run's metrics.json (test accuracy, seconds, ...) and the epochs it finished (a
    run stopped by its time limit has only metrics.jsonl, one line per epoch)."""
    numbers: dict = {}
    if (folder / "metrics.jsonl").is_file():
        numbers["epochs_done"] = len((folder / "metrics.jsonl").read_text().splitlines())
    if (folder / "metrics.json").is_file():
        data = json.loads((folder / "metrics.json").read_text())
        numbers.update(data.get("content", data))  # a sealed file keeps them under "content"
    return numbers


def phase_trainer(run: Run, phase: Phase) -> None:
    """The `fast` recipe on the GPU, for a fixed number of epochs."""
    device = ["--device", "cpu"] if run.rehearse else ["--device", "cuda", "--epochs", "10"]
    _train(run, phase, "train-local", device)


def phase_remote(run: Run, phase: Phase) -> None:
    """A short run whose matrix products go to the server of the service phase."""
    if run.address is None or run.server is None or run.server.poll() is not None:
        _fail(phase, "no server: the service phase did not leave one running")
        return
    extra = ["--matmul-service", run.address, "--device", "cpu"]
    if not run.rehearse:
        extra += ["--epochs", "1", "--train-subset", "10000"]
    _train(run, phase, "train-remote", extra)


PHASES: dict[str, Callable[[Run, Phase], None]] = {
    "install": phase_install,
    "preflight": phase_preflight,
    "tests": phase_tests,
    "bench": phase_bench,
    "service": phase_service,
    "trainer": phase_trainer,
    "remote": phase_remote,
}


def write_outputs(run: Run) -> None:
    """summary.json (every phase's numbers, the trainer's included), summary.txt and
    logs.tar.gz, rewritten after each phase (kernels.json and service.json are copied by
    their phases)."""
    summary = {"rehearsal": run.rehearse, "backend": run.backend,
               "phases": [asdict(p) for p in run.phases]}  # fmt: skip
    (run.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run.out / "summary.txt").write_text(summary_text(run) + "\n")
    with tarfile.open(run.out / "logs.tar.gz", "w:gz") as archive:
        for path in sorted(run.work.rglob("*")):
            relative = path.relative_to(run.work)
            # logs, reports, plots and run folders; not the installs nor model weights
            keep = relative.parts[0] not in ("site", "venv") and relative.suffix != ".pt"
            if path.is_file() and keep:
                archive.add(path, arcname=str(Path("gpu-check") / relative))


def summary_text(run: Run) -> str:
    lines = [f"{'phase':<10} {'status':<8} {'seconds':>7}  detail"]
    for p in run.phases:
        lines.append(f"{p.name:<10} {p.status:<8} {p.seconds:>7.1f}  {p.detail}".rstrip())
    return "\n".join(lines)


def output_problems(out: Path) -> list[str]:
    """Where `out` breaks the GPU host's rules for what comes back (empty when none)."""
    files = [p for p in out.rglob("*") if p.is_file()]
    problems = [f"{len(files)} files, more than {MAX_FILES}"] if len(files) > MAX_FILES else []
    for path in files:
        relative = path.relative_to(out)
        if len(relative.parts) - 1 > MAX_DEPTH:
            problems.append(f"{relative} is more than {MAX_DEPTH} folders deep")
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{relative} is over 16 MiB")
        if not all(SAFE_NAME.match(part) for part in relative.parts):
            problems.append(f"{relative} has characters other than letters, digits, . _ -")
    return problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=os.environ.get("OUT") or None,
                        help="results folder (default: $OUT, which the GPU host sets)")
    parser.add_argument("--rehearse-host", metavar="PYTHON",
                        help="rehearse here as the host is: PYTHON (a path, or a version "
                        "such as 3.12) in a fresh venv, numpy backend, small sizes")  # fmt: skip
    parser.add_argument("--only", nargs="+", choices=list(PHASES), metavar="PHASE",
                        help=f"run only these phases ({', '.join(PHASES)})")
    parser.add_argument("--wheels", type=Path, default=REPO_ROOT / ".whl")
    parser.add_argument("--budget-seconds", type=float, default=330.0,
                        help="the whole run's time limit; later phases get what is left")
    args = parser.parse_args(argv)
    if args.out is None:
        parser.error("no results folder: pass --out DIR (on the GPU host $OUT is set for you)")
    if args.rehearse_host:  # here, in the workspace: its helpers can be imported
        from build_pycuda_wheel import python_for
        from release_tools.errors import ReleaseError

        try:
            args.rehearse_host = python_for(args.rehearse_host)
        except ReleaseError as exc:
            parser.error(f"--rehearse-host: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    env.pop("CUPY_TF32", None)  # cuBLAS stays in strict float32
    run = Run(out=args.out, work=Path(tempfile.mkdtemp(prefix="gpu-check-")),
              python=args.rehearse_host or sys.executable, rehearse=bool(args.rehearse_host),
              wheels=args.wheels, env=env,
              deadline=time.monotonic() + args.budget_seconds)  # fmt: skip
    try:
        for name in [name for name in PHASES if name in (args.only or PHASES)]:
            phase = Phase(name)
            run.phases.append(phase)
            if run.remaining() < 5:
                phase.detail = "out of time"
            else:
                began = time.monotonic()
                PHASES[name](run, phase)
                phase.seconds = time.monotonic() - began
            write_outputs(run)
    finally:
        stop_server(run)
        write_outputs(run)
        shutil.rmtree(run.work, ignore_errors=True)
    return report(run)


def report(run: Run) -> int:
    """The last lines: the table, each failure named, the output rules checked."""
    print("\n" + summary_text(run))
    failures = [f"{p.name}: {p.detail or p.status}" for p in run.phases
                if p.status in ("failed", "not run")]  # fmt: skip
    failures += [f"results folder: {problem}" for problem in output_problems(run.out)]
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"gpu_check: {'FAILED' if failures else 'passed'} ({len(run.phases)} phases; "
          f"results in {run.out})")  # fmt: skip
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
