"""CI runs what the README says, and finds by itself the tests to rerun without ../shared."""

from __future__ import annotations

import re
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import shared_dependent_tests as sdt  # noqa: E402


def test_ci_runs_the_readme_test_command(repo_root) -> None:
    readme = (repo_root / "README.md").read_text()
    assert re.search(r"^uv run pytest +# the whole test suite$", readme, re.MULTILINE)
    ci = (repo_root / ".ci" / "run").read_text().splitlines()
    assert "uv run pytest" in ci  # a line of its own: exactly the README's command


def test_the_workflow_runs_ci_on_python_311(repo_root) -> None:
    workflow = (repo_root / ".github" / "workflows" / "ci.yml").read_text()
    assert "runs-on: ubuntu-latest" in workflow
    assert "uses: actions/checkout@" in workflow
    assert 'python-version: "3.11"' in workflow
    assert re.search(r"^\s+run: bash \.ci/run$", workflow, re.MULTILINE)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_selects_the_tests_that_name_the_shared_folder(tmp_path: Path) -> None:
    tests = tmp_path / "packages" / "trainer" / "tests"
    write(tests / "conftest.py", 'DATA = ROOT.parent / "shared" / "datasets"\n')
    write(tests / "test_data.py", "def test_x(): pass\n")
    kernels = tmp_path / "packages" / "kernels" / "tests"
    write(kernels / "test_gpu.py", 'TOOLS = "../shared/gpu/build.sh"\n')
    write(kernels / "test_tiles.py", '"""Tiles in shared memory."""\nNAME = "shared_mem"\n')
    write(tmp_path / "scripts" / "tests" / "test_tools.py", "X = 'share/d'\n")
    assert sdt.shared_dependent_tests(tmp_path) == [
        "packages/kernels/tests/test_gpu.py",
        "packages/trainer/tests",
    ]


def test_a_helper_module_selects_its_whole_folder(tmp_path: Path) -> None:
    tests = tmp_path / "scripts" / "tests"
    write(tests / "helpers" / "data.py", "p = f'{home}/shared/x'\n")
    write(tests / "test_a.py", 'p = "../shared"\n')
    assert sdt.shared_dependent_tests(tmp_path) == [
        "scripts/tests/helpers",
        "scripts/tests/test_a.py",
    ]
