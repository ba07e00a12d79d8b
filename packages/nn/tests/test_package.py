"""The package's front doors work as documented: the README's quick start and the doctests."""

import doctest
import re
from pathlib import Path

import nn
import nn.datasets
import nn.layers
import nn.losses
import nn.module
import nn.optim

README = Path(__file__).parents[1] / "README.md"


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_readme_quick_start_runs_and_learns():
    """The quick start, shortened from 300 steps to 20 to keep the test fast: it runs, and
    the loss falls."""
    quick_start = python_blocks(README.read_text())[0]
    assert "for step in range(300):" in quick_start
    namespace: dict = {}
    exec(compile(quick_start.replace("range(300)", "range(20)"), str(README), "exec"), namespace)
    model, points, labels = namespace["model"], namespace["points"], namespace["labels"]
    first = nn.hinge_loss([nn.MLP(2, [16, 16, 1], seed=0)(p) for p in points], labels)
    last = nn.hinge_loss([model(p) for p in points], labels)
    assert last.data < 0.5 * first.data


def test_docstring_examples():
    for module in (nn, nn.datasets, nn.layers, nn.losses, nn.module, nn.optim):
        failed, _ = doctest.testmod(module)
        assert failed == 0, module.__name__


def test_public_names_are_importable():
    assert all(hasattr(nn, name) for name in nn.__all__)
