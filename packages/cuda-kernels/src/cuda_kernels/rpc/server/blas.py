"""Pinning numpy's BLAS threads while a numpy-backed server runs.

Why: the server already runs one call per worker thread; OpenBLAS's own threads (one per
core by default) then fight the workers, the gRPC threads and everything else on the
machine for the cores, and a call that waits for its second BLAS thread waits a whole
scheduler slice: on a busy 2-core machine a 256x256 matmul took 16 ms instead of 0.3 ms
(BENCHMARKS.md). One BLAS thread per worker keeps every core busy with whole calls.

The setting is process-wide (it is the BLAS library's), so only the BLAS libraries that
numpy loaded are touched, the first server to start sets it, and the last one to stop
restores what was there before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_pins: list[object] = []  # one entry per running server that pinned
_restore: Callable[[], None] | None = None


def _numpy_blas_controller():
    """A threadpoolctl controller of the BLAS libraries numpy uses (all BLAS libraries
    when none is recognisably numpy's), or None when none is loaded."""
    import numpy  # noqa: F401 - loads numpy's BLAS, so that threadpoolctl can find it
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas")
    numpy_owned = [c for c in blas.lib_controllers if "numpy" in (c.filepath or "")]
    if numpy_owned:
        blas.lib_controllers = numpy_owned
    return blas if blas.lib_controllers else None


def pin_blas_threads(threads: int) -> Callable[[], None]:
    """Limit numpy's BLAS to `threads` threads until the returned function is called."""
    global _restore
    token = object()
    with _lock:
        controller = _numpy_blas_controller()
        if controller is None:
            _log.debug("no BLAS library found; --blas-threads has nothing to pin")
        else:
            limiter = controller.limit(limits=threads)
            if _restore is None:
                _restore = limiter.restore_original_limits
            _log.info("numpy's BLAS pinned to %d thread(s) per call", threads)
        _pins.append(token)

    def unpin() -> None:
        global _restore
        with _lock:
            if token not in _pins:
                return
            _pins.remove(token)
            if not _pins and _restore is not None:
                _restore()
                _restore = None

    return unpin
