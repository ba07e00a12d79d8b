"""`mnist-train tune`: real Optuna studies on a few hundred real images, validation only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="the tune extra is not installed")

from mnist_trainer import preset  # noqa: E402
from mnist_trainer.cli import main  # noqa: E402
from mnist_trainer.data import FILES, load  # noqa: E402
from mnist_trainer.tune import FINISHED, baseline, best_config, open_study, show  # noqa: E402


@pytest.fixture
def train_only(data_dir: Path, tmp_path: Path) -> Path:
    """A data folder holding the two training files and no test file at all: whatever
    runs on it cannot have read the test split."""
    folder = tmp_path / "train-only"
    folder.mkdir()
    for source in data_dir.iterdir():
        if source.name.startswith("train-"):
            (folder / source.name).symlink_to(source.resolve())
    assert not any(f.stem in p.name for f in FILES.values() if "t10k" in f.stem for p in
                   folder.iterdir())  # fmt: skip
    return folder


def study_args(out: Path, data: Path, trials: int = 3) -> list[str]:
    return ["tune", "--out", str(out), "--trials", str(trials), "--max-epochs", "2",
            "--train-subset", "600", "--val-size", "300", "--threads", "1",
            "--data-dir", str(data), "--no-download"]  # fmt: skip


def test_training_data_alone_loads_without_the_test_files(train_only: Path):
    dataset = load(train_only, allow_download=False, splits=("train",))
    assert dataset.train_images.shape == (60000, 28, 28)
    assert len(dataset.test_images) == len(dataset.test_labels) == 0


def test_workers_share_a_study_and_a_killed_one_loses_only_its_trial(
    train_only: Path, tmp_path: Path, start_gated_cli, wait_for_line, run_cli
):
    out = tmp_path / "tune"
    args = study_args(out, train_only)
    first = start_gated_cli(*args)
    wait_for_line(first.stdout, "gate: after epoch")  # its trial has trained an epoch
    second = start_gated_cli(*args)
    wait_for_line(second.stdout, "gate: after epoch")  # both run trials of the one study
    first.kill()
    first.wait()
    stdout, stderr = second.communicate(input="", timeout=300)  # closed stdin: gates stay open
    assert second.returncode == 0, stderr
    assert "died; marked failed" in stdout

    study = open_study(out).study
    trials = study.get_trials()
    killed = [t for t in trials if t.user_attrs["pid"] == first.pid]
    assert [t.state for t in killed] == [optuna.trial.TrialState.FAIL]
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) >= 3 and len(finished) + 1 == len(trials)  # every trial recorded
    for trial in finished:
        metrics = json.loads((out / "trials" / f"{trial.number:04d}" / "metrics.json").read_text())
        assert metrics["test_accuracy"] is None  # the trial had no test split to score
        assert 0 < trial.value <= 1 and trial.user_attrs["config"]["val_size"] == 300

    again = run_cli(*args)  # re-running continues the study: here, nothing is left to do
    assert again.returncode == 0, again.stderr
    assert "already has" in again.stdout and len(open_study(out).study.get_trials()) == len(trials)


def test_workers_flag_show_and_from_study(train_only: Path, data_dir: Path, tmp_path: Path,
                                          run_cli):  # fmt: skip
    out = tmp_path / "tune"
    done = run_cli(*study_args(out, train_only), "--workers", "2", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "trial  val acc  epochs  recipe" in done.stdout
    study = open_study(out).study
    assert len(study.get_trials(states=FINISHED)) >= 3
    assert study.trials[0].params == baseline(2)  # the defaults, measured first

    shown = run_cli("tune", "--show", str(out))
    assert shown.returncode == 0, shown.stderr
    best = study.best_trial
    assert shown.stdout.splitlines()[2].split()[1] == f"{best.value:.4f}"  # the top row
    for name in ("history", "importances", "intermediate"):
        assert (out / f"study-{name}.png").read_bytes().startswith(b"\x89PNG")

    run = tmp_path / "retrained"
    retrained = run_cli("--from-study", str(out), "--out", str(run), "--data-dir", str(data_dir),
                        "--no-progress", "--train-subset", "600", "--val-size", "300")  # fmt: skip
    assert retrained.returncode == 0, retrained.stderr
    config = json.loads((run / "config.json").read_text())
    drop = ("threads", "preset")  # how it ran, not what
    assert {k: v for k, v in config.items() if k not in drop} == {
        k: v for k, v in best.user_attrs["config"].items() if k not in drop
    }
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.1


def test_from_study_trains_on_all_training_images_by_default(tmp_path: Path, train_only: Path):
    out = tmp_path / "tune"
    assert main([*study_args(out, train_only, trials=1)]) == 0
    config = best_config(out)
    assert config.val_size == 0 and config.train_subset == 0
    assert best_config(out, epochs=3).epochs == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tune"], "give --out DIR to run a study, or --show DIR"),
        (["tune", "--out", "x", "--trials", "0"], "--trials must be between 1 and 100000"),
        (["tune", "--out", "x", "--val-size", "0"], "--val-size must be at least 1"),
        (["tune", "--out", "x", "--workers", "0"], "--workers must be 1 to"),
        (["tune", "--show", "not-a-study"], "not-a-study is not a tune folder"),
        (["--from-study", "not-a-study"], "not-a-study is not a tune folder"),
        (["--from-study", "x", "--preset", "best"], "drop --resume/--preset"),
        (["tune", "--out", "t", "--storage", "foo://x"], "storage foo://x: Can't load plugin"),
        (["tune", "--out", "t", "--storage", "sqlite:///no/such/dir/s.db"], "unable to open"),
        (["tune", "--show", "bad-json"], "bad-json/tune.json: not valid JSON"),
    ],
)
def test_bad_tune_input_is_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad-json").mkdir()
    (tmp_path / "bad-json" / "tune.json").write_text("{")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "t" / "tune.json").exists()  # nothing a corrected command trips on


def test_a_study_continues_only_with_the_same_shape(tmp_path: Path, train_only: Path, capsys):
    out = tmp_path / "tune"
    assert main(study_args(out, train_only, trials=1)) == 0
    capsys.readouterr()
    assert main([*study_args(out, train_only, trials=1), "--max-epochs", "3"]) == 2
    assert "other max_epochs" in capsys.readouterr().err


def test_missing_extra_is_one_line_with_the_command(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as where the extra is absent
    assert main(["tune", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mnist-train: error: mnist-train tune needs Optuna")
    assert "--extra tune" in err and "\n" not in err


# `mnist-train tune` whose trial 1 diverges: a real process, so that everything it writes
# to stderr (Optuna's own log included) is seen.
DIVERGING_TRIAL = """
import sys
from pathlib import Path

import mnist_trainer.train as train
from mnist_trainer.errors import ConfigError

real_fit = train.fit

def fit(config, out, **kwargs):
    if Path(out).name == "0001":
        raise ConfigError("training diverged (loss is not finite): lower --lr")
    return real_fit(config, out, **kwargs)

train.fit = fit
from mnist_trainer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failing_trial_is_one_line_and_the_study_goes_on(
    train_only: Path, tmp_path: Path, cli_env: dict[str, str]
):
    args = study_args(tmp_path / "tune", train_only, trials=2)
    done = subprocess.run([sys.executable, "-c", DIVERGING_TRIAL, *args], env=cli_env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "trial 1 failed: training diverged" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    trials = open_study(tmp_path / "tune").study.trials
    assert trials[1].state == optuna.trial.TrialState.FAIL
    assert sum(t.state in FINISHED for t in trials) >= 2


def test_the_best_preset_is_the_best_trial_of_the_committed_study():
    study = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "study-cpu-2core"
    journal = (study / "study.journal").read_bytes()
    from_study = best_config(study).to_dict()
    assert from_study == {**preset("best").to_dict(), "preset": "fast"}
    assert "\n   18  0.9156  " in show(study, plots=False)
    assert (study / "study.journal").read_bytes() == journal  # reading it wrote nothing
