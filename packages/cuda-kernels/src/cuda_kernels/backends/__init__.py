"""Backend selection: `get_backend("auto" | "pycuda" | "numpy")`, one cached instance each.

"auto" takes the GPU when pycuda imports and a CUDA device answers, else numpy, and logs
which one it took and why. The pycuda backend module is imported only when asked for, so a
machine without pycuda never touches it.
"""

from __future__ import annotations

import logging
import threading

from cuda_kernels.backends.base import Backend, BackendUnavailableError
from cuda_kernels.backends.numpy_backend import NumpyBackend
from cuda_kernels.extras import GPU_INSTALL_HINT

BACKEND_NAMES = ("auto", "pycuda", "numpy")

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_instances: dict[str, Backend] = {}


def _create_pycuda() -> Backend:
    try:
        from cuda_kernels.backends.pycuda_backend import PycudaBackend
    except ImportError as exc:
        if "libcuda" in str(exc):  # pycuda is installed; the NVIDIA driver is not
            raise BackendUnavailableError(
                f"pycuda is installed but the NVIDIA driver's library is not ({exc}); "
                "this machine has no NVIDIA driver, so the GPU backend cannot run here"
            ) from exc
        raise BackendUnavailableError(
            f"the pycuda backend needs pycuda, which does not import here ({exc}); "
            f"{GPU_INSTALL_HINT}"
        ) from exc
    return PycudaBackend()


def get_backend(name: str = "auto") -> Backend:
    """Return the cached backend called `name` ("auto", "pycuda" or "numpy").

    Raises:
        ValueError: `name` is not one of the three.
        BackendUnavailableError (a RuntimeError): "pycuda" was asked for and cannot run.
    """
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}")
    with _lock:
        if name in _instances:
            return _instances[name]
        if name == "numpy":
            backend: Backend = NumpyBackend()
        elif name == "pycuda":
            backend = _create_pycuda()
        else:
            backend = _instances.get("pycuda") or _auto_choice()
        _instances[name] = backend
        _instances.setdefault(backend.name, backend)
        return backend


def _auto_choice() -> Backend:
    try:
        backend = _create_pycuda()
    except BackendUnavailableError as exc:  # no pycuda, no driver or no device: expected
        _log.info("cuda_kernels: using the numpy backend (GPU unavailable: %s)", exc)
        return NumpyBackend()
    except Exception as exc:  # pycuda and a GPU are here but start-up failed: say it louder
        _log.warning(
            "cuda_kernels: using the numpy backend; the GPU backend failed to start: %s: %s",
            type(exc).__name__,
            exc,
        )
        return NumpyBackend()
    _log.info("cuda_kernels: using the pycuda backend on %s", backend.device)
    return backend


__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendUnavailableError",
    "NumpyBackend",
    "get_backend",
]
