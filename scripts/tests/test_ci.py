"""CI runs what the README says, on the workflow the README names."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert re.search(r"^uv run pytest +# the whole test suite$", readme, re.MULTILINE)
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert "uv run pytest" in ci  # a line of its own: exactly the README's command


def test_the_workflow_runs_ci_on_python_311() -> None:
    workflow = (REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "runs-on: ubuntu-latest" in workflow
    assert "uses: actions/checkout@" in workflow
    assert 'python-version: "3.11"' in workflow
    assert re.search(r"^\s+run: bash \.ci/run$", workflow, re.MULTILINE)
