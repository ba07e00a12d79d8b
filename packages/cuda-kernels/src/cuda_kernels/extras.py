"""The optional extras of `cuda-kernels`, and the one sentence that says how to get each.

Why one module: the backend selection, the command line and the tests' skip reasons all
tell a user what to install; written once here, the commands cannot drift apart. The core
package (numpy, grpcio, protobuf: the backends' numpy fallback and the gRPC client) needs
no extra; `gpu` adds pycuda, `bench` the plots, `serve` the server's standard services.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Sequence

#: extra -> (import names it provides, distributions it installs); pycuda, the `gpu`
#: extra, is asked for by the backend selection (`GPU_INSTALL_HINT`)
EXTRAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bench": (("matplotlib",), ("matplotlib",)),
    "serve": (
        ("grpc_health", "grpc_reflection", "prometheus_client", "threadpoolctl"),
        ("grpcio-health-checking", "grpcio-reflection", "prometheus-client", "threadpoolctl"),
    ),
}

#: How to get pycuda, for every message that finds it missing.
GPU_INSTALL_HINT = (
    "pycuda is published only as source; in the workspace either build its wheel once, with "
    "no GPU or CUDA toolkit needed, `uv run python scripts/build_pycuda_wheel.py .whl/gpu "
    "--python 3.11`, then `uv pip install --no-index --find-links .whl/gpu pycuda`, or run "
    "`uv sync --extra gpu` with a CUDA toolkit's bin/ first on PATH (it compiles pycuda and "
    "needs cuda.h and curand.h); outside the workspace install our wheels with "
    "`pip install --index-url <team index> 'cuda-kernels[gpu]'`"
)


class MissingExtraError(RuntimeError):
    """A command needs an optional extra that is not installed; the message says how."""


def require_extra(extra: str, argv: Sequence[str]) -> None:
    """Raise MissingExtraError, naming the command to run instead, unless `extra` imports.

    `argv` is the `cuda-kernels` command line after the program name, e.g.
    `["serve", "--port", "0"]`: the message repeats it with the extra added.
    """
    modules, distributions = EXTRAS[extra]
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        command = shlex.join(["cuda-kernels", *argv])
        raise MissingExtraError(
            f"this command needs the '{extra}' extra ({', '.join(distributions)}), which is "
            f"not installed; in the workspace run: uv run --package cuda-kernels --extra "
            f"{extra} {command}; outside it install our built wheel with "
            f"`pip install --index-url <team index> 'cuda-kernels[{extra}]'`"
        ) from None
