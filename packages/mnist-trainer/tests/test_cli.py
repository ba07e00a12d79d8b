"""`mnist-train`: errors are one readable line and a non-zero exit; a tiny run works; the
Ctrl-C hint is a command that works."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import sys
from pathlib import Path

import pytest
import torch

from mnist_trainer import cli, data
from mnist_trainer.checkpoint import write_sealed
from mnist_trainer.cli import main


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mnist-train") and ": error: " in lines[0]
    return lines[0]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--epochs", "0"], "--epochs must be between 1 and"),
        (["--dropout", "1.2"], "--dropout must be in [0, 1)"),
        (["--hidden", "10,x"], "comma-separated list"),
        (["--activation", "softmax"], "invalid choice"),
        (["--lr", "fast"], "invalid float value"),
        (["--resume"], "--resume needs --out"),
        (["--preset", "huge"], "invalid choice"),
        (["--matmul-service", " "], "--matmul-service is empty"),
        (["--matmul-service", "localhost"], "the port is required"),
        (["--matmul-service", "10.0.0.1:99999"], "port 99999 is out of range"),
        (["--matmul-service-tls-ca", "ca.pem"], "is for a remote service"),
        (["--matmul-service", "127.0.0.1:1", "--matmul-service-token-file", "/absent"],
         "--matmul-service-token-file /absent"),
        (["evaluate"], "the following arguments are required: model"),
        (["--out", ""], "--out is empty"),
        (["--lr", "inf"], "--lr must be a positive number"),
        (["--lr", "nan"], "--lr must be a positive number"),
        (["--weight-decay", "inf"], "--weight-decay must be a number >= 0"),
        (["--weight-decay", "-1"], "--weight-decay must be a number >= 0"),
        (["--threads", "4096"], "--threads must be between 0"),
        (["--service-timeout", "inf"], "--service-timeout must be seconds"),
        (["--epochs", "10000000"], "--epochs must be between 1 and"),
        (["--hidden", "2000000"], "--hidden widths must be between 1 and"),
        (["--hidden", "1000000,1000000"], "TB of memory; this machine has"),
    ],
)  # fmt: skip
def test_bad_flag_values_exit_2_with_one_line(argv, complaint, capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse's own errors exit from inside
        raise SystemExit(main(argv))
    assert exit_info.value.code == 2
    assert complaint in one_line_error(capsys)


def test_help_shows_the_defaults_and_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("--epochs EPOCHS passes over the training set (default: 30)",
                     "(default: 0.002)", "(default: 1024,1024)", "(default: onecycle)",
                     "mnist-train evaluate", "mnist-train predict", "--debug"):  # fmt: skip
        assert expected in text


def test_a_data_dir_without_the_files_is_an_error_naming_them(fake_dataset, tmp_path, capsys):
    folder, _ = fake_dataset
    assert main(["--data-dir", "/nonexistent", "--out", str(tmp_path / "run")]) == 1
    assert "--data-dir /nonexistent is not a folder" in one_line_error(capsys)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    assert main(["--data-dir", str(folder), "--out", str(tmp_path / "run")]) == 1
    assert "lacks t10k-labels-idx1-ubyte(.gz)" in one_line_error(capsys)


def test_no_data_anywhere_offline_says_where_it_looked(tmp_path: Path, capsys):
    assert main(["--no-download", "--out", str(tmp_path / "run")]) == 1
    line = one_line_error(capsys)
    assert str(data.cache_dir()) in line and "apt-get install dataset-fashion-mnist" in line
    assert "internet" not in line and "download" not in line


def test_corrupt_file_is_named(data_dir: Path, tmp_path: Path, capsys, tiny):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    victim = copy / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:2000])
    code = main(["--data-dir", str(copy), "--out", str(tmp_path / "run"), *tiny])
    assert code == 1
    assert str(victim) in one_line_error(capsys)


def test_unreachable_service_exits_1(data_dir: Path, tmp_path: Path, capsys, tiny):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["--data-dir", str(data_dir), "--out", str(tmp_path / "run"), *tiny,
            "--matmul-service", f"127.0.0.1:{port}", "--service-timeout", "2"]  # fmt: skip
    assert main(argv) == 1
    assert "unreachable" in one_line_error(capsys)


def test_tiny_run_then_resume_of_a_finished_run(data_dir: Path, tmp_path: Path, capsys, tiny):
    run = tmp_path / "run"
    assert main(["--data-dir", str(data_dir), "--out", str(run), *tiny]) == 0
    out = capsys.readouterr().out
    assert "epoch   1/1" in out and "test accuracy" in out
    first = json.loads((run / "metrics.json").read_text())
    # resuming a finished run re-reads its config.json and only re-tests the best model
    assert main(["--data-dir", str(data_dir), "--out", str(run), "--resume", "--no-progress"]) == 0
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == first["test_accuracy"]
    assert main(["--data-dir", str(data_dir), "--out", str(run), "--resume", "--epochs", "5"]) == 1
    assert "different epochs" in one_line_error(capsys)


def test_python_m_prints_one_line_and_no_traceback(data_dir: Path, tmp_path: Path, run_cli, tiny):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    victim = copy / "t10k-images-idx3-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-5000])
    result = run_cli("--data-dir", str(copy), "--out", str(tmp_path / "run"), *tiny)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert str(victim) in line and "not a complete gzip file" in line


# --- Ctrl-C ----------------------------------------------------------------------------------


def test_the_hint_names_the_real_invocation(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "argv", ["/x/.venv/bin/mnist-train"])
    monkeypatch.setenv("UV", "/usr/bin/uv")
    assert cli.invocation() == "uv run --package mnist-trainer mnist-train"
    monkeypatch.delenv("UV")
    assert cli.invocation() == "mnist-train"
    monkeypatch.setattr(sys, "argv", ["/x/src/mnist_trainer/__main__.py"])
    assert cli.invocation() == "python -m mnist_trainer"


def _signal_when(process, needle: str, wait_for_line, signum: int, code: int) -> str:
    wait_for_line(process.stdout, needle)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    return one_line(err)


def _run_hint(line: str, capsys) -> None:
    """Run the command the hint printed (its arguments, in this process) and check it."""
    command = shlex.split(line.split("`")[1])
    assert command[0] == "mnist-train"
    assert main(command[1:]) == 0
    assert "test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")],
)
def test_a_signal_after_an_epoch_prints_a_resume_command_that_works(
    data_dir: Path, tmp_path: Path, start_gated_cli, wait_for_line, tiny, capsys, signum, code, said
):
    """The run is held after epoch 1 until told to go on (never, here): the signal cannot
    come after the end of the run, however slow the machine."""
    run = tmp_path / "run"
    args = ["--data-dir", str(data_dir), "--out", str(run), *tiny, "--epochs", "3"]
    process = start_gated_cli(*args)
    line = _signal_when(process, "gate: after epoch 1", wait_for_line, signum, code)
    assert line == (
        f"mnist-train: {said}; continue with "
        f"`mnist-train --out {run} --resume --data-dir {data_dir}`"
    )
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    _run_hint(line, capsys)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


# Stops the trainer's process inside its first `import numpy` (torch imports it from C)
# until a line comes on stdin: a Ctrl-C sent then lands inside that import.
IMPORT_GATE = """
import importlib.abc
import signal
import sys

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see conftest)


class Gate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            print("importing numpy", flush=True)
            sys.stdin.readline()
        return None


sys.meta_path.insert(0, Gate())
from mnist_trainer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_inside_the_numpy_import_stops_the_run_cleanly(
    data_dir: Path, tmp_path: Path, cli_env, tiny
):
    """It used to be swallowed inside the import: the run went on and later failed (or
    finished as if nothing had been asked)."""
    import subprocess

    run = tmp_path / "run"
    args = ["--data-dir", str(data_dir), "--out", str(run), *tiny]
    process = subprocess.Popen(
        [sys.executable, "-c", IMPORT_GATE, *args], env=cli_env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout.readline() == "importing numpy\n"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate("go on\n", timeout=120)
    assert process.returncode == 130, err
    line = one_line(err)
    assert line.startswith("mnist-train: interrupted; no epoch had finished")
    assert not (run / "config.json").exists()


def test_ctrl_c_before_the_first_epoch_says_to_start_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    import mnist_trainer.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # as Ctrl-C during the first epoch

    monkeypatch.setattr(mnist_trainer.train, "fit", interrupted)
    monkeypatch.setattr(sys, "argv", ["/x/.venv/bin/mnist-train"])
    monkeypatch.setenv("UV", "/usr/bin/uv")
    run = tmp_path / "my run"
    assert main(["--out", str(run), "--epochs", "3", "--no-progress"]) == 130
    line = one_line(capsys.readouterr().err)
    expected = shlex.join(["--out", str(run), "--epochs", "3", "--no-progress"])
    assert line == (
        "mnist-train: interrupted; no epoch had finished, so there is nothing to resume; "
        f"start again with `uv run --package mnist-trainer mnist-train {expected}`"
    )


# --- D8: failures that used to end in a traceback ------------------------------------------


@pytest.fixture
def finished_run(data_dir: Path, tmp_path: Path, tiny) -> Path:
    run = tmp_path / "run"
    assert main(["--data-dir", str(data_dir), "--out", str(run), *tiny, "--epochs", "2"]) == 0
    return run


def test_a_checkpoint_missing_entries_is_one_line(finished_run: Path, data_dir: Path, capsys):
    resume = ["--data-dir", str(data_dir), "--out", str(finished_run), "--resume"]
    capsys.readouterr()
    blob = torch.load(finished_run / "checkpoint.pt", weights_only=True)
    for key in ("config", "rng"):
        damaged = {k: v for k, v in blob.items() if k not in (key, "sha256")}
        torch.save(damaged, finished_run / "checkpoint.pt")  # as another program would
        assert main(resume) == 1
        assert "checkpoint.pt: has no checksum" in one_line_error(capsys)
        write_sealed(damaged, finished_run / "checkpoint.pt")  # sealed, yet incomplete
        assert main(resume) == 1
        assert f"checkpoint.pt: lacks {key!r}" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("epochs", "8", "'epochs' must be an integer, got '8'"),
        ("hidden_sizes", 5, "'hidden_sizes' must be a non-empty list of integers"),
        ("dropout", None, "'dropout' must be a number"),
        ("flip", "yes", "'flip' must be true or false"),
    ],
)
def test_config_json_of_the_wrong_types_is_one_line(finished_run, key, value, complaint, capsys):
    config = json.loads((finished_run / "config.json").read_text())
    (finished_run / "config.json").write_text(json.dumps({**config, key: value}))
    capsys.readouterr()
    assert main(["--out", str(finished_run), "--resume"]) == 2
    line = one_line_error(capsys)
    assert f"{finished_run / 'config.json'}: {complaint}" in line


def test_debug_shows_the_traceback(finished_run: Path, capsys):
    (finished_run / "config.json").write_text('{"epochs": "8"}')
    capsys.readouterr()
    assert main(["--out", str(finished_run), "--resume", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("mnist-train: error:")


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A 2 MiB file system that fills up for real; skipped where mounting is not allowed."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = os.system(f"mount -t tmpfs -o size=2m tmpfs {mount_point} 2>/dev/null")
    if result != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the full-disk case is not run")
    yield mount_point
    os.system(f"umount {mount_point}")


def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(
    tmpfs: Path, data_dir: Path, capsys, tiny
):
    """D8: the second checkpoint does not fit beside the first (~1.2 MB each)."""
    run = tmpfs / "run"
    argv = ["--data-dir", str(data_dir), "--out", str(run), *tiny, "--hidden", "96",
            "--epochs", "3"]  # fmt: skip
    assert main(argv) == 1
    line = one_line(capsys.readouterr().err)
    assert f"cannot write {run / 'checkpoint.pt'}: No space left on device" in line
    from mnist_trainer.checkpoint import load_checkpoint

    assert load_checkpoint(run / "checkpoint.pt")["epoch"] == 1  # nothing earlier lost
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert json.loads((run / "config.json").read_text())["hidden_sizes"] == [96]
    assert not list(run.glob(".*.tmp"))


def _without_root_powers() -> list[str]:
    """A command prefix that makes file permissions bind the child, even when we are root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to bind")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def test_a_run_folder_without_permission_is_one_line(tmp_path: Path, cli_env, tiny):
    """D8: an unreadable config.json on --resume, and a folder the trainer may not write."""
    import subprocess

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [*_without_root_powers(), sys.executable, "-m", "mnist_trainer", *args]
        return subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=120)

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"epochs": 3}))
    (run_dir / "config.json").chmod(0o000)
    not_mine = tmp_path / "not-mine"
    not_mine.mkdir(mode=0o555)
    try:
        result = run("--out", str(run_dir), "--resume")
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert f"cannot read {run_dir / 'config.json'}: Permission denied" in line

        result = run("--out", str(not_mine / "run"), *tiny)
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert f"cannot create the run folder {not_mine / 'run'}: Permission denied" in line
    finally:
        (run_dir / "config.json").chmod(0o644)
        not_mine.chmod(0o755)


# --- issue 21: the run folder owns only its files; sizes checked before anything is built --


def test_sizes_from_config_json_or_a_sealed_model_are_checked_before_building(
    finished_run: Path, capsys
):
    config = json.loads((finished_run / "config.json").read_text())
    (finished_run / "config.json").write_text(
        json.dumps({**config, "hidden_sizes": [1000000, 1000000]})
    )
    capsys.readouterr()
    assert main(["--out", str(finished_run), "--resume"]) == 2
    line = one_line_error(capsys)
    assert "--hidden 1000000,1000000 would need about" in line and "this machine has" in line

    record = torch.load(finished_run / "model.pt", weights_only=True)
    del record["sha256"]
    record["arch"]["hidden_sizes"] = [1000000, 1000000]
    write_sealed(record, finished_run / "model.pt")  # its checksum is right: only the size lies
    for command in (["evaluate", str(finished_run)], ["predict", str(finished_run), "x.png"]):
        assert main(command) == 1
        line = one_line_error(capsys)
        assert "model.pt (hidden layers [1000000, 1000000]) would need about" in line


def test_a_finished_run_without_its_checkpoints_is_not_overwritten(
    finished_run: Path, data_dir: Path, capsys, tiny
):
    """People prune checkpoints; a new run on the same --out used to truncate the rest."""
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (finished_run / name).unlink()
    before = {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "--out", str(finished_run), *tiny]) == 2
    line = one_line_error(capsys)
    assert f"{finished_run} already holds a run's files (config.json, metrics.jsonl" in line
    assert "pick a new --out (it has no checkpoint.pt to --resume from)" in line
    assert {p.name: p.read_bytes() for p in finished_run.iterdir() if p.is_file()} == before


def test_only_our_own_temp_files_are_cleaned_up(data_dir: Path, tmp_path: Path, capsys, tiny):
    run = tmp_path / "run"
    run.mkdir()
    theirs = [run / ".notes.tmp", run / ".config.json.tmp", run / ".model.pt.x.tmp"]
    for path in theirs:
        path.write_text("someone else's")
    ours = run / ".checkpoint.pt.k3j9x.mnist-train.tmp"  # a killed run of ours left it
    ours.write_bytes(b"half")
    assert main(["--data-dir", str(data_dir), "--out", str(run), *tiny]) == 0
    assert all(path.read_text() == "someone else's" for path in theirs)
    assert not ours.exists()


def test_a_symlink_loop_as_out_is_one_clear_line(tmp_path: Path, capsys):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert main(["--out", str(tmp_path / "a"), "--epochs", "1"]) == 1
    line = one_line_error(capsys)
    assert f"--out {tmp_path / 'a'} is a symbolic link that loops or leads nowhere" in line
