"""Fixtures shared by the trainer's tests: the real data (when present), small IDX files
made here, and the trainer started as a real process."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DEBIAN_DATA = Path("/usr/share/datasets/fashion-mnist")


def real_data_dir() -> Path | None:
    """Where the real Fashion-MNIST files are: $FASHION_MNIST_DIR when set (and then only
    there), else a copy beside the checkout, else Debian's dataset-fashion-mnist."""
    if os.environ.get("FASHION_MNIST_DIR"):
        candidates = [Path(os.environ["FASHION_MNIST_DIR"])]
    else:
        candidates = [REPO_ROOT.parent / "shared" / "datasets" / "fashion-mnist", DEBIAN_DATA]
    for folder in candidates:
        if (folder / "train-images-idx3-ubyte.gz").is_file() or (
            folder / "train-images-idx3-ubyte"
        ).is_file():
            return folder
    return None


REAL_DATA = real_data_dir()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if REAL_DATA is None:
        where = os.environ.get("FASHION_MNIST_DIR")
        pytest.skip(
            f"Fashion-MNIST not found in FASHION_MNIST_DIR={where}"
            if where
            else "Fashion-MNIST not found: apt-get install dataset-fashion-mnist, or set "
            "FASHION_MNIST_DIR to a folder holding the four official files"
        )
    return REAL_DATA


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


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def fake_dataset(tmp_path: Path):
    """Four small IDX .gz files in Fashion-MNIST's layout, with their digests computed here
    (the real files' published digests cannot match them): (folder, files spec)."""
    from mnist_trainer import data

    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (40, 28, 28)),
        "train_labels": np.arange(40) % 10,
        "test_images": rng.integers(0, 256, (20, 28, 28)),
        "test_labels": np.arange(20) % 10,
    }
    folder = tmp_path / "fake-fashion-mnist"
    folder.mkdir()
    files = {}
    for key, array in arrays.items():
        content = idx_bytes(array)
        stem = data.FILES[key].stem
        packed = gzip.compress(content, mtime=0)
        (folder / f"{stem}.gz").write_bytes(packed)
        files[key] = data.DataFile(
            stem,
            hashlib.md5(packed, usedforsecurity=False).hexdigest(),
            hashlib.md5(content, usedforsecurity=False).hexdigest(),
            len(content),
        )
    return folder, files


@pytest.fixture(scope="session")
def bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the trainer processes of this session keep compiled modules.

    Creating an optimizer imports much of torch._dynamo; where PYTHONDONTWRITEBYTECODE is
    set, every process would compile it again (about 10 s on 2 cores). Sharing one cache
    folder outside the environment makes that a cost of the first process only.
    """
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def cli_env(tmp_path: Path, bytecode_cache: Path) -> dict[str, str]:
    """The environment of a trainer started as a real process: isolated cache, no mirror."""
    dropped = ("FASHION_MNIST_DIR", "UV", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        FASHION_MNIST_MIRROR="http://127.0.0.1:9/",
        PYTHONPYCACHEPREFIX=str(bytecode_cache),
    )
    return env


@pytest.fixture
def start_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.Popen]:
    """Start `python -m mnist_trainer ARGS` with its output piped as text."""

    def start(*args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "mnist_trainer", *args],
            env=kwargs.pop("env", cli_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )

    return start


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """Run `python -m mnist_trainer ARGS` to the end; returns the completed process."""

    def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mnist_trainer", *args],
            env=kwargs.pop("env", cli_env),
            capture_output=True,
            text=True,
            timeout=kwargs.pop("timeout", 180),
            **kwargs,
        )

    return run


# A trainer process (`mnist-train` or `mnist-train tune`) that stops after each epoch (its
# checkpoint and metrics line written) until its stdin says go: a test can act on it mid-run
# knowing that it cannot have gone on.
GATED_TRAINER = """
import signal
import sys

# Ctrl-C as a terminal delivers it, even when the suite runs as a background job of a
# non-interactive shell (which starts every child with SIGINT ignored).
signal.signal(signal.SIGINT, signal.default_int_handler)
import mnist_trainer.train as train

real_fit = train.fit

def gated_fit(*args, on_epoch_end=None, **kwargs):
    def gate(row):
        if on_epoch_end is not None:  # a tuning trial's own callback runs first
            on_epoch_end(row)
        print(f"gate: after epoch {row['epoch']}", flush=True)
        sys.stdin.readline()

    return real_fit(*args, on_epoch_end=gate, **kwargs)

train.fit = gated_fit
from mnist_trainer.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def start_gated_cli(cli_env: dict[str, str]) -> Callable[..., subprocess.Popen]:
    """Start `mnist-train ARGS` held after each epoch until a line is written to its stdin."""

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", GATED_TRAINER, *args],
            env=cli_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    return start


def read_until(stream, needle: str) -> str:
    """Lines of `stream` up to and including the first that contains `needle`."""
    seen = ""
    for line in stream:
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never came; output was:\n{seen}")


@pytest.fixture
def wait_for_line() -> Callable[..., str]:
    return read_until


@pytest.fixture
def tiny() -> list[str]:
    """Flags of a tiny but real training run: 1,000 images, one hidden layer of 32."""
    return ["--hidden", "32", "--epochs", "1", "--train-subset", "1000", "--val-size", "500",
            "--batch-size", "100", "--no-progress", "--threads", "1"]  # fmt: skip
