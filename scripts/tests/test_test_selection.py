"""Which tests a pytest run collects: the root conftest.py's package selection.

`uv run --package X pytest` collects X's tests and nothing else, from the root and from inside
another package; `uv run pytest` from the root collects every package and the tools; with no
`uv run` above pytest, every importable package is collected and the header says why.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_GROUPS = {f"packages/{p.name}" for p in (ROOT / "packages").iterdir() if p.is_dir()}
needs_uv = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv on PATH")
TREE_LINE = re.compile(r"^(?P<indent>\s*)<(?P<kind>\w+) (?P<name>[^>]+)>$")


@dataclass(frozen=True)
class Collected:
    header: str  # the conftest's "workspace packages: ..." line
    groups: frozenset[str]  # "packages/nn", "scripts", ...


def parse_collection(output: str) -> Collected:
    """Read `pytest --collect-only` (default verbosity): the header and where modules were."""
    header = next((ln for ln in output.splitlines() if ln.startswith("workspace packages:")), "")
    stack: list[str] = []
    groups = set()
    for line in output.splitlines():
        match = TREE_LINE.match(line)
        if not match:
            continue
        depth = len(match["indent"]) // 2
        stack = [*stack[:depth], match["name"]]
        if match["kind"] in {"Module", "ProbeFile"}:
            top = stack[1:3] if stack[1] == "packages" else stack[1:2]
            groups.add("/".join(top))
    return Collected(header, frozenset(groups))


# Collecting the real test modules imports torch & co. (seconds); this plugin stands in for
# pytest's Python collector, so a run shows which files it would collect, and nothing else.
PROBE_PLUGIN = """
import pytest

class ProbeItem(pytest.Item):
    def runtest(self):
        pass

class ProbeFile(pytest.File):
    def collect(self):
        yield ProbeItem.from_parent(self, name="probe")

def pytest_collect_file(file_path, parent):
    if file_path.name.startswith("test_") and file_path.suffix == ".py":
        return ProbeFile.from_parent(parent, path=file_path)
"""
PROBE_ARGS = [
    "--collect-only", "-p", "no:cacheprovider", "-p", "no:python", "-p", "selection_probe",
]  # fmt: skip


@pytest.fixture(scope="module")
def probe_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "selection_probe.py").write_text(PROBE_PLUGIN)
    return {**os.environ, "PYTHONPATH": str(folder)}


def collect(argv: list[str], cwd: Path, env: dict[str, str]) -> Collected:
    proc = subprocess.run([*argv, *PROBE_ARGS], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    return parse_collection(proc.stdout)


@pytest.fixture
def root_conftest(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh module object of the root conftest.py (its caches are its own)."""
    name = "root_conftest_under_test"
    spec = importlib.util.spec_from_file_location(name, ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- real runs through uv ---------------------------------------------------------------


@needs_uv
@pytest.mark.parametrize(
    ("package", "cwd", "paths", "groups"),
    [
        ("nn", ".", [], {"packages/nn"}),
        ("autograd", "packages/nn", [], {"packages/autograd"}),  # from inside another package
        ("autograd", ".", ["packages/nn/tests"], {"packages/nn"}),  # paths are run as given
    ],
)
def test_a_package_run_collects_that_package(package, cwd, paths, groups, probe_env) -> None:
    argv = ["uv", "run", "--package", package, "pytest", *(str(ROOT / p) for p in paths)]
    got = collect(argv, cwd=ROOT / cwd, env=probe_env)
    assert got.groups == groups
    assert got.header == f"workspace packages: {package} (`uv run --package {package}`)"


@needs_uv
def test_a_whole_run_from_the_root_collects_every_package_and_the_tools(probe_env) -> None:
    got = collect(["uv", "run", "pytest"], cwd=ROOT, env=probe_env)
    assert got.groups == PACKAGE_GROUPS | {"scripts"}
    assert "`uv run` without a workspace --package" in got.header


# --- the pieces, on fake process trees --------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["uv", "run", "--package", "nn", "pytest"], (True, "nn")),
        (["/usr/bin/uv", "run", "--package=nn", "pytest", "-q"], (True, "nn")),
        (
            ["uv", "--directory", "x", "run", "--extra", "plot", "--package", "nn", "sh"],
            (True, "nn"),
        ),
        (["python3", "-m", "uv", "run", "--package", "autograd", "pytest"], (True, "autograd")),
        (["uv", "run", "pytest"], (True, None)),
        (["uv", "run", "pytest", "--package", "nn"], (True, None)),  # pytest's argument
        (["uv", "run", "--", "pytest", "--package", "nn"], (True, None)),
        (["uv", "tool", "run", "--package", "nn", "pytest"], (False, None)),
        (["uv", "pip", "list"], (False, None)),
        (["bash", "-c", "uv run --package nn pytest"], (False, None)),
        ([], (False, None)),
    ],
)
def test_reads_the_package_from_a_uv_command_line(root_conftest, argv, expected) -> None:
    assert root_conftest.uv_run_package(argv) == expected


def test_walks_up_past_wrappers_to_the_nearest_uv_run(root_conftest, monkeypatch) -> None:
    table = {
        40: (30, ["pytest", "-q"]),
        30: (20, ["make", "test"]),
        20: (10, ["uv", "run", "--package", "nn", "make", "test"]),
        10: (1, ["uv", "run", "--package", "autograd", "bash"]),
    }
    monkeypatch.setattr(root_conftest, "_process", table.get)
    assert root_conftest.find_uv_run(40) == root_conftest.UvRun(20, "nn")


def test_no_uv_run_among_the_ancestors_is_none(root_conftest, monkeypatch) -> None:
    table = {40: (30, ["pytest"]), 30: (1, ["bash"])}
    monkeypatch.setattr(root_conftest, "_process", table.get)
    assert root_conftest.find_uv_run(40) is None
    monkeypatch.setattr(root_conftest, "_process", {}.get)  # unreadable (Windows, hidepid)
    assert root_conftest.find_uv_run(40) is None


def test_the_package_name_is_compared_normalized(root_conftest, monkeypatch) -> None:
    monkeypatch.setattr(
        root_conftest, "find_uv_run", lambda: root_conftest.UvRun(9, "Mnist_Trainer")
    )
    assert root_conftest.selection().folders == {ROOT / "packages" / "mnist-trainer"}


def test_without_uv_the_importable_packages_are_selected(root_conftest, monkeypatch) -> None:
    monkeypatch.setattr(root_conftest, "find_uv_run", lambda: None)
    monkeypatch.setattr(root_conftest, "_importable", lambda name: name == "nn")
    chosen = root_conftest.selection()
    assert chosen.folders == {ROOT / "packages" / "nn"}
    assert chosen.requested is None
    assert chosen.reason.startswith("no `uv run` above this pytest")
