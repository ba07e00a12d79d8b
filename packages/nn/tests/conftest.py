"""The `example` fixture: load a script of `examples/` as a module, its helpers importable."""

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"
HELPERS = ("_plotting", "_matrices")


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))

    loaded = []

    def load(name):
        spec = importlib.util.spec_from_file_location(f"nn_example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while defined
        loaded.append(spec.name)
        spec.loader.exec_module(module)
        return module

    yield load
    for name in (*loaded, *HELPERS):
        sys.modules.pop(name, None)
