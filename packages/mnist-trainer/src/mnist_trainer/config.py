"""The training configuration: one typed, validated record, plus the named presets.

A run folder's `config.json` is this record, so a run can be repeated or resumed from it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

ACTIVATIONS = ("relu", "gelu", "silu", "tanh")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
EMBEDDED = "embedded"
# Options that change only how a run computes, not what: a resumed run may change them.
RUNTIME_OPTIONS = frozenset(
    {
        "device",
        "threads",
        "eval_batch_size",
        "matmul_service",
        "matmul_service_token_file",
        "matmul_service_tls_ca",
        "matmul_service_tls_server_name",
        "service_timeout",
        "service_retries",
    }
)


def parse_hidden_sizes(text: str) -> tuple[int, ...]:
    """ "1024,1024" -> (1024, 1024); ConfigError for anything else."""
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--hidden {text!r} is not a comma-separated list of layer widths, e.g. 1024,1024"
        ) from None
    if min(sizes) < 1:
        raise ConfigError(f"--hidden layer widths must be positive integers, got {text!r}")
    return sizes


# Sanity bounds, far above any useful run, so that a typo fails at once with a clear line.
MAX_LAYERS = 64
MAX_WIDTH = 1_000_000
MAX_EPOCHS = 100_000
MAX_SERVICE_TIMEOUT = 24 * 3600.0


def cpu_cores() -> int:
    """The CPU cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def parameter_count(hidden_sizes: tuple[int, ...] | list[int]) -> int:
    """Weights and biases of the 784-...-10 MLP (BatchNorm's few per layer included)."""
    widths = [784, *hidden_sizes, 10]
    return sum(a * b + 3 * b for a, b in itertools.pairwise(widths))


def memory_available() -> tuple[int, int]:
    """(available, total) bytes of memory for this process; (0, 0) where unknown.

    The machine's (`/proc/meminfo`, else its physical memory), within the container's
    limit where a cgroup v2 sets one."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f.read().splitlines())
        available, total = (int(fields[k].split()[0]) * 1024 for k in ("MemAvailable", "MemTotal"))
    except (OSError, KeyError, ValueError):
        try:
            available = total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return 0, 0
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = int((cgroup / "memory.max").read_text())  # "max" (no limit) is a ValueError
        used = int((cgroup / "memory.current").read_text())
        return min(available, max(0, limit - used)), min(total, limit)
    except (OSError, ValueError):
        return available, total


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9)):
        if n >= size / 10:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e6:.0f} MB"


def check_memory(what: str, needed: int) -> None:
    """Refuse, before anything is allocated, a model that would not fit in memory."""
    available, total = memory_available()
    if available and needed > available:
        raise ConfigError(
            f"{what} would need about {_bytes(needed)} of memory; this machine has "
            f"{_bytes(available)} available (of {_bytes(total)}): choose smaller --hidden sizes"
        )


def check_hidden_sizes(sizes: tuple[int, ...] | list[int], what: str = "--hidden") -> None:
    """Bounds on the layer widths: a count and widths that are not typos."""
    if not 1 <= len(sizes) <= MAX_LAYERS:
        raise ConfigError(f"{what} needs 1 to {MAX_LAYERS} layer widths, got {len(sizes)}")
    if not all(1 <= h <= MAX_WIDTH for h in sizes):
        raise ConfigError(f"{what} widths must be between 1 and {MAX_WIDTH}, got {list(sizes)}")


_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^:\[\]/\s]+):(\d+)$")


def check_service_target(target: str) -> None:
    """Refuse a --matmul-service value that is not 'embedded' or HOST:PORT[,HOST:PORT...]."""
    if target == EMBEDDED:
        return
    if not target.strip():
        raise ConfigError("--matmul-service is empty: give HOST:PORT or 'embedded'")
    addresses = re.sub(r"^(ipv4:|ipv6:|dns:(//[^/]*/)?)", "", target)
    for address in addresses.split(","):
        match = _ADDRESS.match(address.strip())
        if match is None:
            raise ConfigError(
                f"--matmul-service {target!r}: {address!r} is not HOST:PORT (the port is "
                "required, e.g. localhost:50051; an IPv6 host goes in brackets, [::1]:50051)"
            )
        if not 1 <= int(match.group(2)) <= 65535:
            raise ConfigError(f"--matmul-service {target!r}: port {match.group(2)} is out of range")


@dataclass
class TrainConfig:
    """Everything that decides what a run computes (and a few things that only decide how)."""

    hidden_sizes: tuple[int, ...] = (1024, 1024)
    activation: str = "relu"
    dropout: float = 0.2
    batch_norm: bool = True
    epochs: int = 30
    batch_size: int = 256
    optimizer: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    schedule: str = "onecycle"
    warmup_fraction: float = 0.25
    label_smoothing: float = 0.1
    shift_pixels: int = 0
    flip: bool = True
    val_size: int = 5000
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # 0: one per CPU core, divided among local processes
    train_subset: int = 0  # 0: all training images; N: the first N (for quick tests)
    eval_batch_size: int = 2000
    matmul_service: str | None = None
    matmul_service_token_file: str | None = None
    matmul_service_tls_ca: str | None = None
    matmul_service_tls_server_name: str | None = None
    service_timeout: float = 30.0
    service_retries: int = 4
    preset: str = "fast"

    def validate(self) -> TrainConfig:
        """Raise `ConfigError` naming the first bad option and a value that would work."""
        check_hidden_sizes(self.hidden_sizes)
        checks = [
            (self.activation in ACTIVATIONS, f"--activation must be one of {ACTIVATIONS}"),
            (0.0 <= self.dropout < 1.0, "--dropout must be in [0, 1), e.g. 0.2"),
            (1 <= self.epochs <= MAX_EPOCHS, f"--epochs must be between 1 and {MAX_EPOCHS}"),
            (1 <= self.batch_size <= 60000, "--batch-size must be between 1 and 60000, e.g. 256"),
            (self.optimizer in OPTIMIZERS, f"--optimizer must be one of {OPTIMIZERS}"),
            (math.isfinite(self.lr) and self.lr > 0, "--lr must be a positive number, e.g. 0.002"),
            (
                math.isfinite(self.weight_decay) and self.weight_decay >= 0,
                "--weight-decay must be a number >= 0, e.g. 0.05",
            ),
            (self.schedule in SCHEDULES, f"--schedule must be one of {SCHEDULES}"),
            (0.0 <= self.warmup_fraction < 1.0, "--warmup-fraction must be in [0, 1)"),
            (0.0 <= self.label_smoothing < 1.0, "--label-smoothing must be in [0, 1)"),
            (0 <= self.shift_pixels <= 8, "--shift must be between 0 and 8 pixels"),
            (0 <= self.val_size <= 30000, "--val-size must be between 0 and 30000"),
            (self.device in DEVICES, f"--device must be one of {DEVICES}"),
            (
                0 <= self.threads <= 4 * cpu_cores(),
                f"--threads must be between 0 (one per core) and {4 * cpu_cores()} (4 per core)",
            ),
            (0 <= self.seed < 2**32, "--seed must be between 0 and 2**32 - 1"),
            (self.train_subset >= 0, "--train-subset must be >= 0 (0 uses all images)"),
            (1 <= self.eval_batch_size <= 60000, "--eval-batch-size must be between 1 and 60000"),
            (
                0 < self.service_timeout <= MAX_SERVICE_TIMEOUT,
                f"--service-timeout must be seconds in (0, {MAX_SERVICE_TIMEOUT:.0f}], e.g. 30",
            ),
            (0 <= self.service_retries <= 100, "--service-retries must be between 0 and 100"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        check_memory(f"--hidden {','.join(map(str, self.hidden_sizes))}", self.memory_needed())
        if self.matmul_service is not None:
            check_service_target(self.matmul_service)
        credentials = [
            flag
            for flag, value in (
                ("--matmul-service-token-file", self.matmul_service_token_file),
                ("--matmul-service-tls-ca", self.matmul_service_tls_ca),
                ("--matmul-service-tls-server-name", self.matmul_service_tls_server_name),
            )
            if value is not None
        ]
        if credentials and self.matmul_service in (None, EMBEDDED):
            raise ConfigError(
                f"{credentials[0]} is for a remote service: give --matmul-service HOST:PORT"
            )
        for flag, path in (
            ("--matmul-service-token-file", self.matmul_service_token_file),
            ("--matmul-service-tls-ca", self.matmul_service_tls_ca),
        ):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{flag} {path}: no such file")
        if self.matmul_service is not None and self.device == "cuda":
            raise ConfigError(
                "--matmul-service sends the products to the service, so the model stays on "
                "the CPU: drop --device cuda or drop --matmul-service"
            )
        return self

    def memory_needed(self) -> int:
        """Bytes a run needs, roughly: 8 float copies of the weights (weights, gradients,
        AdamW's two moments, the best weights, a checkpoint being written) and each batch's
        activations (a few floats per unit), besides the data set (about 250 MB)."""
        batch = max(self.batch_size, self.eval_batch_size)
        units = 784 + sum(self.hidden_sizes) + 10
        return 32 * parameter_count(self.hidden_sizes) + 16 * batch * units + 250_000_000

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        """The config stored in `data` (a run's config.json), every value type-checked."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(
                f"{source}: unknown keys {unknown}; is this config from a newer version?"
            )
        values = {}
        for key, value in data.items():
            check, kind = _FIELD_TYPES[str(names[key].type)]
            if not check(value):
                raise ConfigError(f"{source}: {key!r} must be {kind}, got {value!r}")
            values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "str | None": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "tuple[int, ...]": (
        lambda v: isinstance(v, list | tuple) and len(v) > 0 and all(_is_int(h) for h in v),
        "a non-empty list of integers",
    ),
}


@dataclass
class TuneSettings:
    """What `mnist-train tune` was asked for (its flags' defaults are these); the part that
    decides which trials the study runs is kept in the tune folder's `tune.json`."""

    out: str = ""
    trials: int = 20
    max_epochs: int = 40
    timeout: float | None = None
    workers: int = 1
    storage: str | None = None
    study: str = "mnist-train"
    val_size: int = 5000
    train_subset: int = 0
    seed: int = 0
    threads: int = 0
    data_dir: str | None = None
    allow_download: bool = True

    def validate(self) -> TuneSettings:
        """Raise `ConfigError` naming the first bad flag (before anything is imported)."""
        checks = [
            (self.out.strip() != "", "--out is empty: give the tune folder, e.g. --out runs/tune"),
            (1 <= self.trials <= 100_000, "--trials must be between 1 and 100000"),
            (1 <= self.max_epochs <= 10_000, "--max-epochs must be between 1 and 10000"),
            (self.timeout is None or self.timeout > 0, "--timeout must be seconds > 0"),
            (1 <= self.workers <= 4 * cpu_cores(), f"--workers must be 1 to {4 * cpu_cores()}"),
            (self.val_size >= 1, "--val-size must be at least 1: trials are scored on it"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        TrainConfig(val_size=self.val_size, train_subset=self.train_subset, seed=self.seed,
                    threads=self.threads).validate()  # fmt: skip
        return self


# `fast`: a 2x1024 MLP that reaches >= 90.5% test accuracy on a 2-core CPU in a few minutes.
# `best`: the recipe of the best trial (18) of a `mnist-train tune` study scored on validation
# images only, to the last digit, trained on all 60,000 training images; the study is
# committed (benchmarks/results/study-cpu-2core, read by tests/test_tune.py) and
# BENCHMARKS.md has its test score, measured once.
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {},
    "best": {
        "hidden_sizes": (1536, 1536, 1536),
        "activation": "gelu",
        "dropout": 0.19473535145137244,
        "lr": 0.00250024962179245,
        "weight_decay": 0.059858735575978816,
        "label_smoothing": 0.10813661732983948,
        "flip": False,
        "epochs": 26,
        "val_size": 0,
    },
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A validated config: the named preset's values with `overrides` on top."""
    if name not in PRESETS:
        raise ConfigError(f"--preset must be one of {tuple(PRESETS)}, got {name!r}")
    values: dict[str, Any] = {**PRESETS[name], **overrides, "preset": name}
    return TrainConfig(**values).validate()
