"""Everyday commands: `mnist-train evaluate`, `mnist-train predict`, `--tensorboard`."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_trainer import load_model
from mnist_trainer.cli import main
from mnist_trainer.data import CLASS_NAMES


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir: Path) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    argv = ["--data-dir", str(data_dir), "--out", str(run), "--hidden", "32", "--epochs", "1",
            "--train-subset", "2000", "--val-size", "500", "--batch-size", "100",
            "--no-progress", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    return run


def test_evaluate_prints_accuracy_per_class_and_confusion(trained: Path, data_dir, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(trained), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    test_accuracy = json.loads((trained / "metrics.json").read_text())["test_accuracy"]
    assert f"test accuracy {test_accuracy:.4f} (" in out and "/10000)" in out
    assert "per-class accuracy:" in out and "confusion matrix (rows: true class" in out
    matrix = [line.split()[-10:] for line in out.splitlines()[-10:]]
    assert sum(int(c) for row in matrix for c in row) == 10000
    assert all(name in out for name in CLASS_NAMES)
    # the model file and the checkpoint score the same weights
    assert main(["evaluate", str(trained / "checkpoint.pt"), "--data-dir", str(data_dir)]) == 0
    assert f"test accuracy {test_accuracy:.4f} (" in capsys.readouterr().out


def test_predict_classifies_png_and_idx_images(trained: Path, dataset, tmp_path: Path, capsys):
    from PIL import Image

    images = dataset.test_images[:5]
    model = load_model(trained)
    with torch.no_grad():
        expected = model(torch.from_numpy(images).float() / 255).argmax(1).tolist()
    Image.fromarray(images[0]).save(tmp_path / "gray.png")
    Image.fromarray(np.stack([images[1]] * 3, axis=-1)).save(tmp_path / "rgb.png")
    (tmp_path / "five-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    capsys.readouterr()
    argv = ["predict", str(trained / "model.pt"), str(tmp_path / "gray.png"),
            str(tmp_path / "rgb.png"), str(tmp_path / "five-idx3-ubyte.gz")]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith(f"{tmp_path / 'gray.png'}: {CLASS_NAMES[expected[0]]} (")
    assert lines[1].startswith(f"{tmp_path / 'rgb.png'}: {CLASS_NAMES[expected[1]]} (")
    for i in range(5):
        assert lines[2 + i].startswith(
            f"{tmp_path / 'five-idx3-ubyte.gz'}[{i}]: {CLASS_NAMES[expected[i]]} ("
        )
        assert lines[2 + i].endswith("%)")


def test_predict_refuses_other_sizes_and_other_files(trained: Path, tmp_path: Path, capsys):
    from PIL import Image

    Image.new("L", (64, 48)).save(tmp_path / "big.png")
    (tmp_path / "notes.txt").write_text("hello")
    for name, complaint in [("big.png", "64x48 pixels; the model takes 28x28 grayscale"),
                            ("notes.txt", "neither a PNG nor an IDX file"),
                            ("absent.png", "no such file")]:  # fmt: skip
        capsys.readouterr()
        assert main(["predict", str(trained), str(tmp_path / name)]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and complaint in err and str(tmp_path / name) in err


def test_tensorboard_logs_every_epoch(data_dir: Path, tmp_path: Path, tiny):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    argv = ["--data-dir", str(data_dir), "--out", str(run), *tiny, "--epochs", "2"]
    assert main([*argv, "--tensorboard"]) == 0
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [s.step for s in events.Scalars("accuracy/val")] == [1, 2]
    assert {"loss/train", "loss/val", "accuracy/train", "lr"} <= set(events.Tags()["scalars"])


def test_tensorboard_missing_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as where the extra is absent
    assert main(["--out", str(tmp_path / "run"), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "uv run --package mnist-trainer --extra tensorboard mnist-train" in err
    assert not (tmp_path / "run").exists()
