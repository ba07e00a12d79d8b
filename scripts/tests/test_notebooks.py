"""Every example notebook runs top to bottom, and its committed outputs are a real run's."""

from __future__ import annotations

from pathlib import Path

import notebooks
import pytest

NOTEBOOKS = notebooks.find_notebooks()
IDS = [str(p.relative_to(notebooks.REPO_ROOT)) for p in NOTEBOOKS]
nbformat = pytest.importorskip("nbformat")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_notebook_carries_outputs_of_one_top_to_bottom_run(path: Path):
    code_cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    counts = [c.get("execution_count") for c in code_cells]
    assert counts == list(range(1, len(code_cells) + 1)), (
        f"{path.name}: cells were not run once, in order, in a fresh kernel ({counts}); "
        "refresh with: uv run python scripts/notebooks.py --write " + str(path)
    )
    outputs = [o for c in code_cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], f"{path.name}: error"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name}: no plot in the committed outputs"


def test_the_example_notebooks_are_found():
    assert len(NOTEBOOKS) >= 3  # packages/*/examples/*.ipynb


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_executes_without_error(path: Path):
    executed = notebooks.execute(path)
    sources = [c.source for c in nbformat.read(path, as_version=4).cells]
    assert [c.source for c in executed.cells] == sources


def test_the_locked_torchvision_runs_with_the_locked_torch():
    """The 3(d) notebook's torchvision must match the locked torch build: a mismatched pair
    imports but fails on its first compiled operator ("operator torchvision::nms does not
    exist"), so run one on the CPU."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]])
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.5, 0.7]), iou_threshold=0.5)
    assert kept.tolist() == [0, 2]
