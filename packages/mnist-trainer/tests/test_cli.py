"""`mnist-train`: errors are one readable line and a non-zero exit; a tiny run works."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_trainer import data
from mnist_trainer.cli import main

TINY = ["--hidden", "32", "--epochs", "1", "--train-subset", "1000", "--val-size", "500",
        "--batch-size", "100", "--no-progress"]  # fmt: skip


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mnist-train: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--dropout", "1.2"], "--dropout must be in [0, 1)"),
        (["--hidden", "10,x"], "comma-separated list"),
        (["--activation", "softmax"], "invalid choice"),
        (["--lr", "fast"], "invalid float value"),
        (["--resume"], "--resume needs --out"),
        (["--preset", "huge"], "invalid choice"),
        (["--matmul-service", " "], "--matmul-service is empty"),
    ],
)
def test_bad_flag_values_exit_2_with_one_line(argv, complaint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main(argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    assert complaint in one_line_error(capsys)


def test_missing_data_lists_places_and_fixes(tmp_path: Path, capsys):
    code = main(["--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "run"), *TINY])
    assert code == 1
    line = one_line_error(capsys)
    assert str(tmp_path / "none") in line and str(data.DEBIAN_DIR) in line
    assert "apt-get install dataset-fashion-mnist" in line and "FASHION_MNIST_DIR" in line


def test_corrupt_file_is_named(data_dir: Path, tmp_path: Path, capsys):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    victim = copy / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:2000])
    code = main(["--data-dir", str(copy), "--out", str(tmp_path / "run"), *TINY])
    assert code == 1
    assert str(victim) in one_line_error(capsys)


def test_unreachable_service_exits_1(data_dir: Path, tmp_path: Path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["--data-dir", str(data_dir), "--out", str(tmp_path / "run"), *TINY,
            "--matmul-service", f"127.0.0.1:{port}", "--service-timeout", "2"]  # fmt: skip
    assert main(argv) == 1
    assert "unreachable" in one_line_error(capsys)


def test_tiny_run_then_resume_of_a_finished_run(data_dir: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert main(["--data-dir", str(data_dir), "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "epoch   1/1" in out and "test accuracy" in out
    first = json.loads((run / "metrics.json").read_text())
    # resuming a finished run re-reads its config.json and only re-tests the best model
    assert main(["--data-dir", str(data_dir), "--out", str(run), "--resume", "--no-progress"]) == 0
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == first["test_accuracy"]
    assert main(["--data-dir", str(data_dir), "--out", str(run), "--resume", "--epochs", "5"]) == 1
    assert "different epochs" in one_line_error(capsys)


def test_python_m_prints_one_line_and_no_traceback(data_dir: Path, tmp_path: Path):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    victim = copy / "t10k-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-5000])
    result = subprocess.run(
        [sys.executable, "-m", "mnist_trainer", "--data-dir", str(copy),
         "--out", str(tmp_path / "run"), *TINY],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(victim) in result.stderr and "not a complete gzip file" in result.stderr


def test_ctrl_c_says_how_to_resume(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    import mnist_trainer.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_trainer.train, "fit", interrupted)
    assert main(["--out", str(tmp_path / "run")]) == 130
    assert f"--out {tmp_path / 'run'} --resume" in capsys.readouterr().err
