"""Small supports: progress bars with and without tqdm, the version from a source tree."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError

import pytest

import mnist_trainer
from mnist_trainer import _version, progress


def test_progress_bar_is_tqdm_when_enabled_and_silent_otherwise(monkeypatch: pytest.MonkeyPatch):
    from tqdm.auto import tqdm

    shown = progress.bar(range(3), enabled=True, disable=True)
    assert isinstance(shown, tqdm) and list(shown) == [0, 1, 2]
    silent = progress.bar(range(3), enabled=False, desc="x")
    assert list(silent) == [0, 1, 2]
    silent.set_postfix(loss="1")
    silent.update(2)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # as on a host without tqdm
    fallback = progress.bar(range(2), enabled=True, desc="x")
    assert not isinstance(fallback, tqdm) and list(fallback) == [0, 1]
    with progress.bar(total=10, enabled=True) as counter:
        counter.update(5)


def test_version_comes_from_the_source_tree_when_not_installed(monkeypatch: pytest.MonkeyPatch):
    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(_version, "version", not_installed)
    assert _version.read_version() == mnist_trainer.__version__
