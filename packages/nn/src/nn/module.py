"""`Module`: what every model has in common (parameters, gradients reset, saving)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from numbers import Real

from autograd import Value, zero_grad

__all__ = ["Module"]


class Module:
    """Base class of models: subclasses implement `named_parameters()` and `__call__`.

    `state_dict()` is a flat, JSON-safe mapping from parameter names to floats, so a model
    saves with `json.dump(model.state_dict(), f)` and nothing else.
    """

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        return iter(())

    def parameters(self) -> list[Value]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        zero_grad(self.parameters())

    def state_dict(self) -> dict[str, float]:
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Set every parameter from `state`; on any mismatch nothing is changed."""
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict() takes a mapping, got {type(state).__name__}")
        params = dict(self.named_parameters())
        missing = sorted(params.keys() - state.keys())
        unexpected = sorted(state.keys() - params.keys())
        if missing or unexpected:
            raise KeyError(
                f"state does not fit this {type(self).__name__}: missing {_few(missing)}, "
                f"unexpected {_few(unexpected)}; was it saved from a model of the same shape?"
            )
        for name, value in state.items():
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(f"state[{name!r}] must be a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise ValueError(f"state[{name!r}] is {value!r}; parameters must be finite")
        for name, p in params.items():
            p.data = float(state[name])


def _few(names: list[str], limit: int = 5) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
