"""What `cuda-kernels serve` runs once its flags are parsed: a `KernelServer` in the
foreground until SIGTERM or SIGINT, then a drain (the command's description says what
users see); the ready line it prints is what scripts and tests wait for.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading

from cuda_kernels.rpc.server.config import ServerConfig, host_port
from cuda_kernels.rpc.server.server import KernelServer

_log = logging.getLogger(__name__)
_DRAINED = "drained"


def serve_until_signalled(config: ServerConfig) -> None:
    """Serve `config` until SIGTERM/SIGINT arrives, then drain; must run on the main thread."""
    events: queue.SimpleQueue[int | str] = queue.SimpleQueue()  # put() is signal-safe

    def on_signal(signum: int, _frame: object) -> None:
        events.put(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    server = KernelServer(config).start()
    backend = server.backend
    print(
        f"listening on {server.address} (backend={backend.name}, device={backend.device})",
        flush=True,
    )
    if server.metrics_port is not None:
        where = host_port(config.metrics_host, server.metrics_port)
        print(f"metrics on http://{where}/metrics", flush=True)
    first = events.get()
    _log.info("received %s", signal.Signals(first).name)

    def drain() -> None:
        try:
            server.drain()
        finally:
            events.put(_DRAINED)

    drainer = threading.Thread(target=drain, name="kernel-drain")
    drainer.start()
    while (event := events.get()) != _DRAINED:
        _log.warning(
            "received %s again: stopping now, without waiting for calls in flight",
            signal.Signals(event).name,
        )
        server.stop()
    drainer.join()
