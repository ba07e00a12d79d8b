"""The examples' command lines: bad numbers and a missing matplotlib give one readable line."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["claims.py", "--seeds", "0"], "argument --seeds: must be at least 1, got 0"),
        (["capacity.py", "--steps", "x"], "argument --steps: expected a whole number, got 'x'"),
        (["two_moons.py", "--n", "1"], "argument --n: two moons need at least 2 points, got 1"),
        (["two_moons.py", "--noise", "-1"], "argument --noise: must be a number >= 0, got -1"),
    ],
)
def test_bad_numbers_are_refused_with_one_line(args, message):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith(message)
    assert "Traceback" not in proc.stderr


def test_missing_matplotlib_stops_with_the_command_to_get_it(example, monkeypatch):
    capacity = example("capacity")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    with pytest.raises(SystemExit, match=r"uv run --package nn --extra plot python") as stop:
        capacity.pyplot()
    assert "\n" not in str(stop.value.code)
