"""`nn`: a tiny neural-network library on `autograd`."""

from importlib.metadata import version

__version__ = version("nn")
__all__ = ["__version__"]
