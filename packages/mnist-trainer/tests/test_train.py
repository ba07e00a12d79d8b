"""Training end to end on small real subsets: run folder, determinism, resume, DDP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnist_trainer import load_model, preset
from mnist_trainer.errors import CheckpointError, ConfigError
from mnist_trainer.model import fold_batch_norm, model_from_record
from mnist_trainer.train import fit

SMALL = {
    "hidden_sizes": (64,),
    "epochs": 3,
    "train_subset": 2000,
    "val_size": 500,
    "batch_size": 100,
    "lr": 3e-3,
    "threads": 1,
}


def quiet_fit(config, out, **kwargs):
    return fit(config, out, progress=False, log=lambda line: None, **kwargs)


def without_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def read_history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, dataset):
    run = tmp_path_factory.mktemp("runs") / "small"
    metrics = quiet_fit(preset("fast", **SMALL), run, dataset=dataset)
    return run, metrics


def test_run_folder_holds_everything(small_run):
    run, metrics = small_run
    names = {p.name for p in run.iterdir()}
    expected = {"config.json", "metrics.jsonl", "metrics.json", "model.pt", "checkpoint.pt"}
    assert expected | {"loss.png", "accuracy.png", "confusion.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    history = read_history(run)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for row in history:
        assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(
            row
        )
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["test_accuracy"] == metrics["test_accuracy"] > 0.7  # chance is 0.1
    assert saved["best_val_accuracy"] == max(row["val_accuracy"] for row in history)
    assert saved["epochs"] == 3 and saved["seconds"] > 0
    assert saved["config"]["hidden_sizes"] == [64]
    for png in ("loss.png", "accuracy.png", "confusion.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loaded_model_reproduces_the_test_accuracy(small_run, dataset):
    run, metrics = small_run
    model = load_model(run / "model.pt")
    images = torch.from_numpy(dataset.test_images).float() / 255  # raw [0, 1], (N, 28, 28)
    with torch.no_grad():
        predicted = model(images).argmax(1)
    accuracy = (predicted == torch.from_numpy(dataset.test_labels).long()).float().mean().item()
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_same_seed_same_run_on_cpu(small_run, dataset, tmp_path: Path):
    run, metrics = small_run
    again = quiet_fit(preset("fast", **SMALL), tmp_path / "again", dataset=dataset)
    assert again["test_accuracy"] == metrics["test_accuracy"]
    assert without_time(read_history(tmp_path / "again")) == without_time(read_history(run))


def test_interrupted_then_resumed_equals_uninterrupted(small_run, dataset, tmp_path: Path):
    run, metrics = small_run
    interrupted = tmp_path / "interrupted"

    def stop_after_epoch_2(row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quiet_fit(
            preset("fast", **SMALL), interrupted, dataset=dataset, on_epoch_end=stop_after_epoch_2
        )
    assert len(read_history(interrupted)) == 2
    assert not (interrupted / "metrics.json").exists()
    resumed = quiet_fit(preset("fast", **SMALL), interrupted, dataset=dataset, resume=True)
    assert resumed["test_accuracy"] == metrics["test_accuracy"]
    assert resumed["test_loss"] == metrics["test_loss"]
    assert without_time(read_history(interrupted)) == without_time(read_history(run))
    a, b = load_model(run / "model.pt"), load_model(interrupted / "model.pt")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_resume_refuses_a_changed_recipe_and_a_fresh_run_refuses_an_old_folder(small_run, dataset):
    run, _ = small_run
    with pytest.raises(CheckpointError, match="different hidden_sizes"):
        quiet_fit(
            preset("fast", **{**SMALL, "hidden_sizes": (32,)}), run, dataset=dataset, resume=True
        )
    with pytest.raises(ConfigError, match="already holds a run"):
        quiet_fit(preset("fast", **SMALL), run, dataset=dataset)


def test_bad_options_are_refused_with_a_hint():
    with pytest.raises(ConfigError, match="--dropout"):
        preset("fast", dropout=1.5)
    with pytest.raises(ConfigError, match="--preset must be one of"):
        preset("huge")
    with pytest.raises(ConfigError, match="stays on the CPU"):
        preset("fast", matmul_service="127.0.0.1:1", device="cuda")


def test_data_parallel_with_two_cpu_processes(data_dir: Path, tmp_path: Path, cli_env):
    """Two workers started as torchrun starts them (RANK, WORLD_SIZE, ... in the environment).

    We launch them ourselves, meeting through a file, because torchrun's TCP store listens
    on every network interface and our tests may only listen on the loopback.
    """
    run = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "mnist_trainer", "--data-dir", str(data_dir), "--out", str(run),
        "--hidden", "64", "--epochs", "2", "--train-subset", "2000", "--val-size", "500",
        "--batch-size", "100", "--lr", "0.003", "--no-progress",
    ]  # fmt: skip
    workers = []
    for rank in range(2):
        env = {
            **cli_env,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2",
            "MNIST_TRAINER_INIT_METHOD": (tmp_path / "rendezvous").as_uri(),
            "GLOO_SOCKET_IFNAME": "lo",
        }
        workers.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
    main_out, other_out = outputs[0][0], outputs[1][0]
    assert "2 process(es)" in main_out and "test accuracy" in main_out
    assert other_out == ""  # only rank 0 reports and writes
    assert len(read_history(run)) == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.6
    blob = torch.load(run / "checkpoint.pt", weights_only=True)
    assert len(blob["rng"]) == 2  # both workers' random streams, for an exact resume


def test_without_a_validation_set_the_last_epoch_is_kept(dataset, tmp_path: Path):
    config = preset("fast", **{**SMALL, "epochs": 2, "val_size": 0, "train_subset": 1000})
    metrics = quiet_fit(config, tmp_path / "run", dataset=dataset)
    assert metrics["best_val_accuracy"] is None
    history = read_history(tmp_path / "run")
    assert [row["val_accuracy"] for row in history] == [None, None]
    assert (tmp_path / "run" / "accuracy.png").exists()
    blob = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    last = model_from_record({**blob["best_model"], "state_dict": blob["model"]}, "checkpoint")
    final = load_model(tmp_path / "run" / "model.pt").state_dict()
    for name, value in fold_batch_norm(last).state_dict().items():
        assert torch.equal(value, final[name]), name


def test_model_pt_is_the_trained_network_with_batch_norm_folded_in(small_run, dataset):
    """Issue 19: model.pt is Normalize, Linear and ReLU only, and computes what the network
    as trained (in the checkpoint, BatchNorm and dropout and all) computes."""
    run, _ = small_run
    folded = load_model(run / "model.pt")
    kinds = {type(m).__name__ for m in folded}
    assert kinds == {"Normalize", "Linear", "ReLU"}, kinds
    assert folded.arch["batch_norm_folded"] and not folded.arch["batch_norm"]
    blob = torch.load(run / "checkpoint.pt", weights_only=True)
    trained = model_from_record(blob["best_model"], "checkpoint")
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in trained)
    images = torch.from_numpy(dataset.test_images).float() / 255
    with torch.no_grad():
        a, b = trained(images), folded(images)
    difference = (a - b).abs().max().item()
    print(f"max |logit difference| folded vs unfolded on 10,000 test images: {difference:.3g}")
    assert difference <= 1e-4
    assert torch.equal(a.argmax(1), b.argmax(1))


def _tiny_from(out: Path, *where: str) -> dict:
    """A tiny run through the CLI, the data found `where` says (--data-dir, or the lookup)."""
    from mnist_trainer.cli import main

    args = [*where, "--out", str(out), "--hidden", "16", "--epochs", "1", "--threads", "1",
            "--train-subset", "500", "--val-size", "200", "--batch-size", "100",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    return json.loads((out / "metrics.json").read_text())


def test_tiny_runs_from_a_flat_folder_and_from_torchvisions_layout(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    """Issue 23: `ROOT/FashionMNIST/raw/*-ubyte(.gz)`, as torchvision keeps the files, is
    found from --data-dir ROOT and from FASHION_MNIST_DIR=ROOT; the flat folder as before."""
    from mnist_trainer import data

    flat, root = tmp_path / "flat", tmp_path / "torchvision"
    raw = root / "FashionMNIST" / "raw"
    for folder in (flat, raw):
        folder.mkdir(parents=True)
        for spec in data.FILES.values():
            (folder / f"{spec.stem}.gz").symlink_to(data_dir / f"{spec.stem}.gz")
    from_flat = _tiny_from(tmp_path / "a", "--data-dir", str(flat))
    assert f"data from {flat};" in capsys.readouterr().out
    from_torchvision = _tiny_from(tmp_path / "b", "--data-dir", str(root))
    assert f"data from {raw};" in capsys.readouterr().out
    monkeypatch.setenv(data.DIR_ENV, str(root))
    from_env = _tiny_from(tmp_path / "c")
    assert f"data from {raw};" in capsys.readouterr().out
    assert from_flat["test_accuracy"] == from_torchvision["test_accuracy"]
    assert from_env["test_accuracy"] == from_flat["test_accuracy"]


def test_a_folder_in_neither_layout_is_refused_naming_both(tmp_path: Path):
    from mnist_trainer import data
    from mnist_trainer.errors import DataNotFoundError

    (tmp_path / "FashionMNIST" / "raw").mkdir(parents=True)
    with pytest.raises(DataNotFoundError) as info:
        data.locate(tmp_path)
    message = str(info.value)
    assert f"--data-dir {tmp_path} lacks train-images-idx3-ubyte(.gz)" in message
    assert f"in it or in torchvision's layout, {tmp_path / 'FashionMNIST' / 'raw'}" in message
