"""The dependency-confusion guard: no tracked file installs autograd, nn or cuda-kernels by name."""

from __future__ import annotations

import json
from pathlib import Path

import install_guard
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# The install verb, written once: this file's test data is not install instructions.
PIP = "pip install"


@pytest.mark.parametrize(
    "line",
    [
        f"{PIP} nn",
        f'{PIP} "cuda-kernels[gpu]"',
        "python -m pip install -U 'autograd[draw]>=0.1'",
        "uv pip install --python .venv/bin/python nn==0.1.0",
        "uv add --package mnist-trainer cuda-kernels",
        "pip install --find-links dist/nn nn",  # the public index still competes
        "install it with `pip install Cuda_Kernels`",
        "pip install numpy nn && pytest",
        "Not needed for the CPU. On a GPU: pip install 'cuda-kernels[gpu]'",
        f'assert "{PIP} nn" in message',
    ],
)
def test_flags_an_install_by_bare_name(line: str) -> None:
    (why,) = install_guard.scan_text(line)
    assert "would install PyPI's project of that name" in why


@pytest.mark.parametrize(
    "line",
    [
        "pip install --index-url https://team.example/simple/ nn",
        "pip install -i https://team.example/simple/ 'cuda-kernels[gpu]'",
        "uv pip install --default-index https://team.example/simple/ nn",
        "uv add --index team=https://team.example/simple/ nn",
        "pip install --no-index --find-links dist/nn nn",
        "pip install dist/nn/nn-0.1.0-py3-none-any.whl",
        "pip install ./packages/nn 'autograd @ file:///tmp/autograd-0.1.0-py3-none-any.whl'",
        "pip install uv",
        "pip install nnet autograd-extras",
        "uv sync --extra gpu",
        "uv run --package nn --extra plot python examples/two_moons.py",
        "never use --extra-index-url for these names",  # prose, not a command
        "pip install --editable nn  # a folder called nn",
        f"PyPI's `nn` is another project: never `{PIP} nn` to get this one.",
        f'(`uv sync --extra draw`) instead of `{PIP} "autograd[draw]"`, which fetches',
        f"# so do not run `{PIP} autograd` here",
        f"""assert "{PIP} autograd" not in str(err.value).replace('"', "")""",
    ],
)
def test_leaves_pinned_and_unrelated_commands_alone(line: str) -> None:
    assert list(install_guard.scan_text(line)) == []


@pytest.mark.parametrize(
    "line",
    [
        "pip install --extra-index-url https://team.example/simple/ numpy",
        "uv sync --extra-index-url=https://team.example/simple/",
        "export PIP_EXTRA_INDEX_URL=https://team.example/simple/",
        "extra-index-url = https://team.example/simple/",
    ],
)
def test_flags_every_extra_index_url(line: str) -> None:
    (why,) = install_guard.scan_text(line)
    assert why.startswith("--extra-index-url lets the public index win")


def test_reads_messages_split_over_python_lines_and_names_their_first_line(tmp_path) -> None:
    source = tmp_path / "hint.py"
    source.write_text(
        "def hint(name):\n"
        "    return (\n"
        "        f'no renderer for {name}; to get one run `pip install '\n"
        "        '\"autograd[draw]\"` or install graphviz'\n"
        "    )\n"
        f"# {PIP} nn\n"
    )
    found = install_guard.scan_file(source, "hint.py")
    assert [(f.path, f.line) for f in found] == [("hint.py", 3), ("hint.py", 6)]
    assert f"`{PIP} autograd[draw]`" in found[0].why


def test_reads_notebooks_and_shell_continuations(tmp_path) -> None:
    notebook = tmp_path / "demo.ipynb"
    cell = {"cell_type": "markdown", "metadata": {}, "source": [f'Run `{PIP} "nn"` first\n']}
    notebook.write_text(json.dumps({"cells": [cell], "nbformat": 4, "nbformat_minor": 5}, indent=1))
    script = tmp_path / "setup.sh"
    script.write_text("#!/bin/sh\npip install \\\n    --upgrade \\\n    autograd\n")
    assert [f.line for f in install_guard.scan_file(notebook, "demo.ipynb")] == [7]
    assert [f.line for f in install_guard.scan_file(script, "setup.sh")] == [2]


def test_no_tracked_file_of_any_kind_installs_our_names_unpinned() -> None:
    files = set(install_guard.tracked_files(REPO_ROOT))
    assert {"README.md", ".ci/run", "pyproject.toml", "scripts/release.py"} <= files
    assert "uv.lock" not in files and not files & install_guard.EXEMPT
    findings = install_guard.scan_repository(REPO_ROOT)
    assert findings == [], "\n".join(map(str, findings))
