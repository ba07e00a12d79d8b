"""Run a `KernelServer` in the foreground until SIGTERM or SIGINT, then drain.

What `cuda-kernels serve` does once its flags are parsed (`cuda_kernels.commands.serve`):
print the ready line `listening on HOST:PORT (backend=..., device=...)` that scripts and
tests wait for, serve, and on a signal drain (health NOT_SERVING, calls in flight finish)
and return.
"""

from __future__ import annotations

import logging
import signal
import threading

from cuda_kernels.rpc.server.config import ServerConfig
from cuda_kernels.rpc.server.server import KernelServer

_log = logging.getLogger("cuda_kernels.service")


def serve_until_signalled(config: ServerConfig) -> None:
    """Serve `config` until SIGTERM/SIGINT arrives, then drain; must run on the main thread."""
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    server = KernelServer(config).start()
    backend = server.backend
    print(
        f"listening on {server.address} (backend={backend.name}, device={backend.device})",
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    _log.info("received %s", signal.Signals(received[0]).name)
    server.drain()
