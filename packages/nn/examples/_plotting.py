"""Matplotlib set-up shared by the examples: a file backend, and where figures are saved."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed).

    Without matplotlib the example stops with one line saying how to get it.
    """
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "error: this example draws with matplotlib, which is not installed; run it with "
            "`uv run --package nn --extra plot python ...` (or install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    return path
