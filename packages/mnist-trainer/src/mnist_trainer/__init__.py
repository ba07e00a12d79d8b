"""`mnist_trainer`: a Fashion-MNIST MLP trainer (PyTorch) with a remote matmul mode.

`preset(name, **overrides)` makes a training config, `fit(config, out_dir)` trains it and
writes a run folder, `load_data()` finds (or downloads) and verifies Fashion-MNIST, and
`load_model(path)` gives back a trained model that needs nothing else to evaluate:
float images in [0, 1] shaped (N, 28, 28) or (N, 784) in, (N, 10) logits out.
"""

from importlib.metadata import version

__version__ = version("mnist-trainer")
__all__ = [
    "CLASS_NAMES",
    "TrainConfig",
    "__version__",
    "fit",
    "load_data",
    "load_model",
    "preset",
]


def __getattr__(name: str):
    # torch takes seconds to import; load it only when one of these is asked for.
    if name == "load_model":
        from .model import load_model

        return load_model
    if name == "fit":
        from .train import fit

        return fit
    if name in ("CLASS_NAMES", "load_data"):
        from . import data

        return data.CLASS_NAMES if name == "CLASS_NAMES" else data.load
    if name in ("TrainConfig", "preset"):
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module 'mnist_trainer' has no attribute {name!r}")
