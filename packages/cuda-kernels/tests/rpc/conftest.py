"""What the rpc tests share: watching the service's log lines without polling, servers of
a test's own (`fresh_server`), and a backend that holds or fails its calls on demand."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator

import pytest

from cuda_kernels.backends import get_backend
from cuda_kernels.backends.base import Backend
from cuda_kernels.rpc.server import KernelServer, ServerConfig

TEST_BACKEND = os.environ.get("CUDA_KERNELS_TEST_BACKEND", "numpy")


class LogWatch(logging.Handler):
    """Collects the lines of one logger while in a `with` block; `wait_for` blocks until a
    line appears, and `on_line(line)`, if given, runs as each line is logged."""

    def __init__(
        self,
        logger: str = "cuda_kernels.rpc.server.interceptors",
        level: int = logging.INFO,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(level)
        self.logger, self.level_wanted, self.on_line = logging.getLogger(logger), level, on_line
        self.lines: list[str] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        with self.changed:
            self.lines.append(line)
            self.changed.notify_all()
        if self.on_line is not None:
            self.on_line(line)

    def __enter__(self) -> LogWatch:
        self.previous_level = self.logger.level
        self.logger.addHandler(self)
        self.logger.setLevel(self.level_wanted)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.previous_level)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        return self.wait_for_count(text, 1, timeout)[0]

    def wait_for_count(self, text: str, count: int, timeout: float = 30) -> list[str]:
        """Block until `count` lines contain `text`; return them."""

        def found() -> list[str] | None:
            lines = [line for line in self.lines if text in line]
            return lines if len(lines) >= count else None

        with self.changed:
            lines = self.changed.wait_for(found, timeout)
        if lines is None:
            raise AssertionError(
                f"not {count} log lines with {text!r} within {timeout} s; got {self.lines}"
            )
        return lines


@pytest.fixture
def watch_log() -> type[LogWatch]:
    """`watch_log(logger, level, on_line)`: a LogWatch to use in a `with` block."""
    return LogWatch


class GatedBackend(Backend):
    """Wraps a real backend; counts calls, and can hold them at a gate or fail on demand."""

    def __init__(self, inner: Backend, gated: bool = False, fail: bool = False) -> None:
        self.inner, self.fail = inner, fail
        self.name, self.device, self.kernels = inner.name, inner.device, inner.kernels
        self.calls = 0
        self._count = threading.Lock()
        self.entered = threading.Semaphore(0)  # released once per call that got here
        self.gate = threading.Event()  # calls wait here until the test opens it
        if not gated:
            self.gate.set()

    def _matmul(self, a, b, kernel):
        return self._run(lambda: self.inner.matmul(a, b, kernel))

    def _doublify(self, x):
        return self._run(lambda: self.inner.doublify(x))

    def _run(self, work):
        with self._count:
            self.calls += 1
        self.entered.release()
        if self.fail:
            raise RuntimeError("simulated device fault")
        if not self.gate.wait(timeout=60):
            raise RuntimeError("the test never opened the gate")
        return work()


def _start_server(backend: Backend | None = None, **config) -> KernelServer:
    config.setdefault("port", 0)
    config.setdefault("grace_seconds", 5.0)
    server = KernelServer(
        ServerConfig(backend=TEST_BACKEND, **config),
        backend=backend or get_backend(TEST_BACKEND),
    )
    return server.start()


@pytest.fixture(scope="session")
def start_server() -> Callable[..., KernelServer]:
    """`start_server(backend=None, **config)`: a started server on 127.0.0.1, port 0, the
    test backend; the caller stops it (module fixtures use this)."""
    return _start_server


@pytest.fixture
def gated_backend() -> Callable[..., GatedBackend]:
    """`gated_backend(gated=False, fail=False)`: a GatedBackend around the test backend."""
    return lambda **options: GatedBackend(get_backend(TEST_BACKEND), **options)


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., KernelServer]]:
    """`fresh_server(backend, **config)` starts a server of the test's own; each is stopped
    when the test ends, however it ends."""
    started: list[KernelServer] = []

    def start(backend: Backend | None = None, **config) -> KernelServer:
        started.append(_start_server(backend, **config))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def held(fresh_server) -> Iterator[GatedBackend]:
    """A backend whose calls wait at its gate; the gate opens when the test ends, before its
    servers stop."""
    backend = GatedBackend(get_backend(TEST_BACKEND), gated=True)
    yield backend
    backend.gate.set()
