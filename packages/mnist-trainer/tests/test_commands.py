"""Everyday commands: `mnist-train evaluate`, `mnist-train predict`, `--tensorboard`."""

from __future__ import annotations

import gzip
import json
import os
import struct
import sys
import zlib
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


# --- issue 21: predict's inputs ---------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(width: int, height: int, extra: bytes = b"") -> bytes:
    """A gray PNG written by hand: its header may announce any size, chunks may be added."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\0" + bytes(width) for _ in range(height)) if width <= 28 else b""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))  # fmt: skip


def test_predict_scales_a_16_bit_png_instead_of_clipping_it(trained, dataset, tmp_path, capsys):
    from PIL import Image

    image = dataset.test_images[3]
    Image.fromarray(image).save(tmp_path / "8-bit.png")
    Image.fromarray(image.astype(np.uint16) * 257).save(tmp_path / "16-bit.png")  # 255 -> 65535
    capsys.readouterr()
    assert main(["predict", str(trained), str(tmp_path / "8-bit.png")]) == 0
    eight = capsys.readouterr().out.split(": ", 1)[1]
    assert main(["predict", str(trained), str(tmp_path / "16-bit.png")]) == 0
    assert capsys.readouterr().out.split(": ", 1)[1] == eight


def test_predict_refuses_bombs_odd_files_and_empty_idx_in_one_line(
    trained: Path, tmp_path: Path, capsys
):
    bomb = zlib.compress(b"a" * (64 << 20), 9)  # 64 MB that packs into 65 KB
    (tmp_path / "huge.png").write_bytes(_png(100000, 100000))
    (tmp_path / "text.png").write_bytes(_png(28, 28, _chunk(b"zTXt", b"k\0\0" + bomb)))
    (tmp_path / "icc.png").write_bytes(_png(28, 28, _chunk(b"iCCP", b"p\0\0" + bomb)))
    (tmp_path / "short.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", bytes(5)))
    (tmp_path / "folder.png").mkdir()
    os.mkfifo(tmp_path / "fifo.png")  # nothing ever writes it: opening it would block
    (tmp_path / "empty-idx3-ubyte").write_bytes(idx_bytes(np.zeros((0, 28, 28))))
    for name, complaint in [
        ("huge.png", "refused unread, it announces far more than 28x28 pixels"),
        ("text.png", "refused, a text or colour-profile chunk inflates past the size limit"),
        ("icc.png", "refused, a text or colour-profile chunk inflates past the size limit"),
        ("short.png", "cannot be read as an image (Truncated IHDR chunk)"),  # not a bomb
        ("folder.png", "not a regular file (a folder)"),
        ("fifo.png", "not a regular file (a pipe, socket or device)"),
        ("empty-idx3-ubyte", "the IDX file holds no images"),
    ]:
        capsys.readouterr()
        assert main(["predict", str(trained), str(tmp_path / name)]) == 1, name
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert "\n" not in err and "internal error" not in err, err
        assert err.startswith(f"mnist-train: error: {tmp_path / name}: {complaint}"), err
        assert captured.out == ""


def test_a_model_path_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path, capsys):
    os.mkfifo(tmp_path / "model.pt")  # nothing writes it: reading it would block forever
    for command in (["evaluate"], ["predict"]):
        images = ["x.png"] if command == ["predict"] else []
        assert main([*command, str(tmp_path / "model.pt"), *images]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"mnist-train: error: {tmp_path / 'model.pt'}: not a regular file")
