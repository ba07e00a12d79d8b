"""What runs here: the backend, its device, where its kernels came from, and the versions.

`cuda-kernels describe` prints it; with `--check-builds` on a GPU it also proves each way of
getting the kernels works on this machine: the shipped fatbins (no toolkit needed) and, when
nvcc and a host C++ compiler (g++) are on PATH, a compile from source. Each is loaded on its
own and checked with a small doublify and a small product of every rung against numpy. The
GPU device script runs this first, so a broken install shows before anything is timed.
"""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
from functools import partial

import numpy as np

from cuda_kernels import __version__
from cuda_kernels.backends import get_backend
from cuda_kernels.backends.base import Backend
from cuda_kernels.bench.validate import check_doublify, check_matmul


def versions() -> dict[str, str | None]:
    """Versions of what the kernels and the service run on (None where not installed).

    CuPy is published under one distribution name per CUDA major (cupy-cuda12x,
    cupy-cuda13x, ...), so it is found by the module it installs, whatever its name."""
    found: dict[str, str | None] = {"python": platform.python_version(),
                                    "cuda-kernels": __version__}  # fmt: skip
    names = {name: name for name in ("numpy", "pycuda", "grpcio", "protobuf", "torch")}
    names["cupy"] = importlib.metadata.packages_distributions().get("cupy", ["cupy"])[0]
    for key, name in names.items():
        try:
            found[key] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[key] = None
    return found


def check_backend(backend: Backend) -> list[str]:
    """Problems found running a small doublify and a small product on every kernel."""
    rng = np.random.default_rng(0)
    checks = check_doublify(backend.doublify, [(17, 33)], rng)
    for kernel in backend.kernels:
        checks += check_matmul(kernel, partial(backend.matmul, kernel=kernel), [(17, 33, 9)], rng)
    return [f"{check.kernel}: relative error {check.error:.3g}" for check in checks if not check.ok]


def _try_build(build: str) -> dict:
    """Load the pycuda backend the way `build` says, check it, close it."""
    from cuda_kernels.backends.pycuda_backend import PycudaBackend

    try:
        backend = PycudaBackend(build=build)
    except Exception as exc:  # report any failure to load as this build's result
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        problems = check_backend(backend)
        return {"ok": not problems, "kernel_build": backend.kernel_build, "problems": problems}
    finally:
        backend.close()


def describe(backend_name: str = "auto", check_builds: bool = False) -> dict:
    """The facts of the backend `backend_name` resolves to here (see the module docstring).

    Raises BackendUnavailableError (a RuntimeError) when "pycuda" is asked for and cannot run.
    """
    backend = get_backend(backend_name)
    facts = {
        "backend": backend.name,
        "device": backend.device,
        "kernel_build": backend.kernel_build,
        "kernels": list(backend.kernels),
        "versions": versions(),
        "problems": check_backend(backend),
    }
    if check_builds and backend.name == "pycuda":
        facts["builds"] = {"prebuilt": _try_build("prebuilt")}
        # nvcc preprocesses with the host's C++ compiler; the prebuilt fatbins need neither
        missing = [tool for tool in ("nvcc", "g++") if not shutil.which(tool)]
        facts["builds"]["source"] = (
            {"ok": None, "error": f"{' and '.join(missing)} not on PATH"} if missing
            else _try_build("source")
        )  # fmt: skip
    return facts


def failures(facts: dict) -> list[str]:
    """What in `describe`'s facts means this machine cannot run the kernels as shipped."""
    found = [f"{facts['backend']}: {p}" for p in facts["problems"]]
    for build, result in facts.get("builds", {}).items():
        if result["ok"] is False:
            found.append(f"{build} build: {result.get('error') or result.get('problems')}")
    return found
