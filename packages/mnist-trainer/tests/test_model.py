"""The model takes raw [0, 1] images, owns its normalisation, and survives save/load."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_trainer.augment import random_flip, random_shift
from mnist_trainer.checkpoint import read_sealed, write_sealed
from mnist_trainer.errors import CheckpointError
from mnist_trainer.model import MLP, load_model, save_model
from mnist_trainer.runfolder import atomic_write
from mnist_trainer.schedule import learning_rate


def test_model_accepts_both_image_shapes_and_returns_logits():
    torch.manual_seed(0)
    model = MLP((32, 16), "gelu", dropout=0.1).eval()
    images = torch.rand(5, 28, 28)
    logits = model(images)
    assert logits.shape == (5, 10)
    torch.testing.assert_close(model(images.reshape(5, 784)), logits)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\) or \(N, 784\)"):
        model(torch.rand(5, 27, 28))


def test_saved_model_loads_in_eval_mode_and_predicts_identically(tmp_path: Path):
    torch.manual_seed(1)
    model = MLP((64,), dropout=0.5)
    model.train()
    model(torch.rand(64, 784))  # move the BatchNorm running statistics off their defaults
    model.eval()
    save_model(model, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert not loaded.training
    images = torch.rand(7, 28, 28)
    torch.testing.assert_close(loaded(images), model(images), rtol=0, atol=0)


def test_load_model_explains_a_wrong_file(tmp_path: Path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_model(tmp_path / "junk.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="has no checksum"):
        load_model(tmp_path / "other.pt")
    write_sealed({"something": 1}, tmp_path / "sealed.pt")
    with pytest.raises(CheckpointError, match="not a model saved by mnist-trainer"):
        load_model(tmp_path / "sealed.pt")


def test_files_are_written_with_the_usual_permissions(tmp_path: Path):
    """mkstemp makes 0600 files; a run's model must be readable like any other file."""
    atomic_write(tmp_path / "a.json", "{}")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failure_while_writing_leaves_the_previous_file(tmp_path: Path):
    path = tmp_path / "checkpoint.pt"
    write_sealed({"epoch": 1, "weights": torch.ones(3)}, path)

    def dies_halfway(f):
        f.write(b"half of a new checkpoint")
        raise KeyboardInterrupt  # the process is stopped mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_halfway)
    assert read_sealed(path, "checkpoint")["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_shift_moves_content_and_fills_with_zeros():
    image = torch.zeros(1, 28, 28)
    image[0, 10, 10] = 1.0
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        shifted = random_shift(image, 2, generator)
        (row, col), value = (shifted[0] == 1).nonzero()[0].tolist(), shifted.sum().item()
        assert value == 1.0
        assert abs(row - 10) <= 2 and abs(col - 10) <= 2
    edge = torch.zeros(1, 28, 28)
    edge[0, :, 27] = 1.0
    sums = {random_shift(edge, 1, generator).sum().item() for _ in range(30)}
    assert 0.0 in sums  # shifted off the edge: nothing wraps around


def test_flip_mirrors_about_half_the_images():
    images = torch.rand(1000, 28, 28)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    mirrored = (flipped == images.flip(-1)).flatten(1).all(1)
    unchanged = (flipped == images).flatten(1).all(1)
    assert bool((mirrored | unchanged).all())
    assert 400 < int(mirrored.sum()) < 600


def test_schedule_warms_up_peaks_and_anneals():
    rates = [learning_rate(s, 100, 1.0, "onecycle", 0.25) for s in range(100)]
    assert rates[0] == pytest.approx(1 / 25)
    assert max(rates) == pytest.approx(1.0)
    assert rates.index(max(rates)) == 25
    assert rates[-1] < 1e-3
    assert all(b <= a for a, b in itertools.pairwise(rates[25:]))
    assert learning_rate(50, 100, 0.1, "constant", 0.25) == 0.1
    cosine = [learning_rate(s, 100, 1.0, "cosine", 0.25) for s in range(100)]
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5, abs=0.02) and cosine[-1] < 1e-3


def test_sigkill_during_a_write_never_corrupts_the_file(tmp_path: Path):
    """A real kill -9 of a process stopped in the middle of replacing a sealed file."""
    path = tmp_path / "checkpoint.pt"
    write_sealed({"epoch": 1, "weights": torch.arange(1000.0)}, path)
    writer = (
        "import sys\n"
        "from mnist_trainer.runfolder import atomic_write\n"
        "def half(f):\n"
        "    f.write(b'x' * 100_000)\n"
        "    f.flush()\n"
        "    print('half', flush=True)\n"
        "    sys.stdin.read()  # wait here until killed\n"
        "atomic_write(sys.argv[1], half)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", writer, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "half\n"
    assert len(list(tmp_path.glob(".checkpoint.pt.*.tmp"))) == 1  # the half-written file
    process.send_signal(signal.SIGKILL)
    process.wait()
    blob = read_sealed(path, "checkpoint")
    assert blob["epoch"] == 1 and torch.equal(blob["weights"], torch.arange(1000.0))
