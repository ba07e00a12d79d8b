"""The training configuration: one typed, validated record, plus the named presets.

A run folder's `config.json` is this record, so a run can be repeated or resumed from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

ACTIVATIONS = ("relu", "gelu", "silu", "tanh")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")


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
    service_timeout: float = 30.0
    service_retries: int = 4
    preset: str = "fast"

    def validate(self) -> TrainConfig:
        """Raise `ConfigError` naming the first bad option and a value that would work."""
        checks = [
            (len(self.hidden_sizes) >= 1, "--hidden needs at least one size, e.g. 1024,1024"),
            (all(h >= 1 for h in self.hidden_sizes), "--hidden sizes must be positive"),
            (self.activation in ACTIVATIONS, f"--activation must be one of {ACTIVATIONS}"),
            (0.0 <= self.dropout < 1.0, "--dropout must be in [0, 1), e.g. 0.2"),
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 1, "--batch-size must be at least 1, e.g. 256"),
            (self.optimizer in OPTIMIZERS, f"--optimizer must be one of {OPTIMIZERS}"),
            (self.lr > 0, "--lr must be positive, e.g. 0.002"),
            (self.weight_decay >= 0, "--weight-decay must be >= 0"),
            (self.schedule in SCHEDULES, f"--schedule must be one of {SCHEDULES}"),
            (0.0 <= self.warmup_fraction < 1.0, "--warmup-fraction must be in [0, 1)"),
            (0.0 <= self.label_smoothing < 1.0, "--label-smoothing must be in [0, 1)"),
            (0 <= self.shift_pixels <= 8, "--shift must be between 0 and 8 pixels"),
            (0 <= self.val_size <= 30000, "--val-size must be between 0 and 30000"),
            (self.device in DEVICES, f"--device must be one of {DEVICES}"),
            (self.threads >= 0, "--threads must be >= 0 (0 picks one per core)"),
            (self.train_subset >= 0, "--train-subset must be >= 0 (0 uses all images)"),
            (self.eval_batch_size >= 1, "--eval-batch-size must be at least 1"),
            (self.service_timeout > 0, "--service-timeout must be positive (seconds)"),
            (self.service_retries >= 0, "--service-retries must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.matmul_service is not None and not self.matmul_service.strip():
            raise ConfigError("--matmul-service is empty: give HOST:PORT or 'embedded'")
        if self.matmul_service is not None and self.device == "cuda":
            raise ConfigError(
                "--matmul-service sends the products to the service, so the model stays on "
                "the CPU: drop --device cuda or drop --matmul-service"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["hidden_sizes"] = list(self.hidden_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"unknown config keys {unknown}; is this config from a newer version?"
            )
        values = dict(data)
        if "hidden_sizes" in values:
            values["hidden_sizes"] = tuple(int(h) for h in values["hidden_sizes"])
        return cls(**values)


# `fast`: a 2x1024 MLP that reaches >= 90.5% test accuracy on a 2-core CPU in a few minutes.
# `best`: deeper and longer, with random shifts (which pay off only in long runs), aimed past
# the best published MLP figure (91.63%); BENCHMARKS.md has the measured runs.
PRESETS: dict[str, dict[str, Any]] = {
    "fast": {},
    "best": {
        "hidden_sizes": (1024, 1024, 1024),
        "epochs": 160,
        "shift_pixels": 1,
        "flip": True,
    },
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A validated config: the named preset's values with `overrides` on top."""
    if name not in PRESETS:
        raise ConfigError(f"--preset must be one of {tuple(PRESETS)}, got {name!r}")
    values: dict[str, Any] = {**PRESETS[name], **overrides, "preset": name}
    return TrainConfig(**values).validate()
