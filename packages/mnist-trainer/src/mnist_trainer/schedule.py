"""Learning-rate schedules as a pure function of the step number.

A pure function needs no state of its own to save: a resumed run recomputes the rate
from the step count, so it follows exactly the same curve as an uninterrupted one.
"""

from __future__ import annotations

import math

START_DIVISOR = 25.0  # warm-up starts at peak / 25 (as in the one-cycle policy)
FINAL_DIVISOR = 1e4  # and annealing ends at peak / 10^4


def learning_rate(
    step: int, total_steps: int, peak: float, schedule: str, warmup_fraction: float
) -> float:
    """The rate for optimizer step `step` (0-based) of `total_steps`.

    `onecycle` warms up linearly from peak/25 to the peak over `warmup_fraction` of the
    run, then follows a half cosine down to peak/10^4. `cosine` is that half cosine over
    the whole run, starting at the peak (no warm-up). `constant` is flat.
    """
    if schedule == "constant":
        return peak
    if schedule not in ("onecycle", "cosine"):
        raise ValueError(f"unknown schedule {schedule!r}")
    warmup = int(total_steps * warmup_fraction) if schedule == "onecycle" else 0
    if step < warmup:
        start = peak / START_DIVISOR
        return start + (peak - start) * step / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    final = peak / FINAL_DIVISOR
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
