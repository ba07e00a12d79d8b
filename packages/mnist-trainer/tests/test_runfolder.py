"""Run folders no one can corrupt: one trainer per folder, checksummed checkpoints and
models, metrics.jsonl appended and cut back on resume."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from mnist_trainer import load_model, preset
from mnist_trainer.checkpoint import load_checkpoint
from mnist_trainer.cli import main
from mnist_trainer.errors import CheckpointError
from mnist_trainer.runfolder import RunFolder, metrics_text
from mnist_trainer.train import fit


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def history_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_second_trainer_on_a_busy_folder_exits_at_once_naming_the_first(
    data_dir: Path, tmp_path: Path, start_gated_cli, run_cli, wait_for_line, tiny
):
    """D5: two trainers on one --out used to both run and mix their files."""
    run = tmp_path / "run"
    common = ["--data-dir", str(data_dir), "--out", str(run)]
    first = start_gated_cli(*common, *tiny, "--epochs", "3")
    try:
        wait_for_line(first.stdout, "gate: after epoch 1")  # held there, holding the folder
        second = run_cli(*common, *tiny, "--hidden", "64", "--epochs", "2", "--seed", "7")
        assert second.returncode == 1
        line = one_line(second.stderr)
        assert f"{run} is in use by mnist-train pid {first.pid} on " in line
        assert "pick another --out" in line
        config = json.loads((run / "config.json").read_text())
        assert config["hidden_sizes"] == [32] and config["seed"] == 0  # the first run's

        first.send_signal(signal.SIGKILL)  # a crash: its lock file stays, its lock does not
        first.wait()
        assert f"pid {first.pid}" in (run / ".lock").read_text()
        assert main([*common, "--resume", "--no-progress"]) == 0
        assert [row["epoch"] for row in history_of(run)] == [1, 2, 3]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        for stream in (first.stdin, first.stdout, first.stderr):
            stream.close()


def test_a_run_stopped_before_its_first_epoch_leaves_the_folder_as_it_was(dataset, tmp_path):
    """Its "start again" hint must work: nothing of the stopped run may block --out."""
    run = tmp_path / "run"
    config = preset("fast", hidden_sizes=(16,), epochs=1, train_subset=500, val_size=200,
                    batch_size=100, threads=1)  # fmt: skip

    def stop_when_training_starts(line: str) -> None:
        if line.startswith("training"):
            assert (run / "config.json").exists()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, run, dataset=dataset, progress=False, plots=False,
            log=stop_when_training_starts)  # fmt: skip
    assert {p.name for p in run.iterdir()} == {".lock"}
    fit(config, run, dataset=dataset, progress=False, plots=False, log=lambda s: None)
    assert len(history_of(run)) == 1


def _flip_inside(path: Path, tensor: torch.Tensor) -> None:
    """Invert 64 bytes in the middle of `tensor`'s data inside the file at `path`."""
    raw = bytearray(path.read_bytes())
    data = tensor.numpy().tobytes()
    at = raw.find(data[:4096])
    assert at > 0, "the tensor's bytes were not found in the file"
    middle = at + len(data) // 2
    raw[middle : middle + 64] = bytes(b ^ 0xFF for b in raw[middle : middle + 64])
    path.write_bytes(bytes(raw))


@pytest.fixture
def two_epoch_run(data_dir: Path, tmp_path: Path, tiny) -> Path:
    run = tmp_path / "run"
    assert main(["--data-dir", str(data_dir), "--out", str(run), *tiny, "--epochs", "2"]) == 0
    return run


def test_a_damaged_checkpoint_is_refused_and_the_previous_one_resumes(
    two_epoch_run: Path, data_dir: Path, capsys
):
    """D6: flipped bytes inside a tensor of checkpoint.pt used to change weights silently."""
    run = two_epoch_run
    finished = history_of(run)
    checkpoint = run / "checkpoint.pt"
    weights = torch.load(checkpoint, weights_only=True)["model"]["1.weight"]
    _flip_inside(checkpoint, weights)
    damaged = torch.load(checkpoint, weights_only=True)["model"]["1.weight"]
    assert not torch.equal(damaged, weights)  # torch itself notices nothing

    capsys.readouterr()
    resume = ["--data-dir", str(data_dir), "--out", str(run), "--resume", "--no-progress"]
    assert main(resume) == 1
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    assert f"{checkpoint}: content does not match its checksum" in line
    previous = run / "checkpoint.prev.pt"
    advice = f"the previous epoch's checkpoint {previous} is intact: `mv {previous} {checkpoint}`"
    assert advice in line
    # Follow the advice: back to epoch 1, metrics cut back to it, epoch 2 trained again.
    previous.replace(checkpoint)
    assert load_checkpoint(checkpoint)["epoch"] == 1
    assert main(resume) == 0
    assert without_time(history_of(run)) == without_time(finished)


def test_a_damaged_model_is_refused_by_load_model_and_evaluate(two_epoch_run: Path, capsys):
    model_path = two_epoch_run / "model.pt"
    state = torch.load(model_path, weights_only=True)["state_dict"]
    _flip_inside(model_path, state["1.weight"])
    with pytest.raises(CheckpointError, match="content does not match its checksum") as info:
        load_model(model_path)
    assert f"{two_epoch_run / 'checkpoint.pt'} holds the same best weights" in str(info.value)
    load_model(two_epoch_run / "checkpoint.pt")  # which is indeed intact
    capsys.readouterr()
    assert main(["evaluate", str(two_epoch_run)]) == 1
    assert "model.pt: content does not match its checksum" in one_line(capsys.readouterr().err)


def test_metrics_jsonl_is_appended_each_epoch_so_tail_f_can_follow(dataset, tmp_path: Path):
    run = tmp_path / "run"
    seen: list[tuple[int, int]] = []

    def look(row: dict) -> None:
        stat = os.stat(run / "metrics.jsonl")
        seen.append((stat.st_ino, len((run / "metrics.jsonl").read_text().splitlines())))

    config = preset("fast", hidden_sizes=(16,), epochs=3, train_subset=500, val_size=200,
                    batch_size=100, threads=1)  # fmt: skip
    fit(config, run, dataset=dataset, progress=False, plots=False, log=lambda s: None,
        on_epoch_end=look)  # fmt: skip
    inodes, lines = zip(*seen, strict=True)
    assert len(set(inodes)) == 1, "metrics.jsonl was replaced, not appended to"
    assert list(lines) == [1, 2, 3]


def test_sync_metrics_makes_the_file_match_the_checkpoint(tmp_path: Path):
    folder = RunFolder(tmp_path)
    rows = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2, 3)]
    path = tmp_path / "metrics.jsonl"
    path.write_text(metrics_text(rows))
    inode = path.stat().st_ino
    folder.sync_metrics(rows[:2])  # lines past the checkpoint: cut off in place
    assert path.read_text() == metrics_text(rows[:2]) and path.stat().st_ino == inode
    folder.sync_metrics(rows)  # the checkpoint is ahead (killed before the line): appended
    assert path.read_text() == metrics_text(rows) and path.stat().st_ino == inode
    path.write_text('{"epoch": 1, "train_lo')  # a torn line: rewritten whole
    folder.sync_metrics(rows[:1])
    assert path.read_text() == metrics_text(rows[:1])
    folder.sync_metrics([])
    assert path.read_text() == ""
