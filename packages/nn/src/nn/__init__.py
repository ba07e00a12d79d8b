"""`nn`: a tiny neural-network library on `autograd` (the problem set's Perceptron and MLP).

Examples:
    >>> from nn import MLP
    >>> model = MLP(2, [16, 16, 1], seed=0)
    >>> len(model.parameters())
    337
"""

from importlib.metadata import version

from nn.datasets import make_moons
from nn.layers import ACTIVATIONS, MLP, Layer, Perceptron
from nn.losses import binary_cross_entropy, hinge_loss, mse_loss, softmax_cross_entropy
from nn.module import Module
from nn.optim import SGD, Adam, Optimizer

__version__ = version("nn")
__all__ = [
    "ACTIVATIONS",
    "MLP",
    "SGD",
    "Adam",
    "Layer",
    "Module",
    "Optimizer",
    "Perceptron",
    "__version__",
    "binary_cross_entropy",
    "hinge_loss",
    "make_moons",
    "mse_loss",
    "softmax_cross_entropy",
]
