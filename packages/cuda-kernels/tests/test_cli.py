"""The `cuda-kernels` command line as a whole: its subcommands, their --help, their flags
made from the settings dataclasses, and what each says when the optional extra it needs is
not installed."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from cuda_kernels.bench.kernels import BenchSettings
from cuda_kernels.bench.service import ServiceBenchSettings
from cuda_kernels.cli import build_parser, main
from cuda_kernels.extras import EXTRAS
from cuda_kernels.rpc.server import ServerConfig
from cuda_kernels.settings import from_flags

SUBCOMMANDS = ("bench", "serve", "bench-service")


def test_the_parser_has_every_subcommand_and_requires_one():
    parser = build_parser()
    for command in SUBCOMMANDS:
        args = parser.parse_args([command, "--out", "x"] if command == "bench" else [command])
        assert callable(args.func) and args.command == command
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([])
    assert exc.value.code == 2


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_speaks_to_users_and_shows_defaults(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    description = text.split("\n\n")[1]  # after the usage block
    assert description[0].isupper() and "->" not in description  # not a module docstring
    assert text.count("(default: ") >= 4
    assert "(default: None)" not in text


@pytest.mark.parametrize(
    ("argv", "settings"),
    [(["serve"], ServerConfig), (["bench", "--out", "x"], BenchSettings),
     (["bench-service"], ServiceBenchSettings)],
)  # fmt: skip
def test_each_command_has_a_flag_per_setting_with_its_default(argv, settings):
    args = build_parser().parse_args(argv)
    assert from_flags(settings, args) == settings()
    assert {f.name for f in dataclasses.fields(settings)} <= set(vars(args))


def test_flags_parse_to_the_settings_types():
    argv = ["serve", "--max-calls", "7", "--metrics-port", "0", "--idle-seconds", "0.5",
            "--auth-token-file", "token.txt"]  # fmt: skip
    args = build_parser().parse_args(argv)
    assert (args.max_calls, args.metrics_port, args.idle_seconds) == (7, 0, 0.5)
    assert str(args.auth_token) == "token.txt"  # read when the command runs
    argv = ["bench-service", "--sizes-mib", "2", "3", "--calls", "9", "--no-blas-comparison"]
    settings = from_flags(ServiceBenchSettings, build_parser().parse_args(argv))
    assert (settings.sizes_mib, settings.calls_per_client) == ((2, 3), 9)
    assert settings.compare_blas is False


@pytest.mark.parametrize(
    ("extra", "argv"),
    [
        ("serve", ["serve", "--port", "0", "--backend", "numpy"]),
        ("serve", ["bench-service", "--sizes-mib", "1"]),  # its local server
        ("serve", ["bench-service", "--target", "127.0.0.1:1"]),  # its stalls' health client
        ("bench", ["bench", "--out", "somewhere", "--sizes", "32"]),
    ],
)
def test_a_missing_extra_names_the_workspace_command(extra, argv, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    for module in EXTRAS[extra][0]:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import fails
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"cuda-kernels {argv[0]}: error: ")
    assert f"uv run --package cuda-kernels --extra {extra} cuda-kernels {' '.join(argv)}" in line
    assert f"'cuda-kernels[{extra}]'" in line and "--index-url" in line
    assert not (tmp_path / "somewhere").exists() and not (tmp_path / "runs").exists()
