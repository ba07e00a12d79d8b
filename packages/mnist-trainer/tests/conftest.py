"""Fixtures shared by the trainer's tests: where the real Fashion-MNIST files are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO_ROOT.parent / "shared" / "datasets" / "fashion-mnist"
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")


def real_data_dir() -> Path | None:
    """$FASHION_MNIST_DIR, the repo's ../shared copy, or Debian's package, if present."""
    candidates = (
        [Path(os.environ["FASHION_MNIST_DIR"])] if os.environ.get("FASHION_MNIST_DIR") else []
    )
    candidates += [SHARED_DATA, DEBIAN_DATA]
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file() or (
            folder / "train-images-idx3-ubyte"
        ).is_file():
            return folder
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    folder = real_data_dir()
    if folder is None:
        pytest.skip(
            "Fashion-MNIST not found: set FASHION_MNIST_DIR, provide ../shared/datasets/"
            "fashion-mnist beside the checkout, or apt-get install dataset-fashion-mnist"
        )
    return folder


@pytest.fixture(scope="session")
def dataset(data_dir: Path):
    from mnist_trainer import data

    return data.load_from(data_dir)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never read the real user cache or system folders, nor download from the internet."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("FASHION_MNIST_MIRROR", "http://127.0.0.1:9/")  # discard port: refused
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    # Debian's dataset-fashion-mnist may be installed here: hide it, so lookups are ours.
    from mnist_trainer import data

    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path_factory.mktemp("no-debian") / "absent")
