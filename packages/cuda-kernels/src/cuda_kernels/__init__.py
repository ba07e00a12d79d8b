"""`cuda_kernels`: an empty package for now; its features land with their own issues."""

from importlib.metadata import version

__version__ = version("cuda-kernels")
__all__ = ["__version__"]
