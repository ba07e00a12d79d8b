"""The package as a whole: version, public names, what importing it costs, and that its
modules import each other without cycles."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import cuda_kernels

SOURCE = Path(cuda_kernels.__file__).parent


def test_version_matches_distribution_metadata():
    assert cuda_kernels.__version__ == version("cuda-kernels")
    assert cuda_kernels.__version__.count(".") == 2


# The public names, with the module each is defined in.
PUBLIC_NAMES = {
    "cuda_kernels.rpc.client": {
        "KernelClient": "cuda_kernels.rpc.client",
        "KernelServiceError": "cuda_kernels.rpc.client",
        "MatMulResult": "cuda_kernels.rpc.client",
        "ServerInfo": "cuda_kernels.rpc.client",
    },
    "cuda_kernels.rpc.server": {
        "KernelServer": "cuda_kernels.rpc.server.server",
        "ServerConfig": "cuda_kernels.rpc.server.config",
        "KernelServicer": "cuda_kernels.rpc.server.servicer",
        "Limits": "cuda_kernels.rpc.server.config",
        "read_token_file": "cuda_kernels.rpc.protocol.auth",
    },
    "cuda_kernels": dict.fromkeys(
        ("matmul", "doublify", "get_backend", "KERNELS", "Backend", "BackendUnavailableError",
         "NumpyBackend", "BACKEND_NAMES", "__version__"),
        "",
    ),
    "cuda_kernels.kernels": dict.fromkeys(("read_source", "source_path"), ""),
    "cuda_kernels.backends": {"GPU_INSTALL_HINT": ""},
    "cuda_kernels.validation": dict.fromkeys(
        ("check_matrix", "check_matmul_operands", "check_kernel_name"), ""
    ),
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_NAMES))
def test_every_public_name_imports_from_its_home(module_name):
    module = importlib.import_module(module_name)
    for name, home in PUBLIC_NAMES[module_name].items():
        value = getattr(module, name)
        if home:
            assert value.__module__ == home, name


@pytest.mark.parametrize("gone", ["cuda_kernels.client", "cuda_kernels.service"])
def test_no_alias_module_of_a_never_published_name(gone):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(gone)


OPTIONAL = ("matplotlib", "pycuda", "grpc_health", "grpc_reflection")
PROBE = """
import json, sys
blocked = json.loads(sys.argv[1])
for name in blocked:
    sys.modules[name] = None  # not installed: any import of it fails
import cuda_kernels, cuda_kernels.rpc.client, cuda_kernels.cli
client = cuda_kernels.rpc.client.KernelClient("127.0.0.1:1")
client.close()
cuda_kernels.cli.build_parser()
print(json.dumps(sorted(name for name, module in sys.modules.items() if module)))
"""


@pytest.mark.parametrize("blocked", [(), OPTIONAL], ids=["all-installed", "core-only"])
def test_the_core_and_the_client_import_no_optional_dependency(blocked):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(blocked)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    # grpcio's own __init__ imports the top packages grpc_health and grpc_reflection when
    # they are installed (empty aliases); what the server needs sits below them.
    heavy = ("matplotlib", "pycuda", "grpc_health.v1", "grpc_reflection.v1alpha")
    assert [name for name in loaded if name.startswith(heavy)] == []
    assert "cuda_kernels.rpc.server.server" not in loaded  # the one module needing the extra


def _imports_of(path: Path, module: str, modules: set[str]) -> set[str]:
    """The cuda_kernels modules that `module` imports anywhere in its code. `from p import
    m` of submodules only is an edge to the submodules: their package is imported anyway."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([package.rsplit(".", node.level - 1)[0], base]).strip(".")
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            found |= submodules if submodules <= modules else {base, *submodules}
    return (found & modules) - {module}


def test_no_import_cycles():
    modules = {}
    for path in SOURCE.rglob("*.py"):
        dotted = ".".join(("cuda_kernels", *path.relative_to(SOURCE).with_suffix("").parts))
        modules[dotted.removesuffix(".__init__")] = path
    graph = {name: _imports_of(path, name, set(modules)) for name, path in modules.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycle = [*trail[trail.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
