"""What the rpc tests share: watching the service's log lines without polling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest


class LogWatch(logging.Handler):
    """Collects the lines of one logger while in a `with` block; `wait_for` blocks until a
    line appears, and `on_line(line)`, if given, runs as each line is logged."""

    def __init__(
        self,
        logger: str = "cuda_kernels.service.calls",
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
        def found() -> str | None:
            return next((line for line in self.lines if text in line), None)

        with self.changed:
            line = self.changed.wait_for(found, timeout)
        if line is None:
            raise AssertionError(f"no log line with {text!r} within {timeout} s; got {self.lines}")
        return line


@pytest.fixture
def watch_log() -> type[LogWatch]:
    """`watch_log(logger, level, on_line)`: a LogWatch to use in a `with` block."""
    return LogWatch
